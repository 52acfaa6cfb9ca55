"""The emulated number's state: settings, per-user permissions and limits, and the calls.

`CallingState` holds the records (`records`) and the rules that change them. Everything here
is synchronous and takes `now` (sandbox clock seconds) as an argument, so the rules read as
plain code and the HTTP layer decides when time is taken.
"""

from __future__ import annotations

import copy
import secrets
from typing import Final

from d360_calling.sandbox.errors import (
    JsonObject,
    calling_error,
    invalid_parameter,
    sip_enabled_error,
)
from d360_calling.sandbox.limits import DAY, WEEK, Limits
from d360_calling.sandbox.records import (
    ACTIVE_STATES,
    UNANSWERED_STATES,
    Call,
    CallState,
    Direction,
    PermissionStatus,
    SentMessage,
    User,
    iso,
    new_id,
)
from d360_calling.sandbox.validation import CallAction, OutboundMessage


def _recent(stamps: list[float], window: float, now: float) -> list[float]:
    return sorted(t for t in stamps if t > now - window)


def _freed_at(stamps: list[float], window: float, max_allowed: int, now: float) -> float | None:
    """When usage in the window drops below `max_allowed` again (None: not exhausted)."""
    recent = _recent(stamps, window, now)
    if len(recent) < max_allowed or max_allowed == 0:
        return None
    return recent[len(recent) - max_allowed] + window


def _usage(
    period: str, window: float, max_allowed: int, stamps: list[float], now: float
) -> JsonObject:
    """One `limits[]` entry; `limit_expiration_time` only once the limit is exhausted."""
    limit: JsonObject = {
        "time_period": period,
        "max_allowed": max_allowed,
        "current_usage": len(_recent(stamps, window, now)),
    }
    freed = _freed_at(stamps, window, max_allowed, now)
    if freed is not None:
        limit["limit_expiration_time"] = int(freed)
    return limit


# Meta documents no dedicated calling code for an unknown call id or an action the call's state
# does not allow (API reference §1.1 lists only the causes), so these answer HTTP 400 code 100.
_TRANSITIONS: Final[dict[str, tuple[Direction | None, frozenset[CallState]]]] = {
    "pre_accept": (Direction.USER_INITIATED, frozenset({CallState.RINGING})),
    "accept": (Direction.USER_INITIATED, UNANSWERED_STATES),
    "reject": (Direction.USER_INITIATED, UNANSWERED_STATES),
    "terminate": (None, ACTIVE_STATES),
}


