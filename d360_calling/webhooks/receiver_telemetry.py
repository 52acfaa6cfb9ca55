"""What a `Receiver` needs of a tracer: a span per delivery, its events, a span per handler."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol


class DeliveryTrace(Protocol):
    """What a `WebhookTelemetry` yields for one delivery."""

    def replied(self, status: int) -> None:
        """Record the status the delivery was answered with."""
        ...


class WebhookTelemetry(Protocol):
    """Tracing of deliveries and handlers (`d360_calling.middleware.otel.Telemetry` is one)."""

    def webhook_delivery(self) -> AbstractContextManager[DeliveryTrace]:
        """A span around one delivery; handler tasks started inside it are its children."""
        ...

    def webhook_events(self, events: Sequence[object]) -> None:
        """Record the parsed events on the current delivery's span."""
        ...

    def webhook_handler(self, event: object, handler: Awaitable[None]) -> Awaitable[None]:
        """Await `handler` inside its own span, linked to the call it is about."""
        ...
