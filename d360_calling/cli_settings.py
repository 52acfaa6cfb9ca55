"""Human output of the calling settings: one labelled line per feature, call hours as a table.

Kept apart from `cli_format` because the settings tree is the largest answer the CLI prints.
SIP passwords never show here (only `--json` prints what the API sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, Final

from .cli_format import labelled, table, when, words
from .models.calls import FeatureStatus
from .models.settings import (
    CallHours,
    CallIconVisibility,
    CallingSettings,
    PhoneNumberSettings,
    Restrictions,
    SipSettings,
    VoicemailSettings,
)

NOT_SET: Final = "not set"

_ICON: Final = {
    CallIconVisibility.DEFAULT: "shown (DEFAULT)",
    CallIconVisibility.DISABLE_ALL: "hidden (DISABLE_ALL)",
}


def settings_lines(settings: PhoneNumberSettings, tz: tzinfo | None = None) -> list[str]:
    """The calling settings grouped for a person: the switches first, then call hours, SIP,
    voicemail and restrictions, then the number's other settings if the API sent any."""
    calling = settings.calling
    lines = labelled(
        [
            ("Calling", _status(calling.status)),
            ("Call icon", _icon(calling)),
            ("Callback permission", _status(calling.callback_permission_status)),
            ("Call hours", _hours_status(calling.call_hours)),
            ("SIP", _sip_status(calling.sip)),
            ("Voicemail", _voicemail(calling.voicemail)),
            ("SRTP key exchange", _value(calling.srtp_key_exchange_protocol)),
            ("Audio codecs", _codecs(calling)),
            ("Restrictions", _restrictions(calling.restrictions, tz)),
        ]
    )
    lines += _hours_tables(calling.call_hours)
    lines += _sip_table(calling.sip)
    others = {
        "Payload encryption": settings.payload_encryption,
        "Storage configuration": settings.storage_configuration,
        "User identity change": settings.user_identity_change,
    }
    for label, raw in others.items():
        if raw is not None:
            lines += ["", f"{label}:", *(f"  {line}" for line in _flat(raw))]
    return lines


def _value(value: str | None) -> str:
    return NOT_SET if value is None else str(value)


def _status(status: FeatureStatus | None) -> str:
    return NOT_SET if status is None else words(status.value)


def _icon(calling: CallingSettings) -> str:
    visibility = calling.call_icon_visibility
    text = NOT_SET if visibility is None else _ICON.get(visibility, visibility.value)
    countries = calling.call_icons.restrict_to_user_countries if calling.call_icons else ()
    if countries:
        text += f", only to users in {', '.join(countries)}"
    return text


def _codecs(calling: CallingSettings) -> str:
    extra = calling.audio.additional_codecs if calling.audio else ()
    return ", ".join(["Opus", *(codec.value for codec in extra)])


def _hours_status(hours: CallHours | None) -> str:
    if hours is None:
        return NOT_SET
    text = _status(hours.status)
    if hours.timezone_id:
        text += f", time zone {hours.timezone_id}"
    return text


def _hours_tables(hours: CallHours | None) -> list[str]:
    if hours is None:
        return []
    lines: list[str] = []
    if hours.weekly_operating_hours:
        zone = f" ({hours.timezone_id})" if hours.timezone_id else ""
        lines += ["", f"Call hours{zone}:"]
        rows, previous = [], None
        for entry in hours.weekly_operating_hours:
            day = entry.day_of_week.value.capitalize()
            rows.append(
                ("" if day == previous else day, _hhmm(entry.open_time), _hhmm(entry.close_time))
            )
            previous = day
        lines += table(("day", "open", "close"), rows)
    if hours.holiday_schedule:
        lines += ["", "Holidays:"]
        lines += table(
            ("date", "closed from", "until"),
            (
                (h.date.isoformat(), _hhmm(h.start_time), _hhmm(h.end_time))
                for h in hours.holiday_schedule
            ),
        )
    return lines


def _hhmm(value: str) -> str:
    return f"{value[:2]}:{value[2:]}" if len(value) == 4 and value.isdigit() else value


def _sip_status(sip: SipSettings | None) -> str:
    if sip is None:
        return NOT_SET
    text = _status(sip.status)
    count = len(sip.servers or ())
    if count:
        text += f", {count} server" + ("" if count == 1 else "s")
    if sip.webhook_delivery is not None:
        text += f", webhooks {words(sip.webhook_delivery.value)}"
    return text


def _sip_table(sip: SipSettings | None) -> list[str]:
    if sip is None or not sip.servers:
        return []
    rows = []
    for server in sip.servers:
        params = ", ".join(f"{k}={v}" for k, v in (server.request_uri_user_params or {}).items())
        password = (
            "not requested" if server.sip_user_password is None else "******** (--json shows it)"
        )
        port = "" if server.port is None else str(server.port)
        rows.append((server.hostname, port, password, params or "-"))
    return ["", "SIP servers:", *table(("host", "port", "password", "URI params"), rows)]


def _voicemail(voicemail: VoicemailSettings | None) -> str:
    if voicemail is None:
        return NOT_SET
    text = _status(voicemail.status)
    if voicemail.triggers:
        text += ", on " + " and ".join(words(t.value) for t in voicemail.triggers)
    greeting = voicemail.audio.default if voicemail.audio else None
    if greeting is not None and greeting.announcement_media_id is not None:
        text += f", greeting media {greeting.announcement_media_id}"
    if greeting is not None and greeting.timeout_seconds is not None:
        text += f", after {greeting.timeout_seconds} s of ringing"
    return text


def _restrictions(restrictions: Restrictions | None, tz: tzinfo | None) -> str:
    if restrictions is None or not restrictions.restrictions_list:
        return "none"
    parts = []
    for item in restrictions.restrictions_list:
        text = words(item.type.value).removeprefix("restricted ") + " restricted"
        if item.expiration is not None:
            text += f" until {when(item.expiration, tz)}"
        if item.reason:
            text += f" ({item.reason})"
        parts.append(text)
    return "; ".join(parts)


def _flat(raw: Any, prefix: str = "") -> list[str]:
    """Nested data as `path: value` lines."""
    if isinstance(raw, Mapping):
        return [line for key, value in raw.items() for line in _flat(value, f"{prefix}{key}.")]
    if isinstance(raw, list):
        return [line for index, item in enumerate(raw) for line in _flat(item, f"{prefix}{index}.")]
    return [f"{prefix.rstrip('.')}: {raw}"]
