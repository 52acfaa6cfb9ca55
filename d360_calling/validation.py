"""Checks on user input, run before any byte is sent; each failure names the field."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from datetime import date
from typing import Final

from yarl import URL

from .errors import ValidationError
from .models.calls import MediaFeature, SdpType, SessionDescription
from .models.enums import OpenEnum
from .models.settings import CallHours, CallingSettings, HolidaySchedule, OperatingHours

MAX_CALLBACK_DATA: Final = 512
MAX_WA_ID_LENGTH: Final = 20
MAX_CALL_ID_LENGTH: Final = 512

_CALL_ID = re.compile(r"[A-Za-z0-9._~:=+-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HHMM = re.compile(r"([01][0-9]|2[0-3])[0-5][0-9]")


def wa_id(value: object, field: str = "wa_id") -> str:
    """A WhatsApp ID: 1-20 ASCII digits (`isdigit` alone would take other scripts' digits;
    with `isascii` it is `[0-9]+`, a fifth of the regex's cost on every call)."""
    if not isinstance(value, str) or not (
        value.isascii() and value.isdigit() and len(value) <= MAX_WA_ID_LENGTH
    ):
        raise ValidationError(field, f"must be 1-{MAX_WA_ID_LENGTH} ASCII digits, got {value!r}")
    return value


def call_id(value: object) -> str:
    """A call ID (`wacid.…`): ASCII letters, digits and `._~:=+-` only, so nothing in it can
    act on a URL, a header or a log line."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("call_id", "must be a non-empty string")
    if len(value) > MAX_CALL_ID_LENGTH:
        raise ValidationError("call_id", f"longer than {MAX_CALL_ID_LENGTH} characters")
    if _CALL_ID.fullmatch(value) is None:
        raise ValidationError(
            "call_id", f"only ASCII letters, digits and ._~:=+- are allowed, got {value!r}"
        )
    return value


def session(value: object, expected: SdpType) -> SessionDescription:
    """An SDP of the type the action needs (`connect`: offer; `accept`: answer), not empty."""
    if not isinstance(value, SessionDescription):
        raise ValidationError("session", "must be a SessionDescription (.offer() or .answer())")
    if value.sdp_type is not expected:
        helper = f"SessionDescription.{expected.value}(sdp)"
        raise ValidationError(
            "session",
            f"this action needs an SDP {expected.value}, got {value.sdp_type.value}; use {helper}",
        )
    if not isinstance(value.sdp, str) or not value.sdp.strip():
        raise ValidationError("session.sdp", "must not be empty")
    if "\x00" in value.sdp:
        raise ValidationError("session.sdp", "must not contain NUL")
    return value


def media_feature(field: str, value: object) -> MediaFeature | None:
    """`recording` or `transcription`: a `MediaFeature` (or `None`) with a documented status."""
    if value is None:
        return None
    if not isinstance(value, MediaFeature):
        raise ValidationError(field, f"must be MediaFeature or None, got {type(value).__name__}")
    known(f"{field}.status", value.status)
    return value


def callback_data(value: object) -> str | None:
    """`biz_opaque_callback_data`: at most 512 characters, echoed back in webhooks."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("biz_opaque_callback_data", "must be a string")
    if len(value) > MAX_CALLBACK_DATA:
        raise ValidationError(
            "biz_opaque_callback_data",
            f"at most {MAX_CALLBACK_DATA} characters, got {len(value)}",
        )
    return value


def base_url(value: object) -> str:
    """An http(s) URL with a host and nothing a request line could be split with."""
    if not isinstance(value, str) or _CONTROL.search(value) or any(c.isspace() for c in value):
        raise ValidationError("base_url", "must be a URL without spaces or control characters")
    try:
        url = URL(value)
    except ValueError:
        raise ValidationError("base_url", f"is not a URL: {value!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError("base_url", f"must be http(s)://host[:port][/path], got {value!r}")
    return value


def positive(field: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite number above zero (or at least zero); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field, f"must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "at least 0" if allow_zero else "above 0"
        raise ValidationError(field, f"must be {bound}, got {value!r}")
    return value


def header_value(field: str, value: str) -> str:
    """A value bound for an HTTP header: CR, LF and NUL would split or truncate it."""
    if _CONTROL.search(value):
        raise ValidationError(field, "must not contain control characters (CR, LF, NUL, ...)")
    return value


def text(field: str, value: object, *, max_length: int, required: bool = True) -> str | None:
    """A bounded text value; `None` only when not required."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(field, "must be a non-empty string")
    if len(value) > max_length:
        raise ValidationError(field, f"at most {max_length} characters, got {len(value)}")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL")
    return value


def integer(field: str, value: object, low: int, high: int) -> int:
    """A whole number within `low`..`high` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def known(field: str, value: OpenEnum | None) -> None:
    """Refuse enum values the API does not document (kept when parsing, never sent)."""
    if value is not None and not value.is_known:
        allowed = ", ".join(member.value for member in type(value))
        raise ValidationError(field, f"{value.value!r} is not one of {allowed}")


def settings(value: object) -> CallingSettings:
    """The calling settings to send: known enums, `HHMM` times, `YYYY-MM-DD` dates, no overlaps."""
    if not isinstance(value, CallingSettings):
        raise ValidationError("settings", "must be a CallingSettings")
    known("calling.status", value.status)
    known("calling.call_icon_visibility", value.call_icon_visibility)
    known("calling.callback_permission_status", value.callback_permission_status)
    known("calling.srtp_key_exchange_protocol", value.srtp_key_exchange_protocol)
    if value.restrictions is not None:
        raise ValidationError("calling.restrictions", "is read only; the API sets it")
    if value.call_hours is not None:
        _call_hours(value.call_hours)
    if value.sip is not None:
        known("calling.sip.status", value.sip.status)
        for index, server in enumerate(value.sip.servers or ()):
            text(f"calling.sip.servers[{index}].hostname", server.hostname, max_length=253)
            if server.port is not None and not 1 <= server.port <= 65535:
                raise ValidationError(f"calling.sip.servers[{index}].port", "must be 1-65535")
    if value.audio is not None:
        for codec in value.audio.additional_codecs:
            known("calling.audio.additional_codecs", codec)
    if value.voicemail is not None:
        known("calling.voicemail.status", value.voicemail.status)
        for trigger in value.voicemail.triggers or ():
            known("calling.voicemail.triggers", trigger)
        announcement = value.voicemail.audio.default if value.voicemail.audio else None
        timeout = announcement.timeout_seconds if announcement else None
        if timeout is not None and not 0 <= timeout <= 30:
            raise ValidationError("calling.voicemail.audio.default.timeout_seconds", "must be 0-30")
    return value


def _call_hours(hours: CallHours) -> None:
    known("calling.call_hours.status", hours.status)
    if not hours.timezone_id or not hours.timezone_id.strip():
        raise ValidationError("calling.call_hours.timezone_id", "is required")
    if not hours.weekly_operating_hours:
        raise ValidationError("calling.call_hours.weekly_operating_hours", "must not be empty")
    _weekly(hours.weekly_operating_hours)
    holidays = hours.holiday_schedule or ()
    if len(holidays) > 20:
        raise ValidationError("calling.call_hours.holiday_schedule", "at most 20 entries")
    for index, holiday in enumerate(holidays):
        _holiday(index, holiday)


def _weekly(entries: Iterable[OperatingHours]) -> None:
    per_day: dict[str, list[tuple[str, str]]] = {}
    for index, entry in enumerate(entries):
        field = f"calling.call_hours.weekly_operating_hours[{index}]"
        known(f"{field}.day_of_week", entry.day_of_week)
        _span(field, entry.open_time, entry.close_time, "open_time", "close_time")
        per_day.setdefault(entry.day_of_week.value, []).append((entry.open_time, entry.close_time))
    for day, spans in per_day.items():
        if len(spans) > 2:
            raise ValidationError("calling.call_hours.weekly_operating_hours", f"{day}: at most 2")
        ordered = sorted(spans)
        for (_, first_close), (second_open, _) in itertools.pairwise(ordered):
            if second_open < first_close:
                raise ValidationError(
                    "calling.call_hours.weekly_operating_hours", f"{day}: entries overlap"
                )


def _holiday(index: int, holiday: HolidaySchedule) -> None:
    field = f"calling.call_hours.holiday_schedule[{index}]"
    if not isinstance(holiday.date, date):
        raise ValidationError(f"{field}.date", "must be a datetime.date (YYYY-MM-DD)")
    _span(field, holiday.start_time, holiday.end_time, "start_time", "end_time")


def _span(field: str, start: str, end: str, start_name: str, end_name: str) -> None:
    for name, value in ((start_name, start), (end_name, end)):
        if not isinstance(value, str) or _HHMM.fullmatch(value) is None:
            raise ValidationError(f"{field}.{name}", f"must be HHMM (0000-2359), got {value!r}")
    if start >= end:
        raise ValidationError(field, f"{start_name} must be before {end_name}")
