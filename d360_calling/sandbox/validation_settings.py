"""Settings-update checks written from the API reference (§1.4), independent of the SDK.

`parse_settings` takes the decoded JSON body and returns its `calling` object, or raises the
HTTP 400 code 100 error whose `details` name the field and what is wrong with it.
"""

from __future__ import annotations

import re
from datetime import date

from d360_calling.sandbox import fields
from d360_calling.sandbox.errors import JsonObject, invalid_parameter

_HHMM = re.compile(r"(?:[01][0-9]|2[0-3])[0-5][0-9]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")

MAX_HOLIDAYS = 20
"""Longest `holiday_schedule` (§1.4)."""

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")

_SETTINGS_FIELDS = frozenset(
    {
        "status",
        "call_icon_visibility",
        "call_icons",
        "call_hours",
        "callback_permission_status",
        "sip",
        "srtp_key_exchange_protocol",
        "audio",
        "voicemail",
    }
)


def parse_settings(raw: object, today: date) -> JsonObject:
    """Check a settings update and return its `calling` object (dates checked against today)."""
    body = fields.require_object(raw, "body")
    if set(body) != {"calling"}:
        raise invalid_parameter("body: send exactly one feature setting, the calling key")
    calling = fields.require_object(body["calling"], "calling")
    fields.only_fields(calling, "calling", _SETTINGS_FIELDS)
    checks = {
        "status": lambda v: fields.require_choice(v, "calling.status", fields.ENABLED_DISABLED),
        "call_icon_visibility": lambda v: fields.require_choice(
            v, "calling.call_icon_visibility", ("DEFAULT", "DISABLE_ALL")
        ),
        "call_icons": _call_icons,
        "call_hours": lambda v: _call_hours(v, today),
        "callback_permission_status": lambda v: fields.require_choice(
            v, "calling.callback_permission_status", fields.ENABLED_DISABLED
        ),
        "sip": _sip,
        "srtp_key_exchange_protocol": lambda v: fields.require_choice(
            v, "calling.srtp_key_exchange_protocol", ("DTLS", "SDES")
        ),
        "audio": _audio,
        "voicemail": _voicemail,
    }
    for key, value in calling.items():
        checks[key](value)
    return calling


def _call_icons(raw: object) -> None:
    icons = fields.require_object(raw, "calling.call_icons")
    fields.only_fields(icons, "calling.call_icons", ("restrict_to_user_countries",))
    countries = fields.require_list(
        icons.get("restrict_to_user_countries", []), "calling.call_icons.restrict_to_user_countries"
    )
    for country in countries:
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            raise invalid_parameter(
                f"calling.call_icons.restrict_to_user_countries: {country!r} is not an ISO code"
            )


def _hhmm(value: object, path: str) -> int:
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        raise invalid_parameter(f"{path}: must be HHMM (0000-2359), got {value!r}")
    return int(value[:2]) * 60 + int(value[2:])


def _call_hours(raw: object, today: date) -> None:
    path = "calling.call_hours"
    hours = fields.require_object(raw, path)
    fields.only_fields(
        hours, path, ("status", "timezone_id", "weekly_operating_hours", "holiday_schedule")
    )
    fields.require_choice(hours.get("status"), f"{path}.status", fields.ENABLED_DISABLED)
    fields.require_string(hours.get("timezone_id"), f"{path}.timezone_id")
    weekly = fields.require_list(
        hours.get("weekly_operating_hours"), f"{path}.weekly_operating_hours"
    )
    if not weekly:
        raise invalid_parameter(f"{path}.weekly_operating_hours: must not be empty")
    per_day: dict[str, list[tuple[int, int]]] = {}
    for index, raw_entry in enumerate(weekly):
        at = f"{path}.weekly_operating_hours[{index}]"
        entry = fields.require_object(raw_entry, at)
        fields.only_fields(entry, at, ("day_of_week", "open_time", "close_time"))
        day = fields.require_choice(entry.get("day_of_week"), f"{at}.day_of_week", DAYS)
        opens = _hhmm(entry.get("open_time"), f"{at}.open_time")
        closes = _hhmm(entry.get("close_time"), f"{at}.close_time")
        if opens >= closes:
            raise invalid_parameter(f"{at}: open_time must be before close_time")
        per_day.setdefault(day, []).append((opens, closes))
    for day, spans in per_day.items():
        if len(spans) > 2:
            raise invalid_parameter(f"{path}.weekly_operating_hours: more than 2 entries on {day}")
        spans.sort()
        if len(spans) == 2 and spans[1][0] < spans[0][1]:
            raise invalid_parameter(f"{path}.weekly_operating_hours: overlapping entries on {day}")
    holidays = fields.require_list(hours.get("holiday_schedule", []), f"{path}.holiday_schedule")
    if len(holidays) > MAX_HOLIDAYS:
        raise invalid_parameter(f"{path}.holiday_schedule: at most {MAX_HOLIDAYS} entries")
    for index, raw_entry in enumerate(holidays):
        at = f"{path}.holiday_schedule[{index}]"
        entry = fields.require_object(raw_entry, at)
        fields.only_fields(entry, at, ("date", "start_time", "end_time"))
        _holiday_date(entry.get("date"), f"{at}.date", today)
        starts = _hhmm(entry.get("start_time"), f"{at}.start_time")
        ends = _hhmm(entry.get("end_time"), f"{at}.end_time")
        if starts >= ends:
            raise invalid_parameter(f"{at}: start_time must be before end_time")


