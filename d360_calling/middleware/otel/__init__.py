"""OpenTelemetry for the client and the webhook receiver: the `[otel]` extra (opentelemetry-api).

The SDK only speaks the API: spans and metrics go to the providers the application set up (or
the ones passed here), and without an SDK installed they cost next to nothing. The SDK never
configures an exporter. Nothing else in `d360_calling` imports this package.

```python
from d360_calling.middleware.otel import Telemetry

telemetry = Telemetry()  # the global tracer and meter providers, or pass yours
client = Client(middlewares=[telemetry.call], attempt_middlewares=[telemetry.attempt])
receiver = Receiver(router, telemetry=telemetry)  # a span per delivery and per handler
```

- `telemetry.call`: one INTERNAL span per call, named by the operation (`calls.accept`),
  with `d360.operation`, `http.request.method`, `server.address`, `server.port`, `url.full`,
  `d360.call_id` (call actions, and `connect` once answered), `d360.attempts`, and on the way
  out `http.response.status_code`, `error.type` (the SDK's error class), `d360.error.code`,
  `d360.outcome_unknown`.
- `telemetry.attempt`: one CLIENT span per HTTP attempt, a child of the call span, following
  the HTTP client conventions (`{method} {url template}`, `http.request.method`, `url.full`,
  `server.address`, `server.port`, `http.response.status_code`, `error.type` (the status code
  as a string, else the error class), `http.request.resend_count` on resends) with
  `d360.retry.wait` (seconds waited before this resend); the metrics
  `http.client.request.duration` (histogram, seconds) and `d360.client.retries` (counter).

Never recorded: headers (the API key), bodies (SDP, SIP passwords) and error messages (an API
error may quote the request). Phone numbers are personal data: `url.full` shows a WhatsApp ID
in a path as `REDACTED`, and `d360.recipient` is set only with `record_recipient=True`.

- `common`: the instruments and the safe attributes every span shares.
- `client`: the call and attempt spans and the client metrics.
- `webhooks`: the delivery and handler spans of the webhook receiver.
"""

from __future__ import annotations

from collections import OrderedDict

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanContext

from ... import __version__
from .client import AttemptTracing, CallTracing
from .common import DURATION_BUCKETS, INSTRUMENTATION, SCHEMA_URL
from .webhooks import DeliverySpan, WebhookTracing


class Telemetry(WebhookTracing):
    """Spans and metrics for one or more clients and receivers (see the module's doc).

    `tracer_provider` / `meter_provider` default to the global ones. `record_recipient=True`
    adds the WhatsApp ID a call is for (`d360.recipient`, and in `url.full`): personal data,
    off by default. The last `max_tracked_calls` call ids seen by a call span are kept so a
    webhook span about the same call links to it.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        record_recipient: bool = False,
        max_tracked_calls: int = 10_000,
    ) -> None:
        self.tracer = trace.get_tracer(
            INSTRUMENTATION, __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter(
            INSTRUMENTATION, __version__, meter_provider, schema_url=SCHEMA_URL
        )
        self.request_duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            "d360.client.retries",
            unit="{retry}",
            description="Requests the retry policy sent again.",
        )
        self.record_recipient = record_recipient
        self.max_tracked_calls = max_tracked_calls
        self._calls: OrderedDict[str, SpanContext] = OrderedDict()
        self.call = CallTracing(self)
        """The middleware for `Client(middlewares=[...])`: a span per call."""
        self.attempt = AttemptTracing(self)
        """The middleware for `Client(attempt_middlewares=[...])`: a span per attempt."""


__all__ = [
    "DURATION_BUCKETS",
    "AttemptTracing",
    "CallTracing",
    "DeliverySpan",
    "Telemetry",
]
