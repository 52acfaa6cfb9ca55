"""`python -m d360_calling phone` (issue 26, item 3): `serve_phone` on a free port prints the
real URL, and a call placed as the page places it (its WebSocket protocol, with a WebRTC peer
of our own for the browser) hears the built-in bot's greeting, then its menu; 1 brings a tone,
2 an echo of what the caller says, # a goodbye and the bot hanging up. Cancelling it closes
everything: no task, no UDP socket left."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from d360_calling._pcm import dominant_frequency
from d360_calling.phone_bot import serve_phone
from d360_calling.phone_bot_menu import (
    ECHO_BEEP_HZ,
    GREETING_HZ,
    MENU_HZ,
    MENU_TEXT,
    TONE_HZ,
)
from d360_calling.sandbox.peer import UserPeer
from d360_calling.sandbox.phone import BROWSER_SWITCHES

from .test_protocol import Page

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 60.0
CALLER_HZ = 440.0
PHONE_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/phone\b")


async def printed_url(out: io.StringIO, serving: asyncio.Task[int]) -> str:
    """The phone page's URL once `serve_phone` printed it."""
    async with asyncio.timeout(10.0):
        while not (found := PHONE_URL.search(out.getvalue())):
            assert not serving.done(), (out.getvalue(), serving)
            await asyncio.sleep(0.02)
    return found.group(0)


async def pitch(user: UserPeer) -> float | None:
    """The pitch of the caller's last 0.3 s, measured off the event loop: the estimate takes
    about 0.1 s of CPU, which, taken on the loop, would stall the bot's audio in this process."""
    return await asyncio.to_thread(dominant_frequency, user.heard_pcm(0.3))


async def hears(user: UserPeer, hz: float, *, within: float = 15.0) -> None:
    """Wait until the caller hears a tone of `hz` (an AssertionError after `within` s)."""
    last = None
    try:
        async with asyncio.timeout(within):
            while (last := await pitch(user)) is None or abs(last - hz) > 10.0:
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"the caller never heard {hz:g} Hz (last: {last})") from None


async def printed(out: io.StringIO, text: str) -> None:
    """Wait until `serve_phone` printed `text`."""
    async with asyncio.timeout(10.0):
        while text not in out.getvalue():
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serving_phone(**options: Any) -> AsyncIterator[tuple[str, io.StringIO]]:
    """`serve_phone` in a task on a free port: its page URL and what it printed; afterwards
    it is cancelled and must end cancelled, printing no error."""
    out = io.StringIO()
    task = asyncio.create_task(
        serve_phone(host="127.0.0.1", port=0, open_browser=False, out=out, **options)
    )
    try:
        yield await printed_url(out, task), out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled(), task


@contextlib.asynccontextmanager
async def page_of(url: str) -> AsyncIterator[Page]:
    base = url.removesuffix("/phone")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{base}/phone/ws", origin=base) as socket_,
    ):
        page = Page(socket_)
        await page.next("hello")
        yield page


async def call_the_bot(page: Page, user: UserPeer) -> str:
    """Place a call as the page does and connect the caller's audio; the call's id."""
    await page.send(type="call", sdp=user.sdp)
    placed = await page.next("call", direction="outgoing", state="ringing")
    call_id = str(placed["call_id"])
    answered = await page.next("call", call_id=call_id, state="pre_accepted")
    await user.apply_answer(answered["sdp"])
    await page.next("call", call_id=call_id, state="accepted")
    await user.wait_connected()
    return call_id


