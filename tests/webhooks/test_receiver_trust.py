"""Trust at the receiver (issue 12): signatures are required by default, the body cap holds on a
user's own app, and a malformed item costs only itself. Over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from d360_calling import Client, ValidationError
from d360_calling.sandbox import Sandbox
from d360_calling.webhooks import (
    SECRET_ENV,
    IncomingCall,
    MalformedEvent,
    PermissionReply,
    Receiver,
    Router,
    sign,
)
from examples import inbound_bot

from ..support.webhooks import post

SECRET = "trust-secret"
MiB = 1024 * 1024


def reply_body(wa_id: str) -> bytes:
    """A `call_permission_reply` accepting for `wa_id`, as an attacker would forge it."""
    message = {
        "from": wa_id,
        "id": f"wamid.{wa_id}",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {
            "type": "call_permission_reply",
            "call_permission_reply": {"response": "accept", "is_permanent": True},
        },
    }
    value = {"messaging_product": "whatsapp", "messages": [message]}
    envelope = {"entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(envelope).encode()


async def serve(handler: Any, *, client_max_size: int = MiB) -> tuple[web.AppRunner, str]:
    """`handler` mounted at /hooks on an app of the user's, on a free loopback port."""
    app = web.Application(client_max_size=client_max_size)
    app.router.add_post("/hooks", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"


# --- 1. verification is the default ---------------------------------------------------------


def test_a_receiver_without_a_secret_refuses_to_construct(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ValidationError) as caught:
        Receiver(Router())
    assert caught.value.field == "secret"
    assert SECRET_ENV in str(caught.value)
    assert "verify=False" in str(caught.value)


def test_verify_false_with_a_secret_is_contradictory() -> None:
    with pytest.raises(ValidationError) as caught:
        Receiver(Router(), secret=SECRET, verify=False)
    assert caught.value.field == "verify"


async def test_a_forged_unsigned_reply_is_refused_and_runs_no_handler(
    monkeypatch: pytest.MonkeyPatch, http: aiohttp.ClientSession
) -> None:
    """The secret comes from the environment; the forged reply gets 401, the signed one 200."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    replies: list[str | None] = []
    router = Router()

    @router.on_permission_reply
    async def call_back(reply: PermissionReply) -> None:
        replies.append(reply.from_)

    receiver = Receiver(router)
    runner, url = await serve(receiver.handler)
    try:
        forged = reply_body("19995550100")
        assert await post(http, url, forged) == 401
        assert await post(http, url, forged, sign(forged, "attacker-guess")) == 401
        genuine = reply_body("14155550123")
        assert await post(http, url, genuine, sign(genuine, SECRET)) == 200
    finally:
        await receiver.aclose()
        await runner.cleanup()
    assert replies == ["14155550123"]
    assert receiver.stats["bad_signature"] == 2
    assert SECRET not in repr(receiver)


async def test_opting_out_is_explicit_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    replies: list[str | None] = []
    router = Router()

    @router.on_permission_reply
    async def record(reply: PermissionReply) -> None:
        replies.append(reply.from_)

    with caplog.at_level(logging.WARNING, logger="d360_calling.webhooks"):
        receiver = Receiver(router, verify=False)
        runner, url = await serve(receiver.handler)
        try:
            for n in range(3):
                body = reply_body(f"1415555000{n}")
                assert await post(http, url, body) == 200
        finally:
            await receiver.aclose()
            await runner.cleanup()
    warnings = [r for r in caplog.records if "NOT verified" in r.getMessage()]
    assert len(warnings) == 1
    assert len(replies) == 3


# --- 3. the body cap holds on the user's own app ----------------------------------------------


async def test_mounted_handler_refuses_a_huge_chunked_body_without_reading_it_whole(
    http: aiohttp.ClientSession,
) -> None:
    """The user's app allows 64 MiB; the receiver's 1 MiB cap still stops a 20 MiB chunked
    body after about 1 MiB, so the process never holds it (peak memory far below 20 MiB)."""
    receiver = Receiver(Router(), secret=SECRET, max_body_size=MiB)
    runner, url = await serve(receiver.handler, client_max_size=64 * MiB)
    chunk = b" " * (64 * 1024)

    async def twenty_mib() -> AsyncIterator[bytes]:
        for _ in range(20 * 16):
            yield chunk

    tracemalloc.start()
    try:
        try:
            status = await post(http, url, twenty_mib())
        except aiohttp.ClientError:
            status = 413  # the server may answer and close before the client finishes writing
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await receiver.aclose()
        await runner.cleanup()
    assert status == 413
    assert receiver.stats["too_large"] == 1
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB: the body was read whole"


async def test_mounted_handler_takes_a_body_exactly_at_the_cap(
    http: aiohttp.ClientSession,
) -> None:
    router = Router()
    seen: list[str] = []

    @router.on_permission_reply
    async def record(reply: PermissionReply) -> None:
        seen.append(reply.message_id)

    body = reply_body("14155550123")
    receiver = Receiver(router, secret=SECRET, max_body_size=len(body))
    runner, url = await serve(receiver.handler, client_max_size=64 * MiB)
    try:
        assert await post(http, url, body, sign(body, SECRET)) == 200
        padded = body + b" "
        assert await post(http, url, padded, sign(padded, SECRET)) == 413
    finally:
        await receiver.aclose()
        await runner.cleanup()
    assert seen == ["wamid.14155550123"]


# --- 4. a poisoned item costs only itself -----------------------------------------------------


async def test_a_malformed_item_does_not_lose_the_live_connect_beside_it(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """The sandbox rings a call; its connect is delivered in one POST with a terminate whose
    `duration` is off-spec. The connect is answered, the bad item reaches `on_malformed` and
    a warning, and the delivery is acknowledged with 200 (so it is not redelivered for a day)."""
    router = Router()
    malformed: list[MalformedEvent] = []

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        sdp = inbound_bot.stand_in_answer(call.event.session)
        await call.pre_accept(sdp)
        await call.accept(sdp)

    @router.on_malformed
    async def keep(event: MalformedEvent) -> None:
        malformed.append(event)

    receiver = Receiver(router, secret=SECRET)
    runner, url = await serve(receiver.handler)
    try:
        async with (
            Sandbox(api_key="k") as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            call_id = await sandbox.ring("14155550123")
            await sandbox.webhooks_idle()
            delivery = copy.deepcopy(sandbox.webhooks[-1])
            calls = delivery["entry"][0]["changes"][0]["value"]["calls"]
            bad = {**calls[0], "id": "wacid.other", "event": "terminate", "duration": [31]}
            calls.append(bad)
            body = json.dumps(delivery).encode()
            with caplog.at_level(logging.WARNING, logger="d360_calling.webhooks"):
                assert await post(http, url, body, sign(body, SECRET)) == 200
                for _ in range(100):
                    if sandbox.calls[call_id].state.value == "accepted" and malformed:
                        break
                    await asyncio.sleep(0.02)
            assert sandbox.calls[call_id].state.value == "accepted"
    finally:
        await receiver.aclose()
        await runner.cleanup()
    assert len(malformed) == 1
    assert malformed[0].path == "entry[0].changes[0].value.calls[1].duration"
    assert malformed[0].raw == bad
    assert receiver.stats["malformed_items"] == 1
    assert receiver.stats["malformed"] == 0
    assert any("calls[1].duration" in r.getMessage() for r in caplog.records)


async def test_an_envelope_that_is_not_one_is_still_a_400(http: aiohttp.ClientSession) -> None:
    receiver = Receiver(Router(), secret=SECRET)
    runner, url = await serve(receiver.handler)
    try:
        for body in (b"{not json", b'{"entry": 5}', b"[]"):
            assert await post(http, url, body, sign(body, SECRET)) == 400
    finally:
        await receiver.aclose()
        await runner.cleanup()
    assert receiver.stats["malformed"] == 3
