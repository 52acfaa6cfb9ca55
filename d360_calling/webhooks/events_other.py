"""Events for parts the SDK does not model (`UnknownEvent`) or could not read (`MalformedEvent`).

Annotations are evaluated here, not postponed, for the reason `events_shared` gives.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from .errors import WebhookError
from .events_shared import Contact, Metadata, _age, _digest


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
