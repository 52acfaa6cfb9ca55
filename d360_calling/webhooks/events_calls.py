"""The call events: a call to answer or answered (`CallConnect`), its progress, and its end.

Annotations are evaluated here, not postponed, for the reason `events_shared` gives. The field
lists repeat from class to class on purpose: attrs puts a base class's fields first, so a shared
base would reorder every event's repr and `attrs.fields`; each list follows its payload.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from d360_calling.models.calls import SessionDescription

from .events_shared import (
    CallDirection,
    CallOutcome,
    CallProgress,
    Contact,
    Metadata,
    WebhookErrorDetail,
    _compact,
    _raw_field,
    _Timed,
    _unix,
    _value,
)


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
                **_party_ids(self),
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

    # The fields CallConnect has too are repeated, not inherited: see the module's docstring.
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
                **_party_ids(self),
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


def _party_ids(call: CallConnect | CallTerminate) -> dict[str, Any]:
    """Both ends' ids of a call, in the API's names and order."""
    return {
        "from": call.from_,
        "to": call.to,
        "from_user_id": call.from_user_id,
        "from_parent_user_id": call.from_parent_user_id,
        "to_user_id": call.to_user_id,
        "to_parent_user_id": call.to_parent_user_id,
    }
