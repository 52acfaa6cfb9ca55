"""OpenTelemetry (issue 15, item 6), with the OpenTelemetry SDK's in-memory span exporter and
metric reader, against a loopback server: a span per call, a child span per attempt, the HTTP
client conventions, the metrics, webhook spans, and no secret in any attribute."""

from __future__ import annotations

import asyncio
import json
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from d360_calling import (
    BadRequestError,
    CallingSettings,
    Client,
    OutcomeUnknownError,
    RetryPolicy,
    ServerError,
    SessionDescription,
    SipServer,
    SipSettings,
)
from d360_calling.middleware.otel import Telemetry
from d360_calling.webhooks import Receiver, Router, sign

from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, OFFER_SDP, WA_ID
from ..support.server import Recorded, Reply, ScriptedServer, reply, reset_after_read
from ..support.sleep import FakeSleep

UNAVAILABLE = reply(503, {"error": {"message": "(#131016) Service unavailable", "code": 131016}})


class Otel:
    """An in-memory tracer and meter provider, and a `Telemetry` bound to them."""

    def __init__(self, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.finished() if span.name == name]

    def metrics(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            item
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for item in scope.metrics
            if item.name == name
        ]

    def points(self, name: str) -> list[Any]:
        return [point for item in self.metrics(name) for point in item.data.data_points]

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def client(self, server: ScriptedServer, **options: Any) -> Client:
        options.setdefault("retry", RetryPolicy(sleep=FakeSleep(), random=lambda: 1.0))
        return Client(
            options.pop("api_key", API_KEY),
            base_url=server.base_url,
            middlewares=[self.telemetry.call],
            attempt_middlewares=[self.telemetry.attempt],
            **options,
        )


@pytest.fixture
def otel() -> Iterator[Otel]:
    made = Otel()
    yield made
    made.shutdown()


ANSWER = SessionDescription.answer(ANSWER_SDP)
OFFER = SessionDescription.offer(OFFER_SDP)


async def test_a_503_then_a_200_is_one_call_span_with_two_attempt_spans(
    server: ScriptedServer, otel: Otel
) -> None:
    server.script(UNAVAILABLE)
    async with otel.client(server) as client:
        await client.calls.accept(CALL_ID, ANSWER)
    [call] = otel.named("calls.accept")
    attempts = sorted(otel.named("POST /calling/calls"), key=lambda s: s.start_time or 0)
    assert len(attempts) == 2
    assert len(otel.finished()) == 3
    assert call.kind is SpanKind.INTERNAL
    assert call.parent is None
    for attempt in attempts:
        assert attempt.kind is SpanKind.CLIENT
        assert attempt.parent is not None
        assert attempt.parent.span_id == call.context.span_id
        assert attempt.context.trace_id == call.context.trace_id
    url = f"{server.base_url}/calling/calls"
    host, port = "127.0.0.1", server.port
    assert dict(call.attributes or {}) == {
        "d360.operation": "calls.accept",
        "http.request.method": "POST",
        "server.address": host,
        "server.port": port,
        "url.full": url,
        "d360.call_id": CALL_ID,
        "http.response.status_code": 200,
        "d360.attempts": 2,
    }
    assert call.status.status_code is StatusCode.UNSET
    first, second = (dict(a.attributes or {}) for a in attempts)
    common = {
        "http.request.method": "POST",
        "server.address": host,
        "server.port": port,
        "url.full": url,
        "d360.operation": "calls.accept",
        "d360.call_id": CALL_ID,
    }
    assert first == {
        **common,
        "http.response.status_code": 503,
        "error.type": "503",
        "d360.error.code": 131016,
    }
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert second == {
        **common,
        "http.request.resend_count": 1,
        "d360.retry.wait": 0.25,
        "http.response.status_code": 200,
    }
    [duration] = otel.metrics("http.client.request.duration")
    assert duration.unit == "s"
    durations = otel.points("http.client.request.duration")
    assert list(durations[0].explicit_bounds)[:3] == [0.005, 0.01, 0.025]
    assert sorted(p.attributes.get("http.response.status_code") for p in durations) == [200, 503]
    assert all(p.count == 1 for p in durations)
    failed = next(p for p in durations if p.attributes.get("error.type") == "503")
    assert failed.attributes["d360.operation"] == "calls.accept"
    [retries] = otel.points("d360.client.retries")
    assert retries.value == 1
    assert dict(retries.attributes) == {
        "d360.operation": "calls.accept",
        "server.address": host,
        "error.type": "503",
    }


