"""Bad input is refused with a `ValidationError` naming the field, before any byte is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest

from d360_calling import (
    CallHours,
    CallingSettings,
    Client,
    FeatureStatus,
    HolidaySchedule,
    OperatingHours,
    Restriction,
    Restrictions,
    RestrictionType,
    SessionDescription,
    ValidationError,
    VoicemailAnnouncement,
    VoicemailAudio,
    VoicemailSettings,
    Weekday,
)
from d360_calling.client import API_KEY_ENV

from ..support.backends import Backend
from ..support.clients import make_client
from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, OFFER_SDP, WA_ID
from ..support.server import ScriptedServer

Call = Callable[[Client], Awaitable[Any]]


async def assert_refused(backend: Backend, call: Call, field: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        await call(backend.client)
    assert info.value.field == field
    assert backend.seen() == []
    return info.value


BAD_WA_IDS = ["../settings", "١٢٣", "123\n", "", "1" * 21, 14155550123, None, "1+4155550123"]


@pytest.mark.parametrize("bad", BAD_WA_IDS)
async def test_bad_wa_id_for_permissions(backend: Backend, bad: Any) -> None:
    await assert_refused(backend, lambda c: c.permissions.get(bad), "wa_id")


@pytest.mark.parametrize("bad", BAD_WA_IDS)
async def test_bad_wa_id_for_connect(backend: Backend, bad: Any) -> None:
    await assert_refused(
        backend, lambda c: c.calls.connect(bad, SessionDescription.offer(OFFER_SDP)), "to"
    )


async def test_twenty_digits_are_accepted(backend: Backend) -> None:
    wa_id = "1" * 20
    backend.respond("GET", f"/calling/permissions/{wa_id}", json={"permission": {"status": "x"}})
    await backend.client.permissions.get(wa_id)
    assert [s.path for s in backend.seen()] == [f"/calling/permissions/{wa_id}"]


BAD_CALL_IDS = [
    "",
    "   ",
    "wacid.a\r\nX-Evil: 1",
    "wacid.a\x00b",
    "wacid/../x",
    123,
    None,
    " wacid",
]


@pytest.mark.parametrize("bad", BAD_CALL_IDS)
@pytest.mark.parametrize("action", ["pre_accept", "accept", "reject", "terminate"])
async def test_bad_call_id(backend: Backend, bad: Any, action: str) -> None:
    def call(client: Client) -> Awaitable[Any]:
        method = getattr(client.calls, action)
        if action in ("pre_accept", "accept"):
            return method(bad, SessionDescription.answer(ANSWER_SDP))  # type: ignore[no-any-return]
        return method(bad)  # type: ignore[no-any-return]

    await assert_refused(backend, call, "call_id")


@pytest.mark.parametrize("action", ["pre_accept", "accept"])
async def test_offer_refused_where_answer_needed(backend: Backend, action: str) -> None:
    error = await assert_refused(
        backend,
        lambda c: getattr(c.calls, action)(CALL_ID, SessionDescription.offer(OFFER_SDP)),
        "session",
    )
    assert "SessionDescription.answer(sdp)" in str(error)


async def test_answer_refused_for_connect(backend: Backend) -> None:
    error = await assert_refused(
        backend, lambda c: c.calls.connect(WA_ID, SessionDescription.answer(ANSWER_SDP)), "session"
    )
    assert "SessionDescription.offer(sdp)" in str(error)


@pytest.mark.parametrize("sdp", ["", "  \r\n", "v=0\x00"])
async def test_empty_or_nul_sdp(backend: Backend, sdp: str) -> None:
    await assert_refused(
        backend, lambda c: c.calls.accept(CALL_ID, SessionDescription.answer(sdp)), "session.sdp"
    )


@pytest.mark.parametrize("bad", [ANSWER_SDP, {"sdp_type": "answer", "sdp": ANSWER_SDP}, None])
async def test_session_must_be_a_session_description(backend: Backend, bad: Any) -> None:
    await assert_refused(backend, lambda c: c.calls.pre_accept(CALL_ID, bad), "session")


async def test_callback_data_length(backend: Backend) -> None:
    backend.respond("POST", "/calling/calls", json={"success": True})
    await assert_refused(
        backend,
        lambda c: c.calls.accept(
            CALL_ID, SessionDescription.answer(ANSWER_SDP), biz_opaque_callback_data="x" * 513
        ),
        "biz_opaque_callback_data",
    )
    await assert_refused(
        backend,
        lambda c: c.calls.connect(
            WA_ID, SessionDescription.offer(OFFER_SDP), biz_opaque_callback_data="x" * 513
        ),
        "biz_opaque_callback_data",
    )
    await backend.client.calls.accept(
        CALL_ID, SessionDescription.answer(ANSWER_SDP), biz_opaque_callback_data="x" * 512
    )
    (seen,) = backend.seen()
    assert seen.json["biz_opaque_callback_data"] == "x" * 512


# --- settings ------------------------------------------------------------------------------

HOURS = "calling.call_hours.weekly_operating_hours"


def hours(*entries: OperatingHours, holidays: tuple[HolidaySchedule, ...] | None = None) -> Any:
    return CallingSettings(
        call_hours=CallHours(
            status=FeatureStatus.ENABLED,
            timezone_id="Europe/Berlin",
            weekly_operating_hours=entries,
            holiday_schedule=holidays,
        )
    )


MONDAY = Weekday.MONDAY
HOLIDAY = HolidaySchedule(date(2030, 1, 1), "0000", "2359")

BAD_SETTINGS: list[tuple[str, Any, str]] = [
    ("open 2400", hours(OperatingHours(MONDAY, "2400", "2359")), f"{HOURS}[0].open_time"),
    ("close 04:00", hours(OperatingHours(MONDAY, "0300", "04:00")), f"{HOURS}[0].close_time"),
    ("open==close", hours(OperatingHours(MONDAY, "0900", "0900")), f"{HOURS}[0]"),
    ("open>close", hours(OperatingHours(MONDAY, "1000", "0900")), f"{HOURS}[0]"),
    (
        "3 per day",
        hours(
            OperatingHours(MONDAY, "0100", "0200"),
            OperatingHours(MONDAY, "0300", "0400"),
            OperatingHours(MONDAY, "0500", "0600"),
        ),
        HOURS,
    ),
    (
        "overlap",
        hours(OperatingHours(MONDAY, "0900", "1200"), OperatingHours(MONDAY, "1130", "1400")),
        HOURS,
    ),
    ("funday", hours(OperatingHours(Weekday("FUNDAY"), "0900", "1000")), f"{HOURS}[0].day_of_week"),
    ("no hours", hours(), HOURS),
    (
        "21 holidays",
        hours(
            OperatingHours(MONDAY, "0900", "1000"),
            holidays=tuple(
                HolidaySchedule(date(2030, 1, 1) + timedelta(days=i), "0000", "2359")
                for i in range(21)
            ),
        ),
        "calling.call_hours.holiday_schedule",
    ),
    (
        "holiday 2400",
        hours(
            OperatingHours(MONDAY, "0900", "1000"),
            holidays=(HolidaySchedule(date(2030, 1, 1), "0000", "2400"),),
        ),
        "calling.call_hours.holiday_schedule[0].end_time",
    ),
    ("unknown status", CallingSettings(status=FeatureStatus("MAYBE")), "calling.status"),
    (
        "restrictions",
        CallingSettings(
            restrictions=Restrictions(
                (Restriction(RestrictionType.RESTRICTED_USER_INITIATED_CALLING),)
            )
        ),
        "calling.restrictions",
    ),
    (
        "voicemail 31",
        CallingSettings(
            voicemail=VoicemailSettings(
                status=FeatureStatus.ENABLED,
                audio=VoicemailAudio(VoicemailAnnouncement(timeout_seconds=31)),
            )
        ),
        "calling.voicemail.audio.default.timeout_seconds",
    ),
    ("not settings", {"calling": {"status": "ENABLED"}}, "settings"),
]


@pytest.mark.parametrize(
    ("settings", "field"), [(s, f) for _, s, f in BAD_SETTINGS], ids=[i for i, _, _ in BAD_SETTINGS]
)
async def test_bad_settings(backend: Backend, settings: Any, field: str) -> None:
    await assert_refused(backend, lambda c: c.settings.update(settings), field)


async def test_good_edge_settings_are_sent(backend: Backend) -> None:
    backend.respond("POST", "/calling/settings", json={"success": True})
    settings = hours(
        OperatingHours(MONDAY, "0000", "1200"),
        OperatingHours(MONDAY, "1200", "2359"),
        holidays=tuple(
            HolidaySchedule(date(2030, 1, 1) + timedelta(days=i), "0000", "2359") for i in range(20)
        ),
    )
    await backend.client.settings.update(settings)
    (seen,) = backend.seen()
    assert len(seen.json["calling"]["call_hours"]["holiday_schedule"]) == 20


# --- API key -------------------------------------------------------------------------------


def test_missing_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(ValidationError) as info:
        Client(base_url="http://127.0.0.1:1")
    assert info.value.field == "api_key"


def test_empty_api_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "")
    with pytest.raises(ValidationError) as info:
        Client()
    assert info.value.field == "api_key"


@pytest.mark.parametrize("key", ["abc\r\nX-Injected: 1", "abc\n", "abc\x00"])
def test_api_key_with_control_characters(key: str) -> None:
    with pytest.raises(ValidationError) as info:
        Client(key, base_url="http://127.0.0.1:1")
    assert info.value.field == "api_key"
    assert key not in str(info.value)


async def test_api_key_from_environment(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "env-key-123")
    client = make_client(server.base_url, api_key=None)
    try:
        await client.permissions.get(WA_ID)
    finally:
        await client.aclose()
    (seen,) = server.requests
    assert seen.headers.getall("D360-API-KEY") == ["env-key-123"]


async def test_explicit_api_key_wins_over_environment(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "env-key-123")
    client = make_client(server.base_url, api_key=API_KEY)
    try:
        await client.permissions.get(WA_ID)
    finally:
        await client.aclose()
    assert server.requests[0].headers.getall("D360-API-KEY") == [API_KEY]


def test_bad_base_url() -> None:
    with pytest.raises(ValidationError) as info:
        Client(API_KEY, base_url="ftp://example.com")
    assert info.value.field == "base_url"


@pytest.mark.parametrize("timeout", [0, -1.0])
async def test_bad_per_call_timeout(backend: Backend, timeout: float) -> None:
    await assert_refused(backend, lambda c: c.permissions.get(WA_ID, timeout=timeout), "timeout")


def test_bad_client_timeout() -> None:
    with pytest.raises(ValidationError) as info:
        Client(API_KEY, base_url="http://127.0.0.1:1", timeout=0)
    assert info.value.field == "timeout"
