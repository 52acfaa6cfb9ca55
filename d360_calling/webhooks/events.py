"""Typed webhook events (API reference §4): what `parse` returns, each re-serialisable to JSON.

Field names follow the payload (`call_id` for a call's `id`, `from_` for `from`); timestamps are
aware UTC datetimes and go back out in the form they came in (string or integer Unix seconds).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, Self, TypeAlias

import attrs

from d360_calling.models.calls import SessionDescription
from d360_calling.models.converter import converter
from d360_calling.models.enums import OpenEnum
from d360_calling.models.settings import CallingSettings

from .errors import WebhookError


class CallDirection(OpenEnum):
    """Who placed the call."""

    USER_INITIATED = "USER_INITIATED"
    BUSINESS_INITIATED = "BUSINESS_INITIATED"


class CallProgress(OpenEnum):
    """The `status` of a business-initiated call's `statuses[]` webhook."""

    RINGING = "RINGING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class CallOutcome(OpenEnum):
    """How a call ended; Meta's pages spell it `COMPLETED` and `Completed` alike."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class PermissionResponse(OpenEnum):
    """The user's answer to a call permission request."""

    ACCEPT = "accept"
    REJECT = "reject"


class ResponseSource(OpenEnum):
    """Whether the user answered or WhatsApp decided (callback grants, automatic revokes)."""

    USER_ACTION = "user_action"
    AUTOMATIC = "automatic"


class SettingsUpdateType(OpenEnum):
    """What an `account_settings_update` changed; a sample spells it `[phone_number_settings]`."""

    PHONE_NUMBER_SETTINGS = "PHONE_NUMBER_SETTINGS"

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if isinstance(value, str):
            folded = value.strip("[]").casefold()
            for member in cls:
                if member.value.casefold() == folded:
                    return member
        return super()._missing_(value)