async def test_a_connect_that_ends_outcome_unknown_is_marked(
    server: ScriptedServer, otel: Otel
) -> None:
    server.script(reset_after_read())
    async with otel.client(server) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.calls.connect(WA_ID, OFFER)
    [call] = otel.named("calls.connect")
    [attempt] = otel.named("POST /calling/calls")
    for span in (call, attempt):
        attributes = dict(span.attributes or {})
        assert attributes["d360.outcome_unknown"] is True
        assert attributes["error.type"] == "OutcomeUnknownError"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "OutcomeUnknownError"
        assert "d360.recipient" not in attributes
    assert dict(call.attributes or {})["d360.attempts"] == 1


async def test_a_5xx_connect_is_outcome_unknown_with_its_status(
    server: ScriptedServer, otel: Otel
) -> None:
    server.script(UNAVAILABLE)
    async with otel.client(server) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.calls.connect(WA_ID, OFFER)
    [call] = otel.named("calls.connect")
    [attempt] = otel.named("POST /calling/calls")
    assert dict(attempt.attributes or {})["error.type"] == "503"
    for span in (call, attempt):
        attributes = dict(span.attributes or {})
        assert attributes["d360.outcome_unknown"] is True
        assert attributes["http.response.status_code"] == 503
        assert attributes["d360.error.code"] == 131016


async def test_a_connect_records_the_call_id_it_got(server: ScriptedServer, otel: Otel) -> None:
    async with otel.client(server) as client:
        result = await client.calls.connect(WA_ID, OFFER)
    [call] = otel.named("calls.connect")
    assert dict(call.attributes or {})["d360.call_id"] == result.call_id


async def test_recipients_are_redacted_unless_asked_for(server: ScriptedServer) -> None:
    for record in (False, True):
        otel = Otel(record_recipient=record)
        async with otel.client(server) as client:
            await client.permissions.get(WA_ID)
        [call] = otel.named("permissions.get")
        [attempt] = otel.named("GET /calling/permissions/{wa_id}")
        for span in (call, attempt):
            url = dict(span.attributes or {})["url.full"]
            shown = WA_ID if record else "REDACTED"
            assert url == f"{server.base_url}/calling/permissions/{shown}"
        assert dict(call.attributes or {}).get("d360.recipient") == (WA_ID if record else None)
        otel.shutdown()


async def test_a_final_error_is_one_failed_attempt(server: ScriptedServer, otel: Otel) -> None:
    server.script(*[UNAVAILABLE] * 4)
    async with otel.client(server) as client:
        with pytest.raises(ServerError):
            await client.calls.terminate(CALL_ID)
    [call] = otel.named("calls.terminate")
    attributes = dict(call.attributes or {})
    assert attributes["error.type"] == "ServerError"
    assert attributes["d360.attempts"] == 4
    assert call.status.description == "ServerError (code 131016)"
    assert len(otel.named("POST /calling/calls")) == 4
    [retries] = otel.points("d360.client.retries")
    assert retries.value == 3


def test_importing_the_sdk_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, d360_calling, d360_calling.webhooks, d360_calling.middleware\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- webhooks ----------------------------------------------------------------------------------

SECRET = "webhook-secret"


def calls_webhook(call: dict[str, Any]) -> bytes:
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "200000000000001",
                "changes": [
                    {"field": "calls", "value": {"messaging_product": "whatsapp", "calls": [call]}}
                ],
            }
        ],
    }
    return json.dumps(body).encode()


def terminate(call_id: str) -> bytes:
    return calls_webhook(
        {
            "id": call_id,
            "from": "14155550123",
            "to": "15550001234",
            "event": "terminate",
            "timestamp": str(int(time.time())),
            "direction": "BUSINESS_INITIATED",
            "status": "COMPLETED",
        }
    )


async def test_webhook_deliveries_and_handlers_get_spans_linked_to_the_call(
    server: ScriptedServer, otel: Otel
) -> None:
    router = Router()
    handled = asyncio.Event()

    @router.on_terminate
    async def ended(event: Any) -> None:
        handled.set()

    async with otel.client(server) as client:
        placed = await client.calls.connect(WA_ID, OFFER)
        receiver = Receiver(router, client=client, secret=SECRET, telemetry=otel.telemetry)
        body = terminate(placed.call_id)
        reply_ = await receiver.receive(body, sign(body, SECRET))
        assert reply_.status == 200
        await asyncio.wait_for(handled.wait(), 5)
        await receiver.aclose()
        refused = await Receiver(router, secret=SECRET).receive(body, {})
        assert refused.status == 401
    [connect] = otel.named("calls.connect")
    [delivery] = otel.named("webhook delivery")
    [handler] = otel.named("webhook terminate")
    assert handler.parent is not None
    assert handler.parent.span_id == delivery.context.span_id
    delivery_attributes = dict(delivery.attributes or {})
    assert delivery_attributes["d360.call_id"] == placed.call_id
    assert delivery_attributes["d360.webhook.events"] == 1
    assert list(delivery_attributes["d360.webhook.event_kinds"]) == ["terminate"]
    assert delivery_attributes["http.response.status_code"] == 200
    handler_attributes = dict(handler.attributes or {})
    assert handler_attributes["d360.call_id"] == placed.call_id
    assert handler_attributes["d360.webhook.handler"].endswith("ended")
    for span in (delivery, handler):
        assert [link.context.span_id for link in span.links] == [connect.context.span_id]