class CallingState:
    """The number's settings, users and calls, and the rules that change them."""

    def __init__(self, limits: Limits, *, calling_enabled: bool) -> None:
        self.limits = limits
        self.calls: dict[str, Call] = {}
        self.users: dict[str, User] = {}
        self.uncallable: set[str] = set()
        self.messages: dict[str, SentMessage] = {}
        self.settings: JsonObject = {
            "status": "ENABLED" if calling_enabled else "DISABLED",
            "call_icon_visibility": "DEFAULT",
            "callback_permission_status": "DISABLED",
            "srtp_key_exchange_protocol": "DTLS",
            "sip": {"status": "DISABLED", "servers": []},
        }

    def user(self, wa_id: str) -> User:
        """The record of `wa_id`, made on first use."""
        return self.users.setdefault(wa_id, User())

    # -- settings -------------------------------------------------------------------------

    def settings_view(self, *, include_sip_credentials: bool) -> JsonObject:
        """The stored `calling` object; SIP passwords only when asked for."""
        calling = copy.deepcopy(self.settings)
        if not include_sip_credentials:
            for server in calling.get("sip", {}).get("servers", []):
                server.pop("sip_user_password", None)
        return calling

    def update_settings(self, calling: JsonObject) -> None:
        """Replace each given top-level key (so `call_hours` is replaced whole, as Meta does)."""
        passwords = {
            server["hostname"]: server["sip_user_password"]
            for server in self.settings.get("sip", {}).get("servers", [])
        }
        for key, value in calling.items():
            self.settings[key] = copy.deepcopy(value)
        for server in self.settings["sip"].get("servers", []) if "sip" in calling else []:
            server.setdefault("port", 5061)
            server["sip_user_password"] = passwords.get(
                server["hostname"], secrets.token_urlsafe(18)
            )

    def _require_calling(self) -> None:
        if self.settings.get("sip", {}).get("status") == "ENABLED":
            raise sip_enabled_error()
        if self.settings.get("status") != "ENABLED":
            raise calling_error(138000, "calling is DISABLED in this number's settings")

    # -- permissions ----------------------------------------------------------------------

    def permission(self, wa_id: str, now: float) -> PermissionStatus:
        """The user's permission now; a temporary one past its expiry reads as none."""
        user = self.user(wa_id)
        if user.permission is PermissionStatus.TEMPORARY and (user.expires_at or 0) <= now:
            user.permission, user.expires_at = PermissionStatus.NO_PERMISSION, None
        return user.permission

    def set_permission(self, wa_id: str, status: PermissionStatus, now: float) -> None:
        """Set a permission directly; a temporary one lasts `temporary_permission_seconds`."""
        user = self.user(wa_id)
        user.permission = status
        temporary = status is PermissionStatus.TEMPORARY
        user.expires_at = now + self.limits.temporary_permission_seconds if temporary else None

    def permissions_view(self, wa_id: str, now: float) -> JsonObject:
        """The `GET /calling/permissions/{wa_id}` body (API reference, §1.2 and §2)."""
        self._require_calling()
        status = self.permission(wa_id, now)
        user = self.user(wa_id)
        permission: JsonObject = {"status": status.value}
        if status is PermissionStatus.TEMPORARY and user.expires_at is not None:
            permission["expiration_time"] = int(user.expires_at)
        limits = self.limits
        request_limits = [
            _usage("PT24H", DAY, limits.permission_requests_per_day, user.permission_requests, now),
            _usage("P7D", WEEK, limits.permission_requests_per_week, user.permission_requests, now),
        ]
        call_limits = [
            _usage("PT24H", DAY, limits.connected_calls_per_day, user.connected_calls, now)
        ]
        can_request = status is not PermissionStatus.PERMANENT and all(
            lim["current_usage"] < lim["max_allowed"] for lim in request_limits
        )
        can_call = (
            status is not PermissionStatus.NO_PERMISSION
            and wa_id not in self.uncallable
            and call_limits[0]["current_usage"] < call_limits[0]["max_allowed"]
        )
        return {
            "messaging_product": "whatsapp",
            "permission": permission,
            "actions": [
                {
                    "action_name": "send_call_permission_request",
                    "can_perform_action": can_request,
                    "limits": request_limits,
                },
                {
                    "action_name": "start_call",
                    "can_perform_action": can_call,
                    "limits": call_limits,
                },
            ],
        }

    def send_message(self, message: OutboundMessage, now: float) -> str:
        """Record a sent message; permission requests count against 138009 and 138017."""
        message_id = new_id("wamid")
        if message.kind == "call_permission_request":
            self._count_permission_request(message.to, now)
            self.user(message.to).last_request_id = message_id
        self.messages[message_id] = SentMessage(
            message.to, message.kind, message.payload, now + message.ttl_minutes * 60
        )
        return message_id

    def _count_permission_request(self, wa_id: str, now: float) -> None:
        if self.permission(wa_id, now) is PermissionStatus.PERMANENT:
            raise calling_error(138017, f"user {wa_id} already granted a permanent permission")
        user = self.user(wa_id)
        windows = (
            ("24 hours", DAY, self.limits.permission_requests_per_day),
            ("7 days", WEEK, self.limits.permission_requests_per_week),
        )
        for name, window, max_allowed in windows:
            if len(_recent(user.permission_requests, window, now)) >= max_allowed:
                freed = _freed_at(user.permission_requests, window, max_allowed, now)
                after = f"; next request allowed at {iso(freed)}" if freed is not None else ""
                raise calling_error(
                    138009,
                    f"{max_allowed} permission request(s) per {name} already sent to {wa_id}"
                    + after,
                )
        user.permission_requests.append(now)

    def _connected(self, call: Call, now: float) -> None:
        """A call was picked up: start the clock, count it, reset permission-request limits."""
        call.state, call.start_time = CallState.ACCEPTED, now
        user = self.user(call.wa_id)
        user.permission_requests.clear()
        if call.direction is Direction.BUSINESS_INITIATED:
            user.connected_calls = [*_recent(user.connected_calls, DAY, now), now]

    # -- calls through the API ------------------------------------------------------------

    def apply(self, action: CallAction, now: float) -> Call:
        """Run one checked call action; raises the API's error when the rules forbid it."""
        self._require_calling()
        if action.action == "connect":
            call = self._connect(action.to, action.sdp, action.biz_opaque_callback_data, now)
            call.recording, call.transcription = action.recording, action.transcription
            return call
        call = self._transition(action.action, action.call_id)
        if action.action == "pre_accept":
            call.state, call.answer_sdp = CallState.PRE_ACCEPTED, action.sdp
        elif action.action == "accept":
            if call.answer_sdp is not None and call.answer_sdp != action.sdp:
                raise invalid_parameter("session.sdp: accept SDP differs from the pre_accept SDP")
            call.answer_sdp = action.sdp
            call.biz_opaque_callback_data = action.biz_opaque_callback_data
            call.recording, call.transcription = action.recording, action.transcription
            self._connected(call, now)
        elif action.action == "reject":
            call.end(CallState.REJECTED, now)
        else:
            call.end(CallState.TERMINATED, now)
        return call

    def _transition(self, action: str, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise invalid_parameter(f"call_id: no call with id {call_id!r}")
        direction, states = _TRANSITIONS[action]
        if direction is not None and call.direction is not direction:
            raise invalid_parameter(
                f"call_id: {action} applies to {direction.value} calls, this one is "
                f"{call.direction.value}"
            )
        if call.state not in states:
            raise invalid_parameter(f"call_id: cannot {action} a call that is {call.state.value}")
        return call

    def _connect(self, to: str, sdp: str, opaque: str | None, now: float) -> Call:
        if to in self.uncallable:
            raise calling_error(138001, f"user {to} cannot receive calls")
        if self.permission(to, now) is PermissionStatus.NO_PERMISSION:
            raise calling_error(138006, f"user {to} has not granted call permission")
        active = [call for call in self.calls.values() if call.active]
        if self.limits.reject_duplicate_calls and any(call.wa_id == to for call in active):
            raise calling_error(138003, f"a call with {to} is already ongoing")
        if len(active) >= self.limits.concurrent_calls:
            raise calling_error(138002, f"{len(active)} calls are ongoing on this number")
        user = self.user(to)
        freed = _freed_at(user.connected_calls, DAY, self.limits.connected_calls_per_day, now)
        if freed is not None or self.limits.connected_calls_per_day == 0:
            when = f"{iso(freed)} ({int(freed)})" if freed is not None else "never"
            raise calling_error(
                138012,
                f"{self.limits.connected_calls_per_day} connected calls to {to} in 24 hours; "
                f"next call allowed at {when}",
            )
        call = Call(new_id("wacid"), Direction.BUSINESS_INITIATED, to, now, sdp)
        call.biz_opaque_callback_data = opaque
        return self._add(call)

    def _add(self, call: Call) -> Call:
        self.calls[call.id] = call
        return call

    # -- calls driven by the user ---------------------------------------------------------

    def ring(
        self, wa_id: str, sdp: str, now: float, *, cta: str | None, deeplink: str | None
    ) -> Call:
        """The user calls the business."""
        call = Call(new_id("wacid"), Direction.USER_INITIATED, wa_id, now, sdp)
        call.cta_payload, call.deeplink_payload = cta, deeplink
        return self._add(call)

    def user_call(self, call_id: str, *, outbound_ringing: bool) -> Call:
        """The call a user action targets; ValueError when the action cannot apply to it."""
        call = self.calls.get(call_id)
        if call is None:
            raise ValueError(f"no call with id {call_id!r}")
        if outbound_ringing and (
            call.direction is not Direction.BUSINESS_INITIATED
            or call.state is not CallState.RINGING
        ):
            raise ValueError(f"{call_id} is not a ringing business-initiated call")
        if not call.active:
            raise ValueError(f"{call_id} already ended ({call.state.value})")
        return call

    def user_answers(self, call_id: str, now: float, answer_sdp: str) -> Call:
        """The user picks up a business-initiated call."""
        call = self.user_call(call_id, outbound_ringing=True)
        call.answer_sdp = answer_sdp
        self._connected(call, now)
        return call

    def user_rejects(self, call_id: str, now: float) -> Call:
        """The user declines a business-initiated call."""
        call = self.user_call(call_id, outbound_ringing=True)
        call.end(CallState.REJECTED, now)
        return call

    def user_hangs_up(self, call_id: str, now: float) -> Call:
        """The user ends a ringing or connected call."""
        call = self.user_call(call_id, outbound_ringing=False)
        call.end(CallState.TERMINATED, now)
        return call

    def expire(self, now: float) -> list[Call]:
        """End calls nobody picked up within the ring timeout; returns them."""
        timeout = self.limits.ring_timeout_seconds
        expired = [
            call
            for call in self.calls.values()
            if call.state in UNANSWERED_STATES and call.created_at + timeout <= now
        ]
        for call in expired:
            call.end(CallState.TIMED_OUT, call.created_at + timeout)
        return expired
