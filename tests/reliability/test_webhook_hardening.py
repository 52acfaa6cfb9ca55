"""The webhook receiver facing the internet: oversized bodies refused (413), bad signatures
refused before any parsing (401), and a flood of 10k deliveries, half of them repeats, handled
once each in bounded memory."""

from __future__ import annotations

import asyncio
import json
import random
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from d360_calling import webhooks
from d360_calling.shared_state import LocalState

from ..support.webhooks import post

SECRET = "platform-secret"
PHONE_NUMBER_ID = "100000000000001"


def status_body(n: int, status: str = "RINGING") -> bytes:
    """A `calls` status webhook for call number `n` (API reference §4.3)."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "200000000000001",
                "changes": [
                    {
                        "field": "calls",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001234",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "statuses": [
                                {
                                    "id": f"wacid.flood-{n}",
                                    "timestamp": str(int(time.time())),
                                    "type": "call",
                                    "status": status,
                                    "recipient_id": "14155550123",
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


class Spy:
    """Counts calls to the parser and to every handler."""

    def __init__(self) -> None:
        self.parsed = 0
        self.handled = 0


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Wraps the parser the receiver uses, so a test can prove it never ran."""
    seen = Spy()

    def counting_parse(body: Any) -> list[webhooks.Event]:
        seen.parsed += 1
        return webhooks.parse(body)

    monkeypatch.setattr("d360_calling.webhooks.receiver.parse", counting_parse)
    return seen


def counting_router(spy: Spy) -> webhooks.Router:
    router = webhooks.Router()

    async def count(_: object) -> None:
        spy.handled += 1

    for register in (
        router.on_connect,
        router.on_status,
        router.on_terminate,
        router.on_permission_reply,
        router.on_unknown,
    ):
        register(count)
    return router


@pytest.fixture
async def served(spy: Spy) -> AsyncIterator[tuple[webhooks.Receiver, str]]:
    """A receiver with a secret and a 4 KiB body cap, served on loopback; yields it and its URL."""
    receiver = webhooks.Receiver(counting_router(spy), secret=SECRET, max_body_size=4096)
    # aiohttp's server lingers up to `lingering_time` (10 s by default) reading the rest of a
    # refused upload, which would only slow the fixture's shutdown here.
    runner = web.AppRunner(receiver.app, access_log=None, lingering_time=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield receiver, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    finally:
        await runner.cleanup()


# --- oversized bodies ----------------------------------------------------------------------


async def test_oversized_body_with_content_length_is_413(
    served: tuple[webhooks.Receiver, str], http: aiohttp.ClientSession, spy: Spy
) -> None:
    receiver, url = served
    body = status_body(1) + b" " * 5000
    assert await post(http, url, body, webhooks.sign(body, SECRET)) == 413
    assert (spy.parsed, spy.handled) == (0, 0)
    assert receiver.stats["too_large"] == 1


async def test_oversized_chunked_body_is_413_without_reading_it_all(
    served: tuple[webhooks.Receiver, str], http: aiohttp.ClientSession, spy: Spy
) -> None:
    receiver, url = served
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1024):  # up to 64 MiB, far past the 4 KiB cap
            sent += 65536
            yield b" " * 65536

    try:
        status = await post(http, url, endless())
    except aiohttp.ClientError:
        status = 413  # the server may hang up mid-upload once it refused; that is refusal too
    assert status == 413
    assert sent < 64 * 1024 * 1024
    assert (spy.parsed, spy.handled) == (0, 0)
    assert receiver.stats["too_large"] == 1


