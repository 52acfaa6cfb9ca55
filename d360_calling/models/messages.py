"""Models of `POST /messages` for the calling flow: the permission request and the call button."""

from __future__ import annotations

from datetime import datetime

import attrs

from .enums import OpenEnum
from .permissions import CallPermissions


@attrs.frozen
class MessageContact:
    """Who the message went to: the number as given and the WhatsApp ID it resolved to."""

    input: str | None = None
    wa_id: str | None = None


@attrs.frozen
class MessageRef:
    """A sent message's id (`wamid.…`)."""

    id: str


@attrs.frozen
class MessageResult:
    """The answer to `POST /messages`."""

    messages: tuple[MessageRef, ...]
    contacts: tuple[MessageContact, ...] = ()
    messaging_product: str | None = None

    @property
    def message_id(self) -> str:
        """The id of the (one) message sent; the permission reply's `context.id` quotes it."""
        return self.messages[0].id


class EnsureOutcome(OpenEnum):
    """What `permissions.ensure` found or did."""

    ALREADY_GRANTED = "already_granted"
    REQUESTED = "requested"
    NOT_ALLOWED = "not_allowed"


@attrs.frozen
class EnsureResult:
    """The permission as read, what was done, and when a request may be sent again if not now."""

    outcome: EnsureOutcome
    permissions: CallPermissions
    message_id: str | None = None

    @property
    def granted(self) -> bool:
        """Whether a call may be placed now."""
        return self.outcome is EnsureOutcome.ALREADY_GRANTED

    @property
    def next_request_allowed_at(self) -> datetime | None:
        """When a permission request is allowed again (set when the limits forbid one now)."""
        return self.permissions.next_permission_request_allowed_at