async def test_a_call_from_the_page_hears_the_greeting_and_keys_change_the_mode(
    loopback_guard: list[Any],
) -> None:
    async with asyncio.timeout(BOUND), serving_phone() as (url, out):
        assert not url.endswith(":0/phone")
        banner = out.getvalue()
        assert "API key: sandbox-key" in banner
        assert re.search(r"webhook secret: [0-9a-f]{32}\b", banner)
        assert BROWSER_SWITCHES in banner
        assert MENU_TEXT in banner
        user = await UserPeer.offer(tone_hz=CALLER_HZ)
        try:
            async with page_of(url) as page:
                call_id = await call_the_bot(page, user)
                await hears(user, GREETING_HZ)
                await hears(user, MENU_HZ)
                await user.press("1")
                await hears(user, TONE_HZ)
                await user.press("2")
                await hears(user, ECHO_BEEP_HZ)
                await hears(user, CALLER_HZ)  # what the caller said, played back
                await user.press("#")
                ended = await page.next("call", call_id=call_id, state="terminated")
                assert ended["duration"] is not None
        finally:
            await user.close()
        await printed(out, "ended, the caller pressed #")
        lines = out.getvalue()
        for said in ("key 1: a 1 kHz tone", "key 2: echo", "key #: goodbye"):
            assert said in lines, lines
    assert loopback_guard, "the bot sent no datagram at all"


async def test_the_caller_hanging_up_ends_the_bots_call() -> None:
    async with asyncio.timeout(BOUND), serving_phone() as (url, out):
        user = await UserPeer.offer(tone_hz=CALLER_HZ)
        try:
            async with page_of(url) as page:
                call_id = await call_the_bot(page, user)
                await hears(user, GREETING_HZ)
                await page.send(type="hangup", call_id=call_id)
                await page.next("call", call_id=call_id, state="terminated")
                await printed(out, "ended, the caller hung up")
        finally:
            await user.close()


async def test_stopping_during_a_call_hangs_it_up_and_closes_everything() -> None:
    async with asyncio.timeout(BOUND), aiohttp.ClientSession() as http:
        user = await UserPeer.offer(tone_hz=CALLER_HZ)
        try:
            async with serving_phone() as (url, out):
                base = url.removesuffix("/phone")
                socket_ = await http.ws_connect(f"{base}/phone/ws", origin=base)
                page = Page(socket_)
                await page.next("hello")
                call_id = await call_the_bot(page, user)
                await hears(user, GREETING_HZ)
            # Cancelled: the bot hung up, then the sandbox closed the page's socket.
            async for frame in socket_:
                page.seen.append(frame.json())
            await socket_.close()
        finally:
            await user.close()
    states = [m["state"] for m in page.seen if m["type"] == "call" and m["call_id"] == call_id]
    assert states[-1] == "terminated", page.seen
    assert "bot → sandbox calls.terminate 200" in page.logged()
    assert "ended," not in out.getvalue()  # cut short, not ended by the menu


async def test_the_bot_listens_on_the_port_asked_for() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with asyncio.timeout(BOUND), serving_phone(bot_port=port) as (_, out):
        assert f"bot webhook   http://127.0.0.1:{port}/webhook" in out.getvalue()


async def test_a_port_in_use_is_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = io.StringIO()
        code = await serve_phone(host="127.0.0.1", port=port, open_browser=False, out=out)
    assert code == 1
    assert f"error: the sandbox cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert out.getvalue() == ""


async def test_the_page_is_served_only_on_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert await serve_phone(host="0.0.0.0", port=0, open_browser=False, out=out) == 1
    assert "served only on loopback" in capsys.readouterr().err


async def test_open_shows_the_page_in_the_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("d360_calling.phone_bot.webbrowser.open", opened.append)
    out = io.StringIO()
    serving = asyncio.create_task(serve_phone(host="127.0.0.1", port=0, open_browser=True, out=out))
    try:
        url = await printed_url(out, serving)
        async with asyncio.timeout(10.0):
            while not opened:
                await asyncio.sleep(0.02)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert opened == [url]


async def test_without_the_media_extra_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("d360_calling.phone_bot.importlib.util.find_spec", lambda name: None)
    out = io.StringIO()
    assert await serve_phone(host="127.0.0.1", port=0, open_browser=False, out=out) == 1
    assert "pip install 'd360-calling[media]'" in capsys.readouterr().err
    assert out.getvalue() == ""
