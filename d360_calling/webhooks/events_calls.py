"""The call events: a call to answer or answered (`CallConnect`), its progress, its end, and
the recording and transcript it leaves (`CallRecordingAvailable`, `CallTranscriptionAvailable`).

Annotations are evaluated here, not postponed, for the reason `events_shared` gives. The field
lists repeat from class to class on purpose: attrs puts a base class's fields first, so a shared
base would reorder every event's repr and `attrs.fields`; each list follows its payload. The
recording and transcript events are the exception: one shape, so one base holds all fields.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from d360_calling.models.calls import SessionDescription
from d360_calling.models.media import MediaRef

from .events_shared import (
    CallDirection,
    CallOutcome,
    CallProgress,
    Contact,
    Metadata,
    WebhookErrorDetail,
    _age,
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


@attrs.frozen(kw_only=True)
class _MediaAvailable:
    """A call's recording or transcript is ready: where to fetch it (`media`) and whose call.

    `timestamp` and `from_` may be missing (the documented sample has no `to`; users known
    by BSUID have no `from`). `media`'s id and URL fetch the file: they stay out of reprs.
    """

    field: ClassVar[str] = "calls"
    item_key: ClassVar[str] = "calls"
    _event: ClassVar[str]
    """The item's `event`."""
    _holder: ClassVar[str]
    """The key of the object around the media (`call_recording`)."""
    _media_key: ClassVar[str]
    """The key of the media object inside it (`audio`)."""
    _media_type: ClassVar[str | None]
    """The holder's `type` written for an event made by hand (`"audio"`)."""
    _kind: ClassVar[str]
    """The last part of `dedupe_key`."""

    call_id: str
    media: MediaRef
    timestamp: datetime | None = None
    direction: CallDirection | None = None
    from_: str | None = None
    to: str | None = None
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    to_user_id: str | None = None
    to_parent_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    contact: Contact | None = None
    metadata: Metadata | None = None
    waba_id: str | None = None
    raw: Mapping[str, Any] = _raw_field()

    @property
    def dedupe_key(self) -> str:
        """Equal for repeated deliveries of this file's announcement of this call."""
        return f"calls:{self.call_id}:{self._kind}"

    def age(self, now: datetime | None = None) -> timedelta | None:
        """How long ago it was sent, or `None` if the item has no `timestamp`."""
        return None if self.timestamp is None else _age(self.timestamp, now)

    def to_dict(self) -> dict[str, Any]:
        """The `calls[]` item in the API's names."""
        media = self.media
        received = self.raw.get(self._holder)
        kind = received.get("type") if isinstance(received, Mapping) else self._media_type
        holder = {
            "type": kind,
            self._media_key: _compact(
                {
                    "id": media.id,
                    "sha256": media.sha256,
                    "mime_type": media.mime_type,
                    "url": media.url,
                }
            ),
        }
        return _compact(
            {
                "id": self.call_id,
                **_party_ids(self),
                "event": self._event,
                "timestamp": _unix(self.timestamp, self.raw.get("timestamp")),
                "direction": _value(self.direction),
                "biz_opaque_callback_data": self.biz_opaque_callback_data,
                self._holder: _compact(holder),
            }
        )


@attrs.frozen(kw_only=True)
class CallRecordingAvailable(_MediaAvailable):
    """A call's recording is ready (`call_recording.audio`, OGG/Opus), usually within a minute
    of its end: fetch it by `media.id` (the `media.url` lasts 5 minutes; files 7 days)."""

    _event: ClassVar[str] = "call_recording_available"
    _holder: ClassVar[str] = "call_recording"
    _media_key: ClassVar[str] = "audio"
    _media_type: ClassVar[str | None] = "audio"
    _kind: ClassVar[str] = "recording"


@attrs.frozen(kw_only=True)
class CallTranscriptionAvailable(_MediaAvailable):
    """A call's transcript is ready (`call_transcript.document`, a JSON document): fetch it by
    `media.id` as for a recording."""

    _event: ClassVar[str] = "call_transcription_available"
    _holder: ClassVar[str] = "call_transcript"
    _media_key: ClassVar[str] = "document"
    _media_type: ClassVar[str | None] = None
    _kind: ClassVar[str] = "transcription"


def _party_ids(call: CallConnect | CallTerminate | _MediaAvailable) -> dict[str, Any]:
    """Both ends' ids of a call, in the API's names and order."""
    return {
        "from": call.from_,
        "to": call.to,
        "from_user_id": call.from_user_id,
        "from_parent_user_id": call.from_parent_user_id,
        "to_user_id": call.to_user_id,
        "to_parent_user_id": call.to_parent_user_id,
    }
