"""Models of `POST /messages` for the calling flow: the permission request and the call button."""

from __future__ import annotations

from datetime import datetime

import attrs

from .checks import checked
from .enums import OpenEnum
from .permissions import CallPermissions


@attrs.frozen(field_transformer=checked)
class MessageContact:
    """Who the message went to: the number as given and the WhatsApp ID it resolved to."""

    input: str | None = None
    wa_id: str | None = None


@attrs.frozen(field_transformer=checked)
class MessageRef:
    """A sent message's id (`wamid.…`)."""

    id: str


@attrs.frozen(field_transformer=checked)
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
    """The API's `start_call` action says a call may start now."""
    CALLS_LIMITED = "calls_limited"
    """The user granted permission, but a call limit forbids calls now (nothing was sent);
    `next_call_allowed_at` says when, if the API gave the time."""
    REQUESTED = "requested"
    """No usable permission, so a permission request was sent (`message_id`)."""
    NOT_ALLOWED = "not_allowed"
    """No usable permission, and the API says no request may be sent now (nothing was sent)."""


@attrs.frozen(field_transformer=checked)
class EnsureResult:
    """The permission as read, what was done, and when a request may be sent again if not now."""

    outcome: EnsureOutcome = attrs.field(converter=EnsureOutcome)
    permissions: CallPermissions
    message_id: str | None = None

    @property
    def granted(self) -> bool:
        """Whether a call may be placed now: granted, and the API's `start_call` allows it."""
        return self.outcome is EnsureOutcome.ALREADY_GRANTED and self.permissions.can_start_call

    @property
    def next_request_allowed_at(self) -> datetime | None:
        """When a permission request is allowed again (set when the limits forbid one now)."""
        return self.permissions.next_permission_request_allowed_at

    @property
    def next_call_allowed_at(self) -> datetime | None:
        """When a call is allowed again (set when a call limit forbids one now)."""
        return self.permissions.next_call_allowed_at