async def test_handler_on_the_users_app_enforces_its_own_cap(
    http: aiohttp.ClientSession, spy: Spy
) -> None:
    """Mounted on an app with aiohttp's default 1 MiB cap, the receiver's smaller cap holds."""
    receiver = webhooks.Receiver(counting_router(spy), secret=SECRET, max_body_size=1024)
    app = web.Application()
    app.router.add_post("/hooks", receiver.handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
        big = status_body(1) + b" " * 2048

        async def chunks() -> AsyncIterator[bytes]:
            yield big

        assert await post(http, url, big) == 413
        assert await post(http, url, chunks()) == 413
        assert await post(http, url, status_body(2), webhooks.sign(status_body(2), SECRET)) == 200
    finally:
        await runner.cleanup()
        await receiver.aclose()
    assert receiver.stats["too_large"] == 2
    assert spy.parsed == 1


# --- signatures before parsing -------------------------------------------------------------


def bad_signatures() -> Iterator[tuple[str, bytes, dict[str, str]]]:
    body = status_body(7)
    good = webhooks.sign(body, SECRET)["x-360dialog-signature"]
    yield "missing", body, {}
    yield "wrong", body, {"x-360dialog-signature": "0" * 64}
    yield "malformed", body, {"x-360dialog-signature": "sha256=zz"}
    yield "other-secret", body, webhooks.sign(body, "not-the-secret")
    yield "other-body", body + b" ", {"x-360dialog-signature": good}
    yield "meta-wrong", body, {"X-Hub-Signature-256": "sha256=" + "f" * 64}
    yield "truncated", body, {"x-360dialog-signature": good[:-1]}
    yield "not-json-unsigned", b"[" * 3000, {}
    yield "empty", b"", {"x-360dialog-signature": good}


@pytest.mark.parametrize(
    ("body", "headers"),
    [(body, headers) for _, body, headers in bad_signatures()],
    ids=[name for name, _, _ in bad_signatures()],
)
async def test_bad_signature_is_401_and_nothing_is_parsed(
    served: tuple[webhooks.Receiver, str],
    http: aiohttp.ClientSession,
    spy: Spy,
    body: bytes,
    headers: dict[str, str],
) -> None:
    receiver, url = served
    assert await post(http, url, body, headers) == 401
    assert (spy.parsed, spy.handled) == (0, 0)
    assert receiver.stats["bad_signature"] == 1


async def test_good_signature_is_parsed_and_handled_once(
    served: tuple[webhooks.Receiver, str], http: aiohttp.ClientSession, spy: Spy
) -> None:
    """The control for the tests above: the spy does see a delivery that is signed right."""
    receiver, url = served
    body = status_body(8)
    for headers in (webhooks.sign(body, SECRET), webhooks.sign(body, SECRET, "meta")):
        assert await post(http, url, body, headers) == 200
    await asyncio.sleep(0.01)
    assert (spy.parsed, spy.handled) == (2, 1)
    assert receiver.stats["duplicates"] == 1


@pytest.mark.parametrize(
    "body",
    [b"[" * 2000 + b"]" * 2000, b"{not json", b'{"entry": 5}', "é".encode("latin-1")],
    ids=["nested", "broken", "shape", "not-utf8"],
)
async def test_signed_but_malformed_body_is_400_not_a_crash(
    served: tuple[webhooks.Receiver, str], http: aiohttp.ClientSession, spy: Spy, body: bytes
) -> None:
    receiver, url = served
    assert await post(http, url, body, webhooks.sign(body, SECRET)) == 400
    assert spy.handled == 0
    assert receiver.stats["malformed"] == 1


# --- the flood -----------------------------------------------------------------------------

UNIQUE = 5000
WINDOW = 200
"""A repeat arrives within this many deliveries of its original (retries come soon)."""
DEDUPE_ENTRIES = 1000


def flood_order(seed: int) -> list[int]:
    """Each of UNIQUE events twice, every repeat within WINDOW deliveries of its original."""
    rng = random.Random(seed)
    order: list[int] = []
    pending: list[int] = []
    for n in range(UNIQUE):
        order.append(n)
        pending.append(n)
        while pending and (len(pending) > WINDOW // 2 or rng.random() < 0.5):
            order.append(pending.pop(rng.randrange(len(pending))))
    rng.shuffle(pending)
    order += pending
    return order


async def test_flood_of_10k_deliveries_half_repeats_in_bounded_memory() -> None:
    handled = bytearray(UNIQUE)

    router = webhooks.Router()

    @router.on_status
    async def count(event: webhooks.CallStatus) -> None:
        handled[int(event.call_id.rsplit("-", 1)[1])] += 1

    state = LocalState(max_dedupe_entries=DEDUPE_ENTRIES)
    receiver = webhooks.Receiver(router, secret=SECRET, shared_state=state)
    order = flood_order(seed=11)
    assert len(order) == 2 * UNIQUE
    bodies = {n: status_body(n) for n in range(UNIQUE)}
    sizes: list[int] = []

    tracemalloc.start()
    try:
        for delivered, n in enumerate(order, 1):
            await receiver.dispatch(webhooks.parse(bodies[n]))
            if delivered % 100 == 0:
                await asyncio.sleep(0)  # let the handlers run, as a server would between requests
            if delivered % 2000 == 0:
                sizes.append(tracemalloc.get_traced_memory()[0])
                assert state.dedupe_size() <= DEDUPE_ENTRIES
    finally:
        tracemalloc.stop()
        await receiver.aclose()

    assert handled == bytearray([1]) * UNIQUE, "an event was dropped or handled twice"
    assert receiver.stats["events"] == 2 * UNIQUE
    assert receiver.stats["duplicates"] == UNIQUE
    assert state.dedupe_size() == DEDUPE_ENTRIES
    # Memory plateaus once the dedupe set is full (~2000 deliveries in): what the remaining
    # 8000 deliveries add is noise, not a set that grows with traffic.
    growth = max(sizes[1:]) - sizes[0]
    assert growth < 256 * 1024, f"memory grew {growth / 1024:.0f} KiB over 8000 deliveries"


async def test_flood_over_http_with_signatures(http: aiohttp.ClientSession) -> None:
    unique = 500
    handled = bytearray(unique)
    router = webhooks.Router()

    @router.on_status
    async def count(event: webhooks.CallStatus) -> None:
        handled[int(event.call_id.rsplit("-", 1)[1])] += 1

    receiver = webhooks.Receiver(router, secret=SECRET, shared_state=LocalState())
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    order = list(range(unique)) * 2
    random.Random(5).shuffle(order)
    limit = asyncio.Semaphore(16)

    async def deliver(n: int) -> int:
        body = status_body(n)
        async with limit:
            return await post(http, url, body, webhooks.sign(body, SECRET))

    try:
        statuses = await asyncio.gather(*(deliver(n) for n in order))
    finally:
        await runner.cleanup()
    assert statuses == [200] * len(order)
    assert handled == bytearray([1]) * unique
    assert receiver.stats["duplicates"] == unique