def _holiday_date(value: object, path: str, today: date) -> None:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise invalid_parameter(f"{path}: must be YYYY-MM-DD, got {value!r}")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise invalid_parameter(f"{path}: {value!r} is not a calendar date") from None
    if day < today:
        raise invalid_parameter(f"{path}: {value} is in the past")


def _sip(raw: object) -> None:
    path = "calling.sip"
    sip = fields.require_object(raw, path)
    fields.only_fields(sip, path, ("status", "servers"))
    fields.require_choice(sip.get("status"), f"{path}.status", fields.ENABLED_DISABLED)
    for index, raw_server in enumerate(
        fields.require_list(sip.get("servers", []), f"{path}.servers")
    ):
        at = f"{path}.servers[{index}]"
        server = fields.require_object(raw_server, at)
        fields.only_fields(server, at, ("hostname", "port", "request_uri_user_params"))
        fields.require_string(server.get("hostname"), f"{at}.hostname")
        if "port" in server:
            fields.require_integer(server["port"], f"{at}.port", 1, 65535)
        params = fields.require_object(
            server.get("request_uri_user_params", {}), f"{at}.request_uri_user_params"
        )
        for key, value in params.items():
            fields.require_string(value, f"{at}.request_uri_user_params.{key}")


def _audio(raw: object) -> None:
    path = "calling.audio"
    audio = fields.require_object(raw, path)
    fields.only_fields(audio, path, ("additional_codecs",))
    codecs = fields.require_list(audio.get("additional_codecs", []), f"{path}.additional_codecs")
    for codec in codecs:
        fields.require_choice(codec, f"{path}.additional_codecs", ("PCMA", "PCMU"))
    if len(set(codecs)) != len(codecs):
        raise invalid_parameter(f"{path}.additional_codecs: duplicate codec")


def _voicemail(raw: object) -> None:
    path = "calling.voicemail"
    voicemail = fields.require_object(raw, path)
    fields.only_fields(voicemail, path, ("status", "triggers", "audio"))
    status = fields.require_choice(
        voicemail.get("status"), f"{path}.status", fields.ENABLED_DISABLED
    )
    triggers = fields.require_list(voicemail.get("triggers", []), f"{path}.triggers")
    for trigger in triggers:
        fields.require_choice(trigger, f"{path}.triggers", ("REJECT", "TIMEOUT"))
    if status == "ENABLED" and not triggers:
        raise invalid_parameter(f"{path}.triggers: at least one trigger when ENABLED")
    if "audio" in voicemail:
        audio = fields.require_object(voicemail["audio"], f"{path}.audio")
        fields.only_fields(audio, f"{path}.audio", ("default",))
        default = fields.require_object(audio.get("default"), f"{path}.audio.default")
        fields.only_fields(
            default, f"{path}.audio.default", ("announcement_media_id", "timeout_seconds")
        )
        if "announcement_media_id" in default:
            fields.require_integer(
                default["announcement_media_id"],
                f"{path}.audio.default.announcement_media_id",
                1,
                2**63 - 1,
            )
        if "timeout_seconds" in default:
            fields.require_integer(
                default["timeout_seconds"], f"{path}.audio.default.timeout_seconds", 0, 30
            )
