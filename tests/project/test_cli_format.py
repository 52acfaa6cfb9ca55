"""The CLI's human output, function by function: dates, spans, permissions, settings, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from d360_calling.cli import CliFailure
from d360_calling.cli_format import (
    call_lines,
    error_object,
    message_lines,
    period,
    permissions_lines,
    relative,
    table,
    when,
)
from d360_calling.cli_settings import settings_lines
from d360_calling.errors import APIError, ValidationError
from d360_calling.models.calls import CallActionResult, ConnectResult
from d360_calling.models.converter import converter
from d360_calling.models.messages import MessageResult
from d360_calling.models.permissions import CallPermissions
from d360_calling.models.settings import PhoneNumberSettings

CET = timezone(timedelta(hours=1), "CET")
NOW = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def permissions(raw: dict[str, Any]) -> CallPermissions:
    return converter.structure(raw, CallPermissions)


@pytest.mark.parametrize(
    ("moment", "tz", "expected"),
    [
        (datetime(2026, 12, 8, 13, 0, tzinfo=UTC), UTC, "2026-12-08 13:00 UTC"),
        (datetime(2026, 12, 8, 13, 0, tzinfo=UTC), CET, "2026-12-08 14:00 CET / 13:00 UTC"),
        (
            datetime(2026, 12, 8, 23, 30, tzinfo=UTC),
            CET,
            "2026-12-09 00:30 CET / 2026-12-08 23:30 UTC",
        ),
    ],
)
def test_when_shows_local_time_and_utc(moment: datetime, tz: Any, expected: str) -> None:
    assert when(moment, tz) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=7, seconds=-5), "in 7 days"),
        (timedelta(days=6), "in 6 days"),
        (timedelta(hours=30), "in 30 hours"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(seconds=20), "in less than a minute"),
        (-timedelta(hours=3), "3 hours ago"),
    ],
)
def test_relative_rounds_as_people_say_it(delta: timedelta, expected: str) -> None:
    assert relative(NOW + delta, NOW) == expected


@pytest.mark.parametrize(
    ("iso", "expected"),
    [("PT24H", "24 hours"), ("P7D", "7 days"), ("P1DT2H", "1 day 2 hours"), ("P", "P"), ("x", "x")],
)
def test_period_in_words(iso: str, expected: str) -> None:
    assert period(iso) == expected


def test_table_aligns_columns_without_trailing_spaces() -> None:
    assert table(("day", "open"), [("Monday", "09:00"), ("Fri", "")]) == [
        "  day     open",
        "  Monday  09:00",
        "  Fri",
    ]


def test_temporary_permission_with_the_call_limit_used_up() -> None:
    expires = datetime(2026, 12, 13, 13, 0, tzinfo=UTC)
    frees = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)
    perms = permissions(
        {
            "permission": {"status": "temporary", "expiration_time": stamp(expires)},
            "actions": [
                {
                    "action_name": "start_call",
                    "can_perform_action": False,
                    "limits": [
                        {
                            "time_period": "PT24H",
                            "max_allowed": 5,
                            "current_usage": 5,
                            "limit_expiration_time": stamp(frees),
                        }
                    ],
                },
                {"action_name": "send_call_permission_request", "can_perform_action": True},
            ],
        }
    )
    assert permissions_lines(perms, "14155550123", now=NOW, tz=CET) == [
        "User:                   14155550123",
        "Permission:             temporary, expires in 6 days (2026-12-13 14:00 CET / 13:00 UTC)",
        "Can call now:           no (next allowed 2026-12-08 14:00 CET / 13:00 UTC)",
        "Can ask for permission: yes",
        "",
        "Actions:",
        "  action                        now          limits",
        "  start call                    not allowed  5 of 5 used per 24 hours, resets"
        " 2026-12-08 14:00 CET / 13:00 UTC",
        "  send call permission request  allowed      none reported",
    ]


def test_no_permission_says_how_to_ask() -> None:
    perms = permissions(
        {
            "permission": {"status": "no_permission"},
            "actions": [
                {"action_name": "send_call_permission_request", "can_perform_action": True},
                {"action_name": "start_call", "can_perform_action": False},
            ],
        }
    )
    lines = permissions_lines(perms, "14155550123", now=NOW, tz=UTC)
    assert "Permission:             none" in lines
    assert (
        "Can call now:           no (no permission; ask with: permissions request 14155550123)"
        in lines
    )


def test_expired_permanent_and_unknown_values_read_plainly() -> None:
    expired = permissions(
        {"permission": {"status": "temporary", "expiration_time": stamp(NOW) - 7200}}
    )
    lines = permissions_lines(expired, now=NOW, tz=UTC)
    assert (
        lines[0] == "Permission:             temporary, expired 2 hours ago (2026-12-07 11:00 UTC)"
    )
    assert "Can call now:           no" in lines  # no actions reported: no claim either way
    future = permissions(
        {
            "permission": {"status": "pending_review"},
            "actions": [{"action_name": "send_voice_note", "can_perform_action": True}],
        }
    )
    lines = permissions_lines(future, now=NOW, tz=UTC)
    assert lines[0] == "Permission:             pending review"
    assert "  send voice note  allowed  none reported" in lines


FULL_SETTINGS = {
    "calling": {
        "status": "ENABLED",
        "call_icon_visibility": "DISABLE_ALL",
        "callback_permission_status": "DISABLED",
        "call_hours": {
            "status": "ENABLED",
            "timezone_id": "Europe/Berlin",
            "weekly_operating_hours": [
                {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1700"},
                {"day_of_week": "TUESDAY", "open_time": "0900", "close_time": "1230"},
                {"day_of_week": "TUESDAY", "open_time": "1330", "close_time": "1700"},
            ],
            "holiday_schedule": [{"date": "2026-12-24", "start_time": "1200", "end_time": "2359"}],
        },
        "sip": {
            "status": "ENABLED",
            "servers": [
                {
                    "hostname": "sip.example.com",
                    "port": 5061,
                    "sip_user_password": "hunter2-SECRET",
                    "request_uri_user_params": {"tgrp": "wa"},
                }
            ],
        },
        "srtp_key_exchange_protocol": "SDES",
        "audio": {"additional_codecs": ["PCMA", "PCMU"]},
        "voicemail": {
            "status": "ENABLED",
            "triggers": ["TIMEOUT"],
            "audio": {"default": {"announcement_media_id": 42, "timeout_seconds": 20}},
        },
        "restrictions": {
            "restrictions_list": [
                {
                    "type": "RESTRICTED_USER_INITIATED_CALLING",
                    "reason": "low quality",
                    "expiration": stamp(datetime(2026, 12, 9, 8, 0, tzinfo=UTC)),
                }
            ]
        },
    },
    "payload_encryption": {"status": "DISABLED"},
}


def test_settings_grouped_with_call_hours_as_a_table() -> None:
    settings = converter.structure(FULL_SETTINGS, PhoneNumberSettings)
    lines = settings_lines(settings, tz=CET)
    assert lines == [
        "Calling:             enabled",
        "Call icon:           hidden (DISABLE_ALL)",
        "Callback permission: disabled",
        "Call hours:          enabled, time zone Europe/Berlin",
        "SIP:                 enabled, 1 server",
        "Voicemail:           enabled, on timeout, greeting media 42, after 20 s of ringing",
        "SRTP key exchange:   SDES",
        "Audio codecs:        Opus, PCMA, PCMU",
        "Restrictions:        user initiated calling restricted until"
        " 2026-12-09 09:00 CET / 08:00 UTC (low quality)",
        "",
        "Call hours (Europe/Berlin):",
        "  day      open   close",
        "  Monday   09:00  17:00",
        "  Tuesday  09:00  12:30",
        "           13:30  17:00",
        "",
        "Holidays:",
        "  date        closed from  until",
        "  2026-12-24  12:00        23:59",
        "",
        "SIP servers:",
        "  host             port  password                    URI params",
        "  sip.example.com  5061  ******** (--json shows it)  tgrp=wa",
        "",
        "Payload encryption:",
        "  status: DISABLED",
    ]
    assert "hunter2" not in "\n".join(lines)


def test_sparse_settings_say_not_set() -> None:
    settings = converter.structure(
        {"calling": {"call_icon_visibility": "SOMETHING_NEW"}}, PhoneNumberSettings
    )
    lines = settings_lines(settings, tz=UTC)
    assert lines[:4] == [
        "Calling:             not set",
        "Call icon:           SOMETHING_NEW",
        "Callback permission: not set",
        "Call hours:          not set",
    ]
    assert "Restrictions:        none" in lines


def test_call_and_message_lines() -> None:
    assert call_lines("accept", CallActionResult(success=True), "wacid.1") == [
        "Call accepted: wacid.1"
    ]
    assert call_lines("terminate", CallActionResult(success=False), "wacid.1") == [
        "Call not terminated: wacid.1 (the API answered success: false)"
    ]
    assert call_lines("connect", ConnectResult(call_id="wacid.2"), "14155550123") == [
        "Call placed: id wacid.2 (to 14155550123)"
    ]
    sent = converter.structure(
        {"messages": [{"id": "wamid.X"}], "contacts": [{"input": "+1 415", "wa_id": "1415"}]},
        MessageResult,
    )
    assert message_lines(sent, "Message sent") == ["Message sent: id wamid.X (to 1415)"]


def test_error_objects_carry_what_scripts_branch_on() -> None:
    invalid = ValidationError("wa_id", "digits only", operation="permissions.get")
    assert error_object(invalid) == {
        "error": {
            "type": "ValidationError",
            "message": "permissions.get: invalid wa_id: digits only",
            "operation": "permissions.get",
            "field": "wa_id",
        }
    }
    refused = APIError("limit hit", operation="permissions.request", status=400, code=138009)
    body = error_object(refused)["error"]
    assert (body["type"], body["status"], body["code"]) == ("APIError", 400, 138009)
    assert "subcode" not in body
    failure = CliFailure("MissingAPIKey", "no API key")
    assert error_object(failure, failure.kind) == {
        "error": {"type": "MissingAPIKey", "message": "no API key"}
    }
