"""Webhook spans: one per delivery and one per handler, linked to the spans of their calls."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, StatusCode

from .common import Attributes, Instruments, _fail

_DELIVERY: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "d360_otel_delivery", default=None
)


class WebhookTracing(Instruments):
    """The webhook receiver's side of `Telemetry`: what `Receiver(telemetry=...)` calls."""

    @contextmanager
    def webhook_delivery(self) -> Iterator[DeliverySpan]:
        """A span around one webhook delivery; handler tasks started inside are its children.

        `delivery.events(events)` once parsed (event kinds, call ids, links to the calls'
        spans), `delivery.replied(status)` with the answer."""
        span = self.tracer.start_span(
            "webhook delivery",
            kind=SpanKind.INTERNAL,
            record_exception=False,
            set_status_on_exception=False,
        )
        delivery = DeliverySpan(self, span)
        token = otel_context.attach(trace.set_span_in_context(span))
        mark = _DELIVERY.set(span)
        try:
            yield delivery
        except BaseException as error:
            _fail(span, error, type(error).__name__, {})
            raise
        finally:
            _DELIVERY.reset(mark)
            otel_context.detach(token)
            span.end()

    def webhook_events(self, events: Sequence[object]) -> None:
        """Record a delivery's parsed events on the current `webhook_delivery` span, if any."""
        span = _DELIVERY.get()
        if span is not None:
            DeliverySpan(self, span).events(events)

    async def webhook_handler(self, event: object, handler: Awaitable[None]) -> None:
        """Await `handler` (one handler's coroutine for `event`) inside its own span, linked to
        the span of the call it is about when that call went through a traced client."""
        kind = _event_kind(event)
        name = getattr(handler, "__qualname__", None) or type(handler).__name__
        attributes: Attributes = {"d360.webhook.event": kind, "d360.webhook.handler": name}
        call_id = getattr(event, "call_id", None)
        links: list[Link] = []
        if isinstance(call_id, str):
            attributes["d360.call_id"] = call_id
            linked = self.link_for(call_id)
            if linked is not None:
                links.append(Link(linked))
        with self.tracer.start_as_current_span(
            f"webhook {kind}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await handler
            except BaseException as error:
                _fail(span, error, type(error).__name__, {})
                raise


class DeliverySpan:
    """The span of one webhook delivery, as `Telemetry.webhook_delivery` yields it."""

    __slots__ = ("_telemetry", "span")

    def __init__(self, telemetry: Instruments, span: Span) -> None:
        self._telemetry = telemetry
        self.span = span

    def events(self, events: Sequence[object]) -> None:
        """Record what the delivery holds: kinds, the call id (when one), links to calls."""
        kinds = sorted({_event_kind(event) for event in events})
        call_ids = sorted(
            {c for event in events if isinstance(c := getattr(event, "call_id", None), str)}
        )
        attributes: Attributes = {"d360.webhook.events": len(events)}
        self.span.set_attribute("d360.webhook.event_kinds", kinds)
        if len(call_ids) == 1:
            attributes["d360.call_id"] = call_ids[0]
        elif call_ids:
            self.span.set_attribute("d360.call_ids", call_ids)
        self.span.set_attributes(attributes)
        for call_id in call_ids:
            linked = self._telemetry.link_for(call_id)
            if linked is not None:
                self.span.add_link(linked, {"d360.call_id": call_id})

    def replied(self, status: int) -> None:
        """Record the HTTP status the delivery was answered with (4xx/5xx mark it failed)."""
        self.span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self.span.set_attribute("error.type", str(status))
            self.span.set_status(StatusCode.ERROR, str(status))


_EVENT_KINDS: Final = {
    "CallConnect": "connect",
    "CallStatus": "status",
    "CallTerminate": "terminate",
    "CallRecordingAvailable": "recording",
    "CallTranscriptionAvailable": "transcription",
    "PermissionReply": "permission_reply",
    "SettingsUpdate": "settings_update",
    "UnknownEvent": "unknown",
    "MalformedEvent": "malformed",
}


def _event_kind(event: object) -> str:
    name = type(event).__name__
    return _EVENT_KINDS.get(name, name)
