"""What the OpenTelemetry middlewares and an empty per-attempt slot cost per call (issue 15).

    python -m benchmarks.otel_cost [--number N] [--repeat R]

Each row is `calls.accept` through a `Client` whose aiohttp session is the benchmarks' stub
(no network), best of R runs of N calls, µs of wall time per call on an idle core; the
difference to the first row is what the option adds.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import harness, payloads
from benchmarks.stub import StubHttp
from d360_calling import Client, SessionDescription
from d360_calling.middleware.otel import Telemetry


def _telemetry_api_only() -> Telemetry:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    return Telemetry(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())


def _telemetry_sdk() -> Telemetry:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return Telemetry(tracer_provider=tracer, meter_provider=meter)


def _options() -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    def otel(make: Callable[[], Telemetry]) -> Callable[[], dict[str, Any]]:
        def options() -> dict[str, Any]:
            telemetry = make()
            return {"middlewares": [telemetry.call], "attempt_middlewares": [telemetry.attempt]}

        return options

    return [
        ("default client", dict),
        ("attempt_middlewares=[] (the empty slot)", lambda: {"attempt_middlewares": []}),
        ("otel pair, opentelemetry-api only (no-op providers)", otel(_telemetry_api_only)),
        ("otel pair, OpenTelemetry SDK recording (in-memory)", otel(_telemetry_sdk)),
    ]


async def measure(number: int, repeat: int) -> list[tuple[str, float]]:
    """µs per `calls.accept` for each row, the rows interleaved `repeat` times."""
    answer = SessionDescription.answer(payloads.SDP)
    clients: list[tuple[str, Client]] = []
    for name, options in _options():
        client = Client(
            payloads.API_KEY,
            base_url="http://stub.invalid",
            session=StubHttp(),  # type: ignore[arg-type]
            **options(),
        )
        clients.append((name, client))
    best = {name: float("inf") for name, _ in clients}
    for _ in range(repeat):
        for name, client in clients:

            def call(on: Client = client) -> Awaitable[object]:
                return on.calls.accept(payloads.CALL_ID, answer)

            best[name] = min(best[name], await harness.best_of(call, number, 1))
    for _, client in clients:
        await client.aclose()
    return [(name, best[name]) for name, _ in clients]


def table(rows: list[tuple[str, float]]) -> str:
    base = rows[0][1]
    lines = [(name, f"{us:.2f}", f"{us - base:+.2f}") for name, us in rows]
    return harness.table(("client", "µs per call", "added"), lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otel_cost", description=__doc__)
    parser.add_argument("--number", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(table(asyncio.run(measure(args.number, args.repeat))))


if __name__ == "__main__":
    main()