async def test_a_failing_handler_marks_its_span(otel: Otel) -> None:
    router = Router()

    @router.on_terminate
    async def broken(event: Any) -> None:
        raise RuntimeError("handler bug")

    receiver = Receiver(router, secret=SECRET, telemetry=otel.telemetry)
    body = terminate("wacid.BROKEN")
    await receiver.receive(body, sign(body, SECRET))
    await receiver.aclose()
    [handler] = otel.named("webhook terminate")
    assert handler.status.status_code is StatusCode.ERROR
    assert dict(handler.attributes or {})["error.type"] == "RuntimeError"
    assert handler.links == ()


# --- no secret in any attribute, event, status or metric ---------------------------------------

SECRET_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&*+-.^_|~", min_size=12, max_size=40
).map(lambda text: f"~S~{text}")  # a marker, so a secret is never a substring of a field name


def everything_recorded(otel: Otel) -> str:
    """Every attribute, event, link, status and metric attribute, as one text."""
    parts: list[str] = []
    for span in otel.finished():
        parts.append(span.name)
        parts.append(repr(dict(span.attributes or {})))
        parts.append(repr(span.status.description))
        for event in span.events:
            parts.append(event.name + repr(dict(event.attributes or {})))
        for link in span.links:
            parts.append(repr(dict(link.attributes or {})))
    for name in ("http.client.request.duration", "d360.client.retries"):
        parts.extend(repr(dict(point.attributes)) for point in otel.points(name))
    return "\n".join(parts)


async def leak_scenario(key: str, password: str) -> str:
    marker_sdp = OFFER_SDP + f"a=x-secret:{password}\r\n"

    def echo(seen: Recorded) -> Reply:
        """Answers that quote the key, the password and the SDP back in errors and bodies."""
        quoted = f"{key} {password} {seen.body!r}"
        if seen.method == "GET" and seen.path == "/calling/settings":
            settings = {
                "calling": {
                    "status": "ENABLED",
                    "sip": {
                        "status": "ENABLED",
                        "servers": [{"hostname": "sip.example.com", "sip_user_password": password}],
                    },
                }
            }
            return Reply(json=settings)
        return Reply(400, {"error": {"message": quoted, "code": 100}}, headers={"X-Echo": key})

    otel = Otel(record_recipient=True)
    async with ScriptedServer(default=echo) as server:
        async with otel.client(server, api_key=key, retry=None) as client:
            await client.settings.get(include_sip_credentials=True)
            server_ = SipServer(hostname="h", port=5060, sip_user_password=password)
            sip = SipSettings(status="ENABLED", servers=(server_,))
            with pytest.raises(BadRequestError):
                await client.settings.update(CallingSettings(sip=sip))
            with pytest.raises(BadRequestError):
                await client.calls.connect(WA_ID, SessionDescription.offer(marker_sdp))
            with pytest.raises(BadRequestError):
                await client.calls.accept(CALL_ID, SessionDescription.answer(marker_sdp))
            # A webhook signed with the key as its secret, carrying the SDP, through a
            # traced receiver whose handler answers with the SDP.
            router = Router()

            @router.on_connect
            async def answer(call: Any) -> None:
                with pytest.raises(BadRequestError):
                    await call.pre_accept(marker_sdp)

            receiver = Receiver(router, client=client, secret=key, telemetry=otel.telemetry)
            body = calls_webhook(
                {
                    "id": CALL_ID,
                    "from": "14155550123",
                    "to": "15550001234",
                    "event": "connect",
                    "timestamp": str(int(time.time())),
                    "direction": "USER_INITIATED",
                    "session": {"sdp_type": "offer", "sdp": marker_sdp},
                }
            )
            assert (await receiver.receive(body, sign(body, key))).status == 200
            await receiver.aclose()
    recorded = everything_recorded(otel)
    otel.shutdown()
    return recorded


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(key=SECRET_TEXT, password=SECRET_TEXT)
def test_no_attribute_holds_a_secret(key: str, password: str) -> None:
    recorded = asyncio.run(leak_scenario(key, password))
    assert "calls.connect" in recorded
    assert "settings.get" in recorded
    assert "webhook connect" in recorded
    assert "calls.pre_accept" in recorded
    assert key not in recorded
    assert password not in recorded
    assert "a=x-secret" not in recorded
    assert "v=0" not in recorded
