"""The /phone page in headless Chromium against a bot built on `d360_calling.media`: the page
calls the bot, the bot calls the page, and the page answers a permission request and taps a
call button. Audio is checked both ways by pitch: the bot hears the browser's 440 Hz fake
microphone; the page hears the bot's 660 Hz, measured in the page by a WebAudio AnalyserNode."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.keys import Keys

from d360_calling import SessionDescription
from d360_calling.media import CallAudio, dominant_frequency, tone
from d360_calling.webhooks import (
    IncomingCall,
)

from ..support.bots import Bot
from .conftest import USER_TONE_HZ, Browser

pytestmark = pytest.mark.usefixtures("no_leaks")

USER = "14155550123"
BOT_TONE_HZ = 660.0
BOUND = 20.0
SCREENSHOT_COPY = "D360_PHONE_SCREENSHOT"
"""Set to a path (docs/phone.png) to keep a copy of the screenshot the call test takes."""


async def both_ways(audio: CallAudio, browser: Browser) -> None:
    """The bot hears the browser's tone; the page hears the bot's."""
    playing = asyncio.create_task(audio.play(tone(BOT_TONE_HZ, seconds=10.0)))
    try:
        assert dominant_frequency(await audio.listen(0.5, skip=0.2)) == pytest.approx(
            USER_TONE_HZ, abs=5.0
        )
        heard = await browser.wait_for(
            "phoneStats.heardHz", lambda hz: hz is not None and abs(hz - BOT_TONE_HZ) <= 5.0
        )
        assert heard == pytest.approx(BOT_TONE_HZ, abs=5.0)
    finally:
        audio.interrupt()
        await playing


async def fits_in_400_px(browser: Browser) -> None:
    """At 400 CSS pixels wide nothing overflows sideways (the log table scrolls in its box)."""
    metrics = {"width": 400, "height": 800, "deviceScaleFactor": 1, "mobile": True}
    await asyncio.to_thread(
        browser.driver.execute_cdp_cmd, "Emulation.setDeviceMetricsOverride", metrics
    )
    try:
        width = await browser.wait_for("document.documentElement.clientWidth", lambda w: w == 400)
        scroll = await browser.run("return document.documentElement.scrollWidth")
        assert scroll <= width
    finally:
        await asyncio.to_thread(
            browser.driver.execute_cdp_cmd, "Emulation.clearDeviceMetricsOverride", {}
        )


async def test_the_page_calls_the_bot_both_hear_each_other_and_the_page_hangs_up(
    bot: Bot, browser: Browser, tmp_path: Path, loopback_guard: list[Any]
) -> None:
    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        await bot.audio.put(await call.answer_with_audio(loopback=True))

    async with asyncio.timeout(BOUND):
        await browser.open(bot.sandbox.phone_url)
        await bot.client.messages.send_call_button(
            USER, "Questions about your order? Call us.", display_text="Call support"
        )
        await browser.wait_for("document.querySelector('#messages li[data-kind=voice_call]')")
        await browser.click("#call")
        audio = await bot.audio.get()
        await audio.wait_connected(timeout=10.0)
        await browser.wait_for("phoneStats.state === 'in-call'")
        call_id = await browser.run("return phoneStats.callId")
        assert bot.sandbox.calls[call_id].state.value == "accepted"
        await both_ways(audio, browser)

        shot = tmp_path / "phone.png"
        await browser.screenshot(shot)
        assert shot.stat().st_size > 10_000
        if copy := os.environ.get(SCREENSHOT_COPY):
            shutil.copyfile(shot, copy)

        await browser.click("#hangup")
        ended = await bot.ended.get()
        assert ended.call_id == call_id
        assert ended.duration is not None
        assert ended.duration >= 0
        assert await audio.wait_ended() is None  # closed by the terminate, not failed
        await browser.wait_for("phoneStats.state === 'idle'")
        assert (await browser.find("#state")).text.startswith("Call ended after 0:0")
        log = (await browser.find("#log")).text
        for entry in ("calls connect", "calls.pre_accept", "calls.accept", "calls terminate"):
            assert entry in log
    assert loopback_guard, "the bot sent no datagram at all"


async def test_the_bot_calls_the_page_which_answers_from_the_keyboard(
    bot: Bot, browser: Browser
) -> None:
    @bot.router.on_connect
    async def connected(call: IncomingCall) -> None:
        assert not call.inbound
        assert isinstance(call.media, CallAudio)
        await call.media.apply_answer(call.event.session)

    async with asyncio.timeout(BOUND):
        await browser.open(bot.sandbox.phone_url)
        audio = await CallAudio.offer(loopback=True)
        bot.sandbox.set_permission(USER, "permanent")
        placed = await bot.client.calls.connect(USER, SessionDescription.offer(audio.sdp))
        bot.router.attach_media(placed.call_id, audio, bot.client)
        await browser.wait_for("phoneStats.state === 'incoming'")
        answer = await browser.find("#answer")
        assert await browser.run("return document.activeElement.id") == "answer"
        await asyncio.to_thread(answer.send_keys, Keys.ENTER)
        await audio.wait_connected(timeout=10.0)
        await browser.wait_for("phoneStats.state === 'in-call'")
        await both_ways(audio, browser)

        await bot.client.calls.terminate(placed.call_id)
        assert (await bot.ended.get()).call_id == placed.call_id
        assert await audio.wait_ended() is None
        await browser.wait_for("phoneStats.state === 'idle'")
        assert (await browser.find("#state")).text.startswith("Call ended after")


async def test_the_page_accepts_a_permission_request_and_taps_a_call_button(
    bot: Bot, browser: Browser
) -> None:
    @bot.router.on_connect
    async def decline(call: IncomingCall) -> None:
        await bot.connects.put(call.event)
        await call.reject()

    async with asyncio.timeout(BOUND):
        await browser.open(bot.sandbox.phone_url)
        asked = await bot.client.permissions.request(USER, "May we call you about your order?")
        accept = "#messages li[data-kind=call_permission_request] button[data-action=accept]"
        await browser.wait_for(f"document.querySelector({accept!r})")
        await browser.click(accept)
        reply = await bot.replies.get()
        assert reply.response.value == "accept"
        assert reply.is_permanent is False
        assert reply.context_id == asked.message_id
        assert (await bot.client.permissions.get(USER)).can_start_call

        await bot.client.messages.send_call_button(
            USER, "Questions? Call us.", display_text="Call support", payload="order-77"
        )
        tap = "#messages li[data-kind=voice_call] button[data-action=tap]"
        await browser.wait_for(f"document.querySelector({tap!r})")
        assert (await browser.find(tap)).text == "Call support"
        await fits_in_400_px(browser)
        await browser.click(tap)
        connect = await bot.connects.get()
        assert connect.cta_payload == "order-77"
        assert (await bot.ended.get()).call_id == connect.call_id
        await browser.wait_for("phoneStats.state === 'idle'")
        assert (await browser.find("#state")).text == "Call declined"
