"""Checks on user input, run before any byte is sent; each failure names the field."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from datetime import date
from typing import Final, TypeVar

from yarl import URL

from .errors import ValidationError
from .models.calls import (
    FeatureStatus,
    MediaFeature,
    Recording,
    SdpType,
    SessionDescription,
    Transcription,
    check_language,
    check_purpose,
)
from .models.enums import OpenEnum
from .models.settings import CallHours, CallingSettings, HolidaySchedule, OperatingHours

MAX_CALLBACK_DATA: Final = 512
MAX_WA_ID_LENGTH: Final = 20
MAX_CALL_ID_LENGTH: Final = 512

_CALL_ID = re.compile(r"[A-Za-z0-9._~:=+-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HHMM = re.compile(r"([01][0-9]|2[0-3])[0-5][0-9]")


def wa_id(value: object, field: str = "wa_id") -> str:
    """A WhatsApp ID: the number with its country code, as 1-20 ASCII digits.

    A number as people type it is taken too and sent as its digits: a leading `+` and spaces,
    dashes, dots and parentheses between the digits (`+1 (415) 555-0123` → `14155550123`;
    no-break spaces and Unicode hyphens, as pasted from documents, count as spaces and dashes).
    Refused, with the expected form in the error: letters or any other character, control
    characters (a newline), a `+` anywhere but the start, no digit, more than 20 digits, and a
    typed number whose digits start with 0 (`+0…`, `00 44 …`, `020 …`: no country code starts
    with 0, so that is a dialling or trunk prefix, and guessing which would call the wrong
    person). A plain digit string is checked cheaply first and returned unchanged, leading
    zeros included, as the library always has (the API decides).
    """
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and len(value) <= MAX_WA_ID_LENGTH
    ):
        return value  # the hot path: `isdigit` alone would take other scripts' digits
    return _typed_wa_id(value, field)


WA_ID_FORM: Final = "must be digits only, with the country code, e.g. 14155550123"
_WA_ID_SPACES: Final = " \u00a0\u202f"
_WA_ID_SEPARATORS: Final = frozenset(_WA_ID_SPACES + ".-\u2010\u2011\u2012\u2013")
_DIGITS: Final = frozenset("0123456789")


def _typed_wa_id(value: object, field: str) -> str:
    """`wa_id` past its cheap check: a typed number's digits, or the error saying why not."""
    if not isinstance(value, str):
        shown = f"{type(value).__name__} {_shown(value)}"
        raise ValidationError(field, f"{WA_ID_FORM}, as a str; got {shown}")
    text = value.strip(_WA_ID_SPACES)
    plus = text.startswith("+")
    problem = _typed_problem(text[1:].lstrip(_WA_ID_SPACES) if plus else text)
    digits = "".join(c for c in text if c in _DIGITS)
    if problem is None and len(digits) > MAX_WA_ID_LENGTH:
        problem = f"{len(digits)} digits, at most {MAX_WA_ID_LENGTH}"
    if problem is None and digits.startswith("0"):
        problem = "no country code starts with 0: leave out a dialling prefix (00) or trunk 0"
    if problem is not None:
        raise ValidationError(field, f"{WA_ID_FORM}; got {_shown(value)} ({problem})")
    return digits


def _typed_problem(text: str) -> str | None:
    """What is wrong with a typed number after its `+`, or None: digits with separators
    between them, and parentheses around digits, unnested."""
    opened = False
    for c in text:
        if c in _DIGITS or c in _WA_ID_SEPARATORS:
            continue
        if c == "(" and not opened:
            opened = True
        elif c == ")" and opened:
            opened = False
        elif c == "+":
            return "a + only at the start"
        else:
            return "parentheses do not match" if c in "()" else f"{c!r} is not part of a number"
    if opened:
        return "parentheses do not match"
    if not any(c in _DIGITS for c in text):
        return "no digits"
    if (text[0] not in _DIGITS and text[0] != "(") or text[-1] not in _DIGITS:
        return "separators go between digits"
    return None


def _shown(value: object) -> str:
    """`value`'s repr for an error, cut short (what a caller passed may be anything)."""
    shown = repr(value)
    return shown if len(shown) <= 40 else f"{shown[:37]}..."


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


def recording(value: object) -> Recording | MediaFeature | None:
    """`recording=`: a `Recording`, the wire form `MediaFeature`, or `None`."""
    return _media_option("recording", Recording, value)


def transcription(value: object) -> Transcription | MediaFeature | None:
    """`transcription=`: a `Transcription`, the wire form `MediaFeature`, or `None`."""
    return _media_option("transcription", Transcription, value)


_Option = TypeVar("_Option", Recording, Transcription)


def _media_option(field: str, kind: type[_Option], value: object) -> _Option | MediaFeature | None:
    """Checked again though models check when made: Meta refuses a bad purpose or language
    only after the call is set up, so it must never be sent. An ENABLED `MediaFeature` needs
    the same purpose and language (reference §1.1)."""
    if value is None:
        return None
    if isinstance(value, kind):
        check_purpose(f"{field}.purpose", value.purpose)
        check_language(f"{field}.announcement_language", value.announcement_language)
        return value
    if not isinstance(value, MediaFeature):
        hint = ""
        if isinstance(value, Recording | Transcription):
            hint = f"; pass it as {type(value).__name__.lower()}="
        raise ValidationError(
            field,
            f"must be {kind.__name__}, MediaFeature or None, got {type(value).__name__}{hint}",
        )
    known(f"{field}.status", value.status)
    if value.status is FeatureStatus.ENABLED:
        check_purpose(f"{field}.purpose", value.purpose)
        check_language(f"{field}.announcement_language", value.announcement_language)
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
    return _number(field, value, allow_zero, "number")


def seconds(field: str, value: object, *, allow_zero: bool = False) -> float:
    """A timeout or duration: a finite number of seconds above zero (or at least zero). A
    string such as `"5"` is refused naming the field, not compared until a `TypeError`."""
    return _number(field, value, allow_zero, "number of seconds")


def _number(field: str, value: object, allow_zero: bool, kind: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = f"{type(value).__name__} {_shown(value)}"
        raise ValidationError(field, f"must be a {kind}, got {shown}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "at least 0" if allow_zero else "above 0"
        raise ValidationError(field, f"must be a finite {kind} {bound}, got {value!r}")
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
