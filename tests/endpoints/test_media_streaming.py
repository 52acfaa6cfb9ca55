"""Media downloads through the session (issue 24 item 3): streamed in chunks with bounded memory
over a real loopback server, restarted whole on a retry, capped, run through the middleware
chain, and with no media id, URL or API key in any log record, error, repr or span."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import attrs
import pytest
from aioresponses import aioresponses as Aioresponses

from d360_calling import (
    Client,
    D360Error,
    Handler,
    MediaRef,
    RateLimitPolicy,
    Request,
    Response,
    ResponseDecodeError,
    RetryPolicy,
)
from d360_calling.endpoints.media_files import BUFFER, Spool

from ..support.clients import make_client
from ..support.samples import API_KEY
from ..support.server import Huge, Reply, ScriptedServer, Truncated
from .media_support import (
    BASE,
    FUTURE_EXT,
    HASH_TOKEN,
    MEDIA_ID,
    NOT_FOUND,
    PATH,
    add_file,
    add_lookup,
    lookup_answer,
    meta_url,
    served_url,
    sha256_of,
)


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def media_server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as server:
        yield server


async def test_a_large_file_streams_with_bounded_memory(
    media_server: ScriptedServer, tmp_path: Path
) -> None:
    size = 24 * 1024 * 1024  # six times the client's 4 MiB cap on JSON answers
    data_sha = base64.b64encode(hashlib.sha256(b" " * size).digest()).decode()
    answer = {**lookup_answer(b"", meta_url()), "sha256": data_sha, "file_size": size}
    media_server.routes[("GET", f"/{MEDIA_ID}")] = Reply(json=answer)
    media_server.routes[("GET", PATH)] = Huge(size, chunked=True)
    client = make_client(media_server.base_url, timeout=60)
    try:
        tracemalloc.start()
        result = await client.media.download(MEDIA_ID, tmp_path / "big.ogg")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        await client.aclose()
    assert result.size == size
    assert (tmp_path / "big.ogg").stat().st_size == size
    assert peak < 4 * 1024 * 1024, peak  # never the whole body (24 MiB) in memory
    sent = [r for r in media_server.requests if r.path == PATH]
    assert len(sent) == 1
    assert sent[0].query == {"mid": MEDIA_ID, "ext": "4102444800", "hash": HASH_TOKEN}
    assert sent[0].headers["D360-API-KEY"] == API_KEY


async def test_a_retried_download_starts_over(media_server: ScriptedServer, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    media_server.script(
        Truncated(sent=data[:70_000], declared=len(data)),
        Reply(body=data, content_type="audio/ogg"),
    )
    client = Client(
        API_KEY, base_url=media_server.base_url, retry=RetryPolicy(sleep=no_sleep), rate_limit=None
    )
    try:
        ref = MediaRef(MEDIA_ID, sha256=sha256_of(data), url=meta_url())
        result = await client.media.download(ref, tmp_path / "a.ogg")
    finally:
        await client.aclose()
    assert (tmp_path / "a.ogg").read_bytes() == data  # not the first attempt's bytes twice
    assert result.size == len(data)
    assert result.mime_type == "audio/ogg"  # the ref had none: the answer's Content-Type
    assert media_server.count(PATH) == 2


async def test_the_spool_starts_over_on_each_answer() -> None:
    memory = io.BytesIO()
    spool = Spool(memory, operation="media.download", limit=10**6, threaded=False)
    await spool.begin({})
    await spool.write(b"first attempt")
    await spool.begin({})
    for _ in range(40):
        await spool.write(b"x" * 10_000)
    await spool.flush()
    assert memory.getvalue() == b"x" * 400_000
    assert spool.size == 400_000
    assert spool.verify(sha256_of(b"x" * 400_000)) == sha256_of(b"x" * 400_000)
    assert BUFFER < 400_000  # written in several pieces, never held whole


async def test_max_body_size_caps_the_file(aioresponses: Aioresponses, tmp_path: Path) -> None:
    data = b"z" * 20_000
    add_file(aioresponses, served_url(BASE), data, repeat=True)
    client = make_client(BASE)
    ref = MediaRef(MEDIA_ID, sha256=sha256_of(data), url=meta_url())
    try:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.media.download(ref, tmp_path / "a.ogg", max_body_size=10_000)
        assert "10000 bytes" in str(caught.value)
        assert os.listdir(tmp_path) == []
        result = await client.media.download(ref, tmp_path / "a.ogg", max_body_size=20_000)
        assert result.size == 20_000
    finally:
        await client.aclose()


class Spy:
    """A user middleware that records what it sees of each request and answer."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, int]] = []

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        response = await call_next(request)
        self.seen.append((request.operation, request.path, repr(request), len(response.body)))
        return response


