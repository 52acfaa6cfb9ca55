"""The webhook receiver and router: acknowledgement, dedupe, ordering, failures, shutdown, and
the examples, against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from d360_calling import Client, LocalState, ValidationError
from d360_calling.sandbox import Sandbox, WebhookDelivery
from d360_calling.shared_state import InMemoryDedupe
from d360_calling.webhooks import (
    CallTerminate,
    IncomingCall,
    Receiver,
    ReceiverClosedError,
    Router,
    parse,
    sign,
)
from examples import inbound_bot, outbound_campaign, permission_then_call

from ..support.webhooks import connect_body, serve, terminate_body

SECRET = "receiver-secret"


class Served:
    """A receiver on loopback and an HTTP session to post at it."""

    def __init__(self, receiver: Receiver, runner: web.AppRunner, http: aiohttp.ClientSession):
        self.receiver = receiver
        self.runner = runner
        self.http = http
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"

    async def post(
        self, body: bytes, headers: dict[str, str] | None = None, *, signed: bool = True
    ) -> int:
        """Post `body`, signed with `SECRET` unless headers are given or `signed` is false."""
        if headers is None:
            headers = sign(body, SECRET) if signed else {}
        async with self.http.post(self.url, data=body, headers=headers) as response:
            return response.status


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    options = {"secret": SECRET, **getattr(request, "param", {})}
    receiver = Receiver(Router(), **options)
    runner = await serve(receiver)
    async with aiohttp.ClientSession() as http:
        yield Served(receiver, runner, http)
    await runner.cleanup()


async def test_200_inbound_calls_each_answered_once_despite_duplicates() -> None:
    router = Router()
    receiver = Receiver(router, secret=SECRET)

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        answer_sdp = inbound_bot.stand_in_answer(call.event.session)
        await call.pre_accept(answer_sdp)
        await call.accept(answer_sdp)

    runner = await serve(receiver)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    delivery = WebhookDelivery(shuffle=True, duplicate=True, seed=3)
    try:
        async with (
            Sandbox(
                api_key="k", webhook_url=url, webhook_secret=SECRET, delivery=delivery
            ) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            call_ids = await asyncio.gather(*(sandbox.ring(f"1415555{n:04d}") for n in range(200)))
            for _ in range(200):
                if sandbox.stats.effects["calls.accept"] >= 200:
                    break
                await asyncio.sleep(0.05)
            await receiver.aclose()
            states = {sandbox.calls[c].state.value for c in call_ids}
            assert states == {"accepted"}
            assert sandbox.stats.effects["calls.pre_accept"] == 200
            assert sandbox.stats.effects["calls.accept"] == 200
            assert sandbox.stats.requests["calls.accept"] == 200
            assert receiver.stats["duplicates"] >= 200
            assert receiver.stats["handler_errors"] == 0
    finally:
        await runner.cleanup()


async def test_terminate_before_connect_skips_the_connect(served: Served) -> None:
    answered: list[str] = []
    ended: list[str] = []

    @served.receiver.router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        answered.append(call.call_id)

    @served.receiver.router.on_terminate
    async def on_terminate(event: CallTerminate) -> None:
        ended.append(event.call_id)

    assert await served.post(terminate_body("wacid.late")) == 200
    assert await served.post(connect_body("wacid.late")) == 200
    assert await served.post(connect_body("wacid.fresh")) == 200
    await served.receiver.aclose()
    assert ended == ["wacid.late"]
    assert answered == ["wacid.fresh"]
    assert served.receiver.router.has_ended("wacid.late")


async def test_slow_handler_does_not_delay_the_acknowledgement(served: Served) -> None:
    finished = asyncio.Event()

    @served.receiver.router.on_connect
    async def slow(call: IncomingCall) -> None:
        await asyncio.sleep(1.0)
        finished.set()

    started = time.monotonic()
    assert await served.post(connect_body("wacid.slow")) == 200
    assert time.monotonic() - started < 0.5
    assert not finished.is_set()
    await served.receiver.aclose()
    assert finished.is_set()


async def test_failing_handler_is_logged_and_others_still_run(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    @served.receiver.router.on_connect
    async def broken(call: IncomingCall) -> None:
        raise RuntimeError("boom")

    @served.receiver.router.on_connect
    async def fine(call: IncomingCall) -> None:
        seen.append(call.call_id)

    assert await served.post(connect_body("wacid.a")) == 200
    assert await served.post(connect_body("wacid.b")) == 200
    await served.receiver.aclose()
    assert seen == ["wacid.a", "wacid.b"]
    assert served.receiver.stats["handler_errors"] == 2
    assert caplog.text.count("webhook handler for CallConnect failed") == 2


@pytest.mark.parametrize("served", [{"shutdown_timeout": 0.2}], indirect=True)
async def test_shutdown_cancels_handlers_past_the_timeout(served: Served) -> None:
    cancelled = asyncio.Event()

    @served.receiver.router.on_connect
    async def stuck(call: IncomingCall) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    assert await served.post(connect_body("wacid.stuck")) == 200
    started = time.monotonic()
    await served.receiver.aclose()
    assert time.monotonic() - started < 2
    assert cancelled.is_set()
    assert await served.post(connect_body("wacid.after")) == 503


async def test_signatures_are_checked_before_parsing(served: Served) -> None:
    seen: list[str] = []

    @served.receiver.router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        seen.append(call.call_id)

    body = connect_body("wacid.signed")
    assert await served.post(body, signed=False) == 401
    assert await served.post(body, sign(body, "wrong-secret")) == 401
    assert await served.post(b"not json at all", sign(b"other", SECRET)) == 401
    assert await served.post(body, sign(body, SECRET)) == 200
    assert await served.post(body, sign(body, SECRET, scheme="meta")) == 200
    await served.receiver.aclose()
    assert seen == ["wacid.signed"]
    assert served.receiver.stats["bad_signature"] == 3
    assert served.receiver.stats["malformed"] == 0
    assert served.receiver.stats["duplicates"] == 1
    assert SECRET not in repr(served.receiver)


@pytest.mark.parametrize("served", [{"max_body_size": 4096}], indirect=True)
async def test_malformed_and_oversized_bodies_are_refused(served: Served) -> None:
    assert await served.post(b"{not json") == 400
    assert await served.post(b'{"entry": 5}') == 400
    assert await served.post(b"[" * 4000) == 400
    assert await served.post(b" " * 5000) == 413
    assert served.receiver.stats["malformed"] == 3
    assert served.receiver.stats["too_large"] == 1


async def test_stale_connects_are_dropped(served: Served) -> None:
    seen: list[str] = []

    @served.receiver.router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        seen.append(call.call_id)

    old = int(datetime.now(UTC).timestamp()) - 600
    assert await served.post(connect_body("wacid.old", timestamp=old)) == 200
    assert await served.post(connect_body("wacid.new")) == 200
    await served.receiver.aclose()
    assert seen == ["wacid.new"]
    assert served.receiver.stats["stale"] == 1


def test_dedupe_is_bounded_and_expires() -> None:
    now = [0.0]
    dedupe = InMemoryDedupe(ttl=10.0, max_entries=3, clock=lambda: now[0])
    assert [dedupe.first_time(k) for k in "abca"] == [True, True, True, False]
    assert dedupe.first_time("d") is True
    assert len(dedupe) == 3
    assert dedupe.first_time("a") is True  # "a" was the oldest and was pushed out
    now[0] = 11.0
    assert dedupe.first_time("d") is True
    assert len(dedupe) == 1


def test_router_forgets_old_calls() -> None:
    router = Router(remember_calls=2)
    for call_id in ("a", "b", "c"):
        router._mark_ended(call_id)
    assert not router.has_ended("a")
    assert router.has_ended("b")
    assert router.has_ended("c")


async def test_inbound_bot_example_answers_every_call() -> None:
    assert await inbound_bot.demo_with_sandbox(5) == 5


async def test_outbound_campaign_example() -> None:
    outcomes = await outbound_campaign.demo_with_sandbox()
    assert outcomes == {"called": 6, "no_permission": 4}


async def test_permission_then_call_example() -> None:
    call_id = await permission_then_call.demo_with_sandbox()
    assert call_id.startswith("wacid.")


async def test_no_event_is_lost_to_a_shutdown() -> None:
    handled: list[str] = []
    router = Router()

    @router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        handled.append(call.call_id)

    class ClosesWhileRecording(LocalState):
        """Shuts the receiver down while an event's key is being recorded."""

        receiver: Receiver | None = None

        async def first_time(self, key: str, ttl: float) -> bool:
            fresh = await super().first_time(key, ttl)
            if self.receiver is not None and key.endswith("wacid.after:connect"):
                await self.receiver.aclose()
            return fresh

    state = ClosesWhileRecording()
    receiver = Receiver(router, secret=SECRET, shared_state=state)
    state.receiver = receiver
    await receiver.dispatch(parse(connect_body("wacid.before")))
    with pytest.raises(ReceiverClosedError):
        await receiver.dispatch(parse(connect_body("wacid.after")))
    state.receiver = None
    again = Receiver(router, secret=SECRET, shared_state=state)
    await again.dispatch(parse(connect_body("wacid.after")))
    await again.aclose()
    assert handled == ["wacid.before", "wacid.after"]


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Receiver(Router(), secret="")
    assert caught.value.field == "secret"
