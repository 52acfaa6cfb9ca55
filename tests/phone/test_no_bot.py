"""When a call from the /phone page reaches no bot, the page hears why at once and the call
ends (issue 26, item 7): no webhook URL, nothing listening there, or an error answer. Over the
page's WebSocket protocol, without a browser; `test_no_bot_browser.py` shows it in Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from d360_calling.sandbox import Sandbox
from d360_calling.sandbox.phone.no_bot import connect_call_id, no_bot_message
from d360_calling.sandbox.webhooks import DeliveryFailure, status_reason, unreachable_reason
from tests.support.sandbox import KEY, USER, Receiver

from ..support.phone_samples import BROWSER_OFFER
from .test_protocol import Page

QUIET = 0.5
"""Seconds a page waits to show that a message does not come."""


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port bound but not listening: every connection to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@contextlib.asynccontextmanager
async def phone_page(webhook_url: str | None) -> AsyncIterator[tuple[Sandbox, Page]]:
    """A sandbox with /phone posting its webhooks to `webhook_url`, and its page's socket."""
    async with (
        Sandbox(api_key=KEY, webhook_url=webhook_url, phone=True) as box,
        aiohttp.ClientSession(base_url=box.base_url) as http,
        http.ws_connect("/phone/ws", origin=box.base_url) as ws,
    ):
        page = Page(ws)
        await page.next("hello")
        yield box, page


async def nothing_more(page: Page, kind: str) -> None:
    """No message of type `kind` comes within `QUIET` seconds."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(QUIET):
            while True:
                message = await page.socket.receive_json()
                page.seen.append(message)
                assert message["type"] != kind, message


async def test_a_refused_connection_is_named_on_the_page_and_the_call_ends() -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/webhook"
        async with phone_page(url) as (box, page):
            await page.send(type="call", sdp=BROWSER_OFFER)
            placed = await page.next("call", direction="outgoing", state="ringing")
            told = await page.next("no_bot", call_id=placed["call_id"])
            assert told["message"] == (
                f"No bot answered: the sandbox could not reach {url} (connection refused). "
                "Start your bot there, or run `python -m d360_calling phone` for a built-in one."
            )
            await page.next("call", call_id=placed["call_id"], state="terminated")
            assert box.calls[placed["call_id"]].state.value == "terminated"
            [connect, *_] = box.webhook_failures
            assert connect.reason == "connection refused"
            assert connect.url == url
            assert connect_call_id(connect.payload) == placed["call_id"]


async def test_without_a_webhook_url_the_page_says_so() -> None:
    async with phone_page(None) as (box, page):
        await page.send(type="call", sdp=BROWSER_OFFER)
        placed = await page.next("call", direction="outgoing", state="ringing")
        told = await page.next("no_bot", call_id=placed["call_id"])
        assert told["message"].startswith(
            "No bot answered: the sandbox has no webhook URL, so no bot hears your calls."
        )
        assert "--webhook-url" in told["message"]
        assert "python -m d360_calling phone" in told["message"]
        await page.next("call", call_id=placed["call_id"], state="terminated")
        assert box.webhook_failures == []  # recorded, as without a page: not a failure


async def test_a_bot_that_refuses_the_signature_is_named_with_the_likely_cause() -> None:
    receiver = Receiver(status=401)
    await receiver.start()
    try:
        async with phone_page(receiver.url) as (_, page):
            await page.send(type="call", sdp=BROWSER_OFFER)
            placed = await page.next("call", direction="outgoing", state="ringing")
            told = await page.next("no_bot", call_id=placed["call_id"])
            assert told["message"] == (
                f"No bot answered: {receiver.url} answered the call's webhook with HTTP 401 "
                "(a bad signature? the bot and the sandbox need the same webhook secret). "
                "Fix your bot there, or run `python -m d360_calling phone` for a built-in one."
            )
            await page.next("call", call_id=placed["call_id"], state="terminated")
    finally:
        await receiver.close()


async def test_a_bot_that_takes_the_webhook_leaves_the_call_ringing() -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with phone_page(receiver.url) as (box, page):
            await page.send(type="call", sdp=BROWSER_OFFER)
            placed = await page.next("call", direction="outgoing", state="ringing")
            await nothing_more(page, "no_bot")
            assert box.calls[placed["call_id"]].state.value == "ringing"
            assert receiver.events() == ["connect"]
    finally:
        await receiver.close()


async def test_only_the_pages_own_calls_are_ended() -> None:
    """A call rung from code (`sandbox.ring`) keeps ringing as before, page or not."""
    with refusing_port() as port:
        async with phone_page(f"http://127.0.0.1:{port}/webhook") as (box, page):
            call_id = await box.ring(USER)
            await nothing_more(page, "no_bot")
            assert box.calls[call_id].state.value == "ringing"
            assert len(box.webhook_failures) == 1


def failure(error: str, reason: str, url: str | None) -> DeliveryFailure:
    return DeliveryFailure({}, error, reason, url)


def test_the_reasons_read_as_words() -> None:
    assert status_reason(500) == "HTTP 500"
    assert status_reason(404) == "HTTP 404 (is the path right? an SDK Receiver serves /webhook)"
    assert unreachable_reason(TimeoutError(), 5.0) == "no answer within 5 s"
    assert unreachable_reason(aiohttp.ServerDisconnectedError(), 5.0) == (
        "it closed the connection without answering"
    )
    message = no_bot_message(failure("HTTP 500", "HTTP 500", "http://127.0.0.1:1/webhook"))
    assert message.startswith("No bot answered: http://127.0.0.1:1/webhook answered the call's")
    assert connect_call_id({"entry": []}) is None
    assert connect_call_id({"entry": [{"changes": [{"value": {"statuses": [{}]}}]}]}) is None


def test_the_sandbox_names_its_key_secret_and_webhook_url() -> None:
    box = Sandbox(api_key="k-1", webhook_url="http://127.0.0.1:1/webhook", webhook_secret="s-1")
    assert (box.api_key, box.webhook_url, box.webhook_secret) == (
        "k-1",
        "http://127.0.0.1:1/webhook",
        "s-1",
    )
    assert Sandbox().webhook_url is None