async def test_middlewares_see_templates_and_empty_download_bodies(
    aioresponses: Aioresponses, tmp_path: Path
) -> None:
    data = b"audio" * 1000
    add_lookup(aioresponses, data, meta_url())
    add_file(aioresponses, served_url(BASE), data)
    spy = Spy()
    client = make_client(BASE, middlewares=[spy])
    try:
        await client.media.download(MEDIA_ID, tmp_path / "a.ogg")
    finally:
        await client.aclose()
    assert [(op, path, size) for op, path, _, size in spy.seen] == [
        ("media.lookup", "/{media_id}", len(json.dumps(lookup_answer(data, meta_url())))),
        ("media.download", PATH, 0),
    ]
    for _, _, shown, _ in spy.seen:
        assert MEDIA_ID not in shown
        assert HASH_TOKEN not in shown


async def test_a_lookup_429_leaves_the_calls_gate_open(aioresponses: Aioresponses) -> None:
    aioresponses.get(
        f"{BASE}/{MEDIA_ID}",
        status=429,
        payload={"error": {"code": 4}},
        headers={"Retry-After": "90"},
    )
    client = Client(API_KEY, base_url=BASE, rate_limit=RateLimitPolicy(), retry=None)
    try:
        with pytest.raises(D360Error):
            await client.media.lookup(MEDIA_ID)
        assert client.shared_state.gate_wait() == 0.0  # calls are not held back by media
    finally:
        await client.aclose()


def secrets_absent(text: str) -> None:
    for secret in (MEDIA_ID, HASH_TOKEN, API_KEY, "lookaside"):
        assert secret not in text, (secret, text)


async def test_no_media_id_url_or_key_in_errors_or_logs(
    aioresponses: Aioresponses, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"error": {"message": f"bad {served_url(BASE)} for {MEDIA_ID}", "code": 2}}
    aioresponses.get(f"{BASE}/{MEDIA_ID}", status=404, payload=NOT_FOUND)
    aioresponses.get(served_url(BASE), status=500, payload=echo, repeat=True)
    gone = served_url(BASE, ext=FUTURE_EXT + 1)
    aioresponses.get(gone, exception=aiohttp.ClientOSError(f"reset {gone}"), repeat=True)
    client = Client(API_KEY, base_url=BASE, retry=RetryPolicy(sleep=no_sleep), rate_limit=None)
    errors: list[BaseException] = []
    caplog.set_level(logging.DEBUG, logger="d360_calling")
    try:
        for media, destination in [
            (MEDIA_ID, tmp_path / "a"),
            (MediaRef(MEDIA_ID, sha256=sha256_of(b""), url=meta_url()), io.BytesIO()),
            (MediaRef(MEDIA_ID, sha256=sha256_of(b""), url=meta_url(ext=FUTURE_EXT + 1)), None),
        ]:
            with pytest.raises(D360Error) as caught:
                await client.media.download(media, destination or io.BytesIO())
            errors.append(caught.value)
    finally:
        await client.aclose()
    assert [type(error).__name__ for error in errors] == [
        "MediaNotFoundError",
        "ServerError",
        "TransportError",
    ]
    assert any(
        r.getMessage().startswith("media.download: attempt 1 failed") for r in caplog.records
    )
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            secrets_absent(str(chain))
            secrets_absent(repr(chain))
            secrets_absent(json.dumps(getattr(chain, "body", None)))
            chain = chain.__cause__ or chain.__context__
    secrets_absent(caplog.text)
    secrets_absent(json.dumps([r.__dict__ for r in caplog.records], default=str))
    assert "***" in str(errors[1])  # the echoed URL was there, and is hidden


async def test_no_media_id_or_url_in_spans(aioresponses: Aioresponses, tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from d360_calling.middleware.otel import Telemetry

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(tracer_provider=provider, record_recipient=True)
    data = b"ogg" * 100
    add_lookup(aioresponses, data, meta_url())
    add_file(aioresponses, served_url(BASE), data)
    client = make_client(
        BASE, middlewares=[telemetry.call], attempt_middlewares=[telemetry.attempt]
    )
    try:
        await client.media.download(MEDIA_ID, tmp_path / "a.ogg")
    finally:
        await client.aclose()
    finished = spans.get_finished_spans()
    assert sorted(span.name for span in finished) == sorted(
        ["media.lookup", "GET /{media_id}", "media.download", f"GET {PATH}"]
    )
    for span in finished:
        secrets_absent(span.name)
        secrets_absent(json.dumps(dict(span.attributes or {}), default=str))


def test_request_repr_hides_the_target() -> None:
    from d360_calling.session import Target

    request = attrs.evolve(
        Request("GET", "/{media_id}", "media.lookup"),
        target=Target(f"/{MEDIA_ID}", (MEDIA_ID,)),
    )
    secrets_absent(repr(request))
    assert request.target is not None
    assert request.target.path == f"/{MEDIA_ID}"