def _compact(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """The pairs whose value is not `None`: absent payload keys stay absent."""
    return {key: value for key, value in pairs.items() if value is not None}


def _unix(moment: datetime | None, form: object) -> str | int | None:
    """`moment` as Unix seconds, an integer if the payload had one there, else a string."""
    if moment is None:
        return None
    seconds = int(moment.timestamp())
    return seconds if type(form) is int else str(seconds)


def _value(enum: OpenEnum | None) -> str | None:
    return None if enum is None else enum.value


def _digest(document: Any) -> str:
    """A stable hash of a JSON document, for dedupe keys of events without an id."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _age(moment: datetime, now: datetime | None) -> timedelta:
    return (datetime.now(UTC) if now is None else now) - moment


class _Timed:
    """`age()` for events that always carry a timestamp."""

    __slots__ = ()
    timestamp: datetime

    def age(self, now: datetime | None = None) -> timedelta:
        """How long ago the event happened (bots drop a connect older than ~30 s)."""
        return _age(self.timestamp, now)


@attrs.frozen
class Contact:
    """The user an event is about, from `contacts[]`; username users have no `wa_id`."""

    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    name: str | None = None
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `contacts[]` item in the API's names."""
        profile = _compact({"name": self.name, "username": self.username})
        return _compact(
            {
                "profile": profile or None,
                "wa_id": self.wa_id,
                "user_id": self.user_id,
                "parent_user_id": self.parent_user_id,
            }
        )


@attrs.frozen
class Metadata:
    """The business number the webhook is for."""

    display_phone_number: str | None = None
    phone_number_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `metadata` object in the API's names."""
        return _compact(
            {
                "display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id,
            }
        )


@attrs.frozen
class WebhookErrorDetail:
    """One `errors[]` entry of a failed call: a calling error code and what it means."""

    code: int | None = None
    title: str | None = None
    message: str | None = None
    href: str | None = None
    details: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `errors[]` item in the API's names."""
        error_data = None if self.details is None else {"details": self.details}
        return _compact(
            {
                "code": self.code,
                "title": self.title,
                "message": self.message,
                "href": self.href,
                "error_data": error_data,
            }
        )


def _raw_field() -> Any:
    """The payload part as received: for keys the SDK does not model; not compared."""
    return attrs.field(factory=dict, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class CallConnect(_Timed):
    """A call to answer (user-initiated, SDP offer) or the answer to your `connect` (SDP answer)."""

    field: ClassVar[str] = "calls"
    item_key: ClassVar[str] = "calls"

    call_id: str
    timestamp: datetime
    direction: CallDirection | None = None
    from_: str | None = None
    to: str | None = None
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    to_user_id: str | None = None
    to_parent_user_id: str | None = None
    session: SessionDescription | None = None
    deeplink_payload: str | None = None
    cta_payload: str | None = None
    biz_opaque_callback_data: str | None = None
    contact: Contact | None = None
    metadata: Metadata | None = None
    waba_id: str | None = None
    raw: Mapping[str, Any] = _raw_field()

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of this connect, so a receiver answers once."""
        return f"calls:{self.call_id}:connect"

    def to_dict(self) -> dict[str, Any]:
        """The `calls[]` item in the API's names."""
        session = self.session
        return _compact(
            {
                "id": self.call_id,
                "from": self.from_,
                "to": self.to,
                "from_user_id": self.from_user_id,
                "from_parent_user_id": self.from_parent_user_id,
                "to_user_id": self.to_user_id,
                "to_parent_user_id": self.to_parent_user_id,
                "event": "connect",
                "timestamp": _unix(self.timestamp, self.raw.get("timestamp")),
                "direction": _value(self.direction),
                "deeplink_payload": self.deeplink_payload,
                "cta_payload": self.cta_payload,
                "biz_opaque_callback_data": self.biz_opaque_callback_data,
                "session": None
                if session is None
                else {"sdp_type": session.sdp_type.value, "sdp": session.sdp},
            }
        )


@attrs.frozen(kw_only=True)
class CallStatus(_Timed):
    """Progress of a business-initiated call: RINGING, ACCEPTED (audit only) or REJECTED."""

    field: ClassVar[str] = "calls"
    item_key: ClassVar[str] = "statuses"

    call_id: str
    status: CallProgress
    timestamp: datetime
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: tuple[WebhookErrorDetail, ...] = ()
    contact: Contact | None = None
    metadata: Metadata | None = None
    waba_id: str | None = None
    raw: Mapping[str, Any] = _raw_field()

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of this status of this call."""
        return f"calls:{self.call_id}:status:{self.status.value}"

    def to_dict(self) -> dict[str, Any]:
        """The `statuses[]` item in the API's names (errors too if they came inside it)."""
        errors = [error.to_dict() for error in self.errors] if "errors" in self.raw else None
        return _compact(
            {
                "id": self.call_id,
                "timestamp": _unix(self.timestamp, self.raw.get("timestamp")),
                "type": "call",
                "status": self.status.value,
                "recipient_id": self.recipient_id,
                "recipient_user_id": self.recipient_user_id,
                "recipient_parent_user_id": self.recipient_parent_user_id,
                "biz_opaque_callback_data": self.biz_opaque_callback_data,
                "errors": errors,
            }
        )


@attrs.frozen(kw_only=True)
class CallTerminate(_Timed):
    """A call ended, however it ended; start, end and duration only if it was picked up."""

    field: ClassVar[str] = "calls"
    item_key: ClassVar[str] = "calls"

    call_id: str
    timestamp: datetime
    status: CallOutcome | None = None
    direction: CallDirection | None = None
    from_: str | None = None
    to: str | None = None
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    to_user_id: str | None = None
    to_parent_user_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    deeplink_payload: str | None = None
    cta_payload: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: tuple[WebhookErrorDetail, ...] = ()
    contact: Contact | None = None
    metadata: Metadata | None = None
    waba_id: str | None = None
    raw: Mapping[str, Any] = _raw_field()

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of this terminate; differs from the call's connect."""
        return f"calls:{self.call_id}:terminate"

    def to_dict(self) -> dict[str, Any]:
        """The `calls[]` item in the API's names (errors too if they came inside it)."""
        raw = self.raw
        errors = [error.to_dict() for error in self.errors] if "errors" in raw else None
        return _compact(
            {
                "id": self.call_id,
                "from": self.from_,
                "to": self.to,
                "from_user_id": self.from_user_id,
                "from_parent_user_id": self.from_parent_user_id,
                "to_user_id": self.to_user_id,
                "to_parent_user_id": self.to_parent_user_id,
                "event": "terminate",
                "direction": _value(self.direction),
                "deeplink_payload": self.deeplink_payload,
                "cta_payload": self.cta_payload,
                "biz_opaque_callback_data": self.biz_opaque_callback_data,
                "timestamp": _unix(self.timestamp, raw.get("timestamp")),
                "status": _value(self.status),
                "start_time": _unix(self.start_time, raw.get("start_time")),
                "end_time": _unix(self.end_time, raw.get("end_time")),
                "duration": self.duration,
                "errors": errors,
            }
        )


PERMISSION_STATUS_EVENT: Final = "call_permission_status"
"""The `event` of 360dialog's permission webhook, a `calls[]` item with `status` GRANTED,
REJECTED or REVOKED (partner docs; Meta sends a `messages[]` reply instead)."""


def _is_permission_status(raw: Mapping[str, Any]) -> bool:
    event = raw.get("event")
    return isinstance(event, str) and event.casefold() == PERMISSION_STATUS_EVENT


@attrs.frozen(kw_only=True)
class PermissionReply(_Timed):
    """A user's decision on call permission: `context_id` is the request's wamid or a wacid.

    Meta's `call_permission_reply` message and 360dialog's `call_permission_status` calls item
    both read as one: GRANTED is `accept`, REJECTED and REVOKED are `reject` (no permission
    now either way; the word stays in `raw["status"]`).
    """

    message_id: str
    timestamp: datetime
    response: PermissionResponse
    from_: str | None = None
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    is_permanent: bool | None = None
    expiration: datetime | None = None
    response_source: ResponseSource | None = None
    context_id: str | None = None
    context_from: str | None = None
    contact: Contact | None = None
    metadata: Metadata | None = None
    waba_id: str | None = None
    raw: Mapping[str, Any] = _raw_field()

    @property
    def field(self) -> str:
        """The webhook field it came in: `calls` for 360dialog's item, else `messages`."""
        return "calls" if _is_permission_status(self.raw) else "messages"

    @property
    def item_key(self) -> str:
        """The list of the change's value it came in (named as its field)."""
        return self.field

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of this reply (of this status, for 360dialog's)."""
        if _is_permission_status(self.raw):
            return f"calls:{self.message_id}:{PERMISSION_STATUS_EVENT}:{self.raw.get('status')}"
        return f"messages:{self.message_id}"

    def to_dict(self) -> dict[str, Any]:
        """The `messages[]` item in the API's names (360dialog's `calls[]` item as received)."""
        if _is_permission_status(self.raw):
            return dict(self.raw)
        interactive = self.raw.get("interactive")
        reply_raw = (
            interactive.get("call_permission_reply") if isinstance(interactive, Mapping) else None
        )
        expiration_form = (
            reply_raw.get("expiration_timestamp") if isinstance(reply_raw, Mapping) else None
        )
        reply = _compact(
            {
                "response": self.response.value,
                "is_permanent": self.is_permanent,
                "expiration_timestamp": _unix(self.expiration, expiration_form),
                "response_source": _value(self.response_source),
            }
        )
        context = _compact({"from": self.context_from, "id": self.context_id})
        return _compact(
            {
                "from": self.from_,
                "from_user_id": self.from_user_id,
                "from_parent_user_id": self.from_parent_user_id,
                "id": self.message_id,
                "timestamp": _unix(self.timestamp, self.raw.get("timestamp")),
                "type": "interactive",
                "context": context or None,
                "interactive": {
                    "type": "call_permission_reply",
                    "call_permission_reply": reply,
                },
            }
        )


@attrs.frozen(kw_only=True)
class SettingsUpdate(_Timed):
    """Calling settings changed (yours included); `calling` is `None` when it was untouched."""

    field: ClassVar[str] = "account_settings_update"
    item_key: ClassVar[None] = None

    type: SettingsUpdateType
    timestamp: datetime
    phone_number_id: str | None = None
    calling: CallingSettings | None = None
    metadata: Metadata | None = None
    waba_id: str | None = None
    raw: Mapping[str, Any] = _raw_field()

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of the same change (the payload has no id)."""
        return f"account_settings_update:{self.phone_number_id}:{_digest(self.to_dict())}"

    def to_dict(self) -> dict[str, Any]:
        """The change's whole `value` in the API's names."""
        calling = None if self.calling is None else converter.unstructure(self.calling)
        settings = _compact({"phone_number_id": self.phone_number_id, "calling": calling})
        return _compact(
            {
                "messaging_product": "whatsapp",
                "metadata": None if self.metadata is None else self.metadata.to_dict(),
                "timestamp": _unix(self.timestamp, self.raw.get("timestamp")),
                "type": self.type.value,
                "phone_number_settings": settings or None,
            }
        )


@attrs.frozen(kw_only=True)
class UnknownEvent:
    """A part the SDK does not model (new call events, messages, account updates), kept whole.

    `raw` is the item of `value[item_key]`, or the whole `value` when `item_key` is `None`.
    """

    field: str
    raw: Mapping[str, Any]
    item_key: str | None = None
    timestamp: datetime | None = None
    contact: Contact | None = None
    metadata: Metadata | None = None
    waba_id: str | None = None

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of the same part (a hash of its JSON)."""
        return f"{self.field}:{self.item_key}:{_digest(self.raw)}"

    def age(self, now: datetime | None = None) -> timedelta | None:
        """How long ago it happened, or `None` if the part has no readable `timestamp`."""
        return None if self.timestamp is None else _age(self.timestamp, now)

    def to_dict(self) -> dict[str, Any]:
        """The part as it was received."""
        return dict(self.raw)


@attrs.frozen(kw_only=True)
class MalformedEvent:
    """A part of a delivery that could not be read, kept so that it costs only itself.

    The rest of the delivery is still dispatched; `error` names the exact path and problem
    (`entry[0].changes[0].value.calls[1].duration: expected an integer, got list`) and `raw`
    is the part as received.
    """

    field: str | None
    raw: Any = attrs.field(eq=False, repr=False)
    error: WebhookError = attrs.field(eq=False)
    item_key: str
    """The list `raw` came from: `calls`, `statuses`, `messages`, or `changes`/`entry` for a
    whole change or entry."""
    waba_id: str | None = None
    metadata: Metadata | None = None
    contact: ClassVar[None] = None

    @property
    def path(self) -> str:
        """Where in the body the bad part is."""
        return self.error.path

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of the same bad part (a hash of its JSON)."""
        return f"malformed:{self.field}:{self.item_key}:{_digest(self.raw)}"

    def to_dict(self) -> Any:
        """The part as it was received."""
        return self.raw


Event: TypeAlias = (
    CallConnect
    | CallStatus
    | CallTerminate
    | PermissionReply
    | SettingsUpdate
    | UnknownEvent
    | MalformedEvent
)
"""Every event `parse` returns; `match` on the class to handle the ones you need."""
