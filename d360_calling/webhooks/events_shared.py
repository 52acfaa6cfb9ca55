"""What the webhook events share: the enums, the contact, number and error types, and helpers.

The helpers turn an event back into the payload's names (`to_dict`) and date it (`age`).
Annotations are evaluated here, not postponed: the public types present themselves as
`d360_calling.webhooks.events`'s (see there), so `typing.get_type_hints` and cattrs could not
resolve string annotations by that module's names.
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import attrs

from d360_calling.models.enums import OpenEnum

# One small class per enum, on purpose, though they look alike: each is a public type with its
# own docstring, and the functional `OpenEnum("Name", [...])` form would lose those docstrings
# and mypy's view of the members.


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
