"""Human output of the CLI: labelled lines a person reads at a glance, as `gh` prints them.

Pure functions from the SDK's models to lines of text; the clock and the local time zone are
parameters, so a test pins both. Dates show in local time and UTC; secrets never show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from .errors import APIError, D360Error, ValidationError
from .models.calls import CallActionResult, ConnectResult
from .models.messages import MessageResult
from .models.permissions import ActionLimit, CallPermissions, PermissionAction, PermissionStatus

_DURATION: Final = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


# -- building blocks ------------------------------------------------------------------------


def when(moment: datetime, tz: tzinfo | None = None) -> str:
    """`2026-12-13 14:00 CET / 13:00 UTC`: local time (`tz`, else the system's), then UTC;
    only UTC when the two agree, and the UTC date too when the dates differ."""
    utc = moment.astimezone(UTC)
    local = moment.astimezone(tz)
    utc_text = f"{utc:%H:%M} UTC"
    if local.utcoffset() == utc.utcoffset():
        return f"{utc:%Y-%m-%d} {utc_text}"
    if local.date() != utc.date():
        utc_text = f"{utc:%Y-%m-%d} {utc_text}"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or local.strftime('%z')} / {utc_text}"


def span(seconds: float) -> str:
    """A length of time, rounded as people say it: `7 days`, `5 hours`, `1 minute`."""
    seconds = abs(seconds)
    if seconds < 60:
        return "less than a minute"
    for unit, size, up_to in (("minute", 60, 90 * 60), ("hour", 3600, 36 * 3600)):
        if seconds < up_to:
            return _plural(round(seconds / size), unit)
    return _plural(round(seconds / 86400), "day")


def relative(moment: datetime, now: datetime) -> str:
    """`in 7 days` or `3 hours ago`."""
    delta = (moment - now).total_seconds()
    return f"in {span(delta)}" if delta >= 0 else f"{span(delta)} ago"


def period(iso: str) -> str:
    """An ISO 8601 duration as words (`PT24H`: `24 hours`, `P7D`: `7 days`); else as given."""
    match = _DURATION.fullmatch(iso)
    if match is None or not any(match.groups()):
        return iso
    parts = [_plural(int(n), unit[:-1]) for unit, n in match.groupdict().items() if n]
    return " ".join(parts)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def words(value: str) -> str:
    """An API name as words: `send_call_permission_request` reads `send call permission
    request`, `ENABLED` reads `enabled`."""
    return value.replace("_", " ").lower()


def labelled(pairs: Sequence[tuple[str, str]], indent: str = "") -> list[str]:
    """`Label:  value` lines with the values aligned."""
    width = max((len(label) for label, _ in pairs), default=0) + 2
    return [f"{indent}{label + ':':<{width}}{value}".rstrip() for label, value in pairs]


def table(header: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "  ") -> list[str]:
    """A small table with aligned columns under a header row."""
    body = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[column]) for row in body) for column in range(len(header))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))).rstrip()
        for row in body
    ]


def yes_no(value: bool, why_not: str | None = None) -> str:
    """`yes`, `no`, or `no (why)`."""
    if value:
        return "yes"
    return f"no ({why_not})" if why_not else "no"


# -- permissions ----------------------------------------------------------------------------


def permissions_lines(
    perms: CallPermissions,
    wa_id: str | None = None,
    *,
    now: datetime,
    tz: tzinfo | None = None,
) -> list[str]:
    """A user's call permission: may a call start now, may we ask, and each action's limits."""
    user = wa_id or "the user"
    call_hint = None
    if perms.next_call_allowed_at is not None:
        call_hint = f"next allowed {when(perms.next_call_allowed_at, tz)}"
    elif not perms.has_permission:
        call_hint = "no permission"
        if perms.can_request_permission:
            call_hint += f"; ask with: permissions request {user}"
    ask_hint = None
    if perms.next_permission_request_allowed_at is not None:
        ask_hint = f"next allowed {when(perms.next_permission_request_allowed_at, tz)}"
    pairs = [("User", wa_id)] if wa_id else []
    pairs += [
        ("Permission", _permission(perms, now, tz)),
        ("Can call now", yes_no(perms.can_start_call, call_hint)),
        ("Can ask for permission", yes_no(perms.can_request_permission, ask_hint)),
    ]
    lines = labelled(pairs)
    if perms.actions:
        lines += ["", "Actions:"]
        lines += table(
            ("action", "now", "limits"),
            (row for action in perms.actions for row in _action_rows(action, tz)),
        )
    return lines


def _permission(perms: CallPermissions, now: datetime, tz: tzinfo | None) -> str:
    status = perms.status
    if status is PermissionStatus.NO_PERMISSION:
        return "none"
    text = words(status.value)
    expires = perms.expires_at
    if expires is None:
        return text
    verb = "expires" if expires >= now else "expired"
    return f"{text}, {verb} {relative(expires, now)} ({when(expires, tz)})"


def _action_rows(action: PermissionAction, tz: tzinfo | None) -> list[tuple[str, str, str]]:
    name = words(action.action_name.value)
    state = "allowed" if action.can_perform_action else "not allowed"
    limits = [_limit(limit, tz) for limit in action.limits] or ["none reported"]
    rows = [(name, state, limits[0])]
    rows += [("", "", text) for text in limits[1:]]
    return rows


def _limit(limit: ActionLimit, tz: tzinfo | None) -> str:
    text = f"{limit.current_usage} of {limit.max_allowed} used per {period(limit.time_period)}"
    if limit.limit_expiration_time is not None:
        text += f", resets {when(limit.limit_expiration_time, tz)}"
    return text


# -- the other answers ----------------------------------------------------------------------

_ACTION_DONE: Final = {
    "pre-accept": "Call pre-accepted",
    "accept": "Call accepted",
    "reject": "Call rejected",
    "terminate": "Call terminated",
}


def call_lines(action: str, result: CallActionResult | ConnectResult, target: str) -> list[str]:
    """`Call accepted: wacid.…`, `Call placed: id wacid.… (to 14155550123)`."""
    if isinstance(result, ConnectResult):
        return [f"Call placed: id {result.call_id} (to {target})"]
    done = _ACTION_DONE.get(action, f"Call {action}")
    if not result.success:
        return [
            f"{done.replace('Call', 'Call not', 1)}: {target} (the API answered success: false)"
        ]
    return [f"{done}: {target}"]


def message_lines(result: MessageResult, what: str) -> list[str]:
    """`Message sent: id wamid.… (to 14155550124)`."""
    to = next((c.wa_id or c.input for c in result.contacts if c.wa_id or c.input), None)
    suffix = f" (to {to})" if to else ""
    return [f"{what}: id {result.message_id}{suffix}"]


# -- errors ---------------------------------------------------------------------------------


def error_object(error: BaseException, kind: str | None = None) -> dict[str, Any]:
    """An error as `{"error": {"type", "message", ...}}`: the fields a script branches on."""
    body: dict[str, Any] = {"type": kind or type(error).__name__, "message": str(error)}
    if isinstance(error, D360Error) and error.operation:
        body["operation"] = error.operation
    if isinstance(error, ValidationError):
        body["field"] = error.field
    if isinstance(error, APIError):
        extra = {
            "status": error.status,
            "code": error.code,
            "subcode": error.subcode,
            "details": error.details,
            "trace_id": error.trace_id,
            "retry_after": error.retry_after,
        }
        body.update({key: value for key, value in extra.items() if value is not None})
    elif (status := getattr(error, "status", None)) is not None:
        body["status"] = status
    return {"error": body}
