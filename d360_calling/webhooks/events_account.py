"""The events about a user's or the number's standing: a permission reply, a settings update.

Annotations are evaluated here, not postponed, for the reason `events_shared` gives; the field
lists repeat those of the call events on purpose, for the reason `events_calls` gives.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Final

import attrs

from d360_calling.models.converter import converter
from d360_calling.models.settings import CallingSettings

from .events_shared import (
    Contact,
    Metadata,
    PermissionResponse,
    ResponseSource,
    SettingsUpdateType,
    _compact,
    _digest,
    _raw_field,
    _Timed,
    _unix,
    _value,
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
