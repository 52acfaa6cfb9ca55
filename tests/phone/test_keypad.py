"""The /phone page's keypad in headless Chromium: keys pressed on the page reach the bot as
digits on `CallAudio.dtmf`, in order and once each, whichever side placed the call.

The page sends them with `RTCRtpSender.dtmf.insertDTMF` (RFC 4733 telephone-event/8000 beside
Opus, as WhatsApp does); the keypad is disabled unless a call is connected and the sender says
`canInsertDTMF`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from d360_calling import SessionDescription
from d360_calling.media import CallAudio, DtmfKey
from d360_calling.webhooks import IncomingCall

from ..support.bots import Bot
from .conftest import Browser

pytestmark = pytest.mark.usefixtures("no_leaks")

USER = "14155550123"
BOUND = 30.0
KEY_WAIT = 5.0
"""Seconds for one key to reach the bot (measured: well under 1 s)."""
QUIET = 1.5
"""Seconds the bot must then hear no further key."""
KEYPAD = "#keypad button[data-key]"
TELEPHONE_EVENT = re.compile(
    r"^a=rtpmap:\d+ telephone-event/8000\r?$", re.IGNORECASE | re.MULTILINE
)


async def keypad_enabled(browser: Browser) -> list[bool]:
    """Which of the 12 keys (in page order) can be pressed."""
    enabled: list[bool] = await browser.run(
        f"return Array.from(document.querySelectorAll({KEYPAD!r}), (b) => !b.disabled)"
    )
    return enabled


async def keys_arrive(
    audio: CallAudio, browser: Browser, press: Callable[[str], Any], digits: str
) -> None:
    """`press` each of `digits` on the page, back to back; the bot gets exactly those keys,
    in order, and no other."""
    keys = aiter(audio.dtmf)  # subscribed from here on
    for digit in digits:
        await press(digit)
    got: list[DtmfKey] = []
    for _ in digits:
        async with asyncio.timeout(KEY_WAIT):
            got.append(await anext(keys))
    assert "".join(key.digit for key in got) == digits
    assert all(key.duration_ms >= 0 for key in got)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(QUIET):
            extra = await anext(keys)
            raise AssertionError(f"an extra key arrived: {extra.digit!r}")
    pressed = await browser.run("return phoneStats.pressed")  # every key of this call
    assert pressed.endswith(digits)
    assert (await browser.find("#pressed")).text == f"You pressed {pressed}"


async def test_keys_clicked_on_the_page_reach_the_bot_in_order(
    bot: Bot, browser: Browser, loopback_guard: list[Any]
) -> None:
    offers: asyncio.Queue[str] = asyncio.Queue()
    answered: asyncio.Queue[CallAudio] = asyncio.Queue()

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        await offers.put(call.event.session.sdp)
        await answered.put(await call.answer_with_audio(loopback=True))

    async with asyncio.timeout(BOUND):
        await browser.open(bot.sandbox.phone_url)
        assert len(await keypad_enabled(browser)) == 12
        assert not any(await keypad_enabled(browser))
        labels = await browser.run(
            f"return Array.from(document.querySelectorAll({KEYPAD!r}), (b) => b.dataset.key)"
        )
        assert "".join(labels) == "123456789*0#"

        await browser.click("#call")
        offer = await offers.get()
        # The browser offers Opus and telephone-event/8000, and the relay keeps both.
        assert TELEPHONE_EVENT.search(offer), offer
        assert re.search(r"^a=rtpmap:\d+ opus/48000/2\r?$", offer, re.MULTILINE)
        audio = await answered.get()
        await audio.wait_connected(timeout=10.0)
        await browser.wait_for("phoneStats.state === 'in-call'")
        await browser.wait_for("phoneStats.keypad")
        assert all(await keypad_enabled(browser))
        call_id = await browser.run("return phoneStats.callId")

        async def click(digit: str) -> None:
            await browser.click(f"#keypad button[data-key={digit!r}]")

        await keys_arrive(audio, browser, click, "12#")
        await keys_arrive(audio, browser, click, "*09")
        assert await browser.run("return phoneStats.pressed") == "12#*09"

        await browser.click("#hangup")
        assert (await bot.ended.get()).call_id == call_id
        assert await audio.wait_ended() is None
        await browser.wait_for("phoneStats.state === 'idle'")
        assert not await browser.run("return phoneStats.keypad")
        assert not any(await keypad_enabled(browser))
    assert loopback_guard, "the bot sent no datagram at all"


async def test_keys_typed_on_the_keyboard_reach_the_bot_that_called_the_page(
    bot: Bot, browser: Browser
) -> None:
    @bot.router.on_connect
    async def connected(call: IncomingCall) -> None:
        assert isinstance(call.media, CallAudio)
        await call.media.apply_answer(call.event.session)

    async with asyncio.timeout(BOUND):
        await browser.open(bot.sandbox.phone_url)
        audio = await CallAudio.offer(loopback=True)
        assert TELEPHONE_EVENT.search(audio.sdp)
        bot.sandbox.set_permission(USER, "permanent")
        placed = await bot.client.calls.connect(USER, SessionDescription.offer(audio.sdp))
        bot.router.attach_media(placed.call_id, audio, bot.client)
        await browser.wait_for("phoneStats.state === 'incoming'")
        assert not any(await keypad_enabled(browser))
        await browser.click("#answer")
        await audio.wait_connected(timeout=10.0)
        await browser.wait_for("phoneStats.state === 'in-call'")
        await browser.wait_for("phoneStats.keypad")
        body = await browser.find("body")

        async def type_key(digit: str) -> None:
            await asyncio.to_thread(body.send_keys, digit)

        await keys_arrive(audio, browser, type_key, "4*7")

        await bot.client.calls.terminate(placed.call_id)
        assert (await bot.ended.get()).call_id == placed.call_id
        assert await audio.wait_ended() is None
        await browser.wait_for("phoneStats.state === 'idle'")
        assert not any(await keypad_enabled(browser))
