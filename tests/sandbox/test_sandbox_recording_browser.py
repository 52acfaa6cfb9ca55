"""The /phone page in headless Chromium on a recorded call: it shows the consent announcement
("This call is being recorded: <purpose>"), and after the call a link and a player for the
recording, which the browser loads and decodes under the page's Content-Security-Policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("aiortc")

from d360_calling import MediaFeature, SessionDescription
from d360_calling.media import CallAudio
from d360_calling.webhooks import IncomingCall
from tests.media.conftest import loopback_guard, no_leaks
from tests.phone.conftest import Browser, browser, chromium, tone_wav
from tests.support.bots import Bot, running_bot

__all__ = ["browser", "chromium", "loopback_guard", "no_leaks", "tone_wav"]

pytestmark = pytest.mark.usefixtures("no_leaks")

PURPOSE = "quality assurance"
BOUND = 30.0


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async with running_bot(phone=True) as running:
        yield running


async def test_the_page_shows_the_announcement_then_plays_the_recording(
    bot: Bot, browser: Browser
) -> None:
    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        audio = await CallAudio.answer(call.event.session, loopback=True)
        answer = SessionDescription.answer(audio.sdp)
        await bot.client.calls.pre_accept(call.call_id, answer)
        recording = MediaFeature("ENABLED", PURPOSE, "en")
        await bot.client.calls.accept(call.call_id, answer, recording=recording)
        bot.router.attach_media(call.call_id, audio, bot.client)
        await bot.audio.put(audio)

    async with asyncio.timeout(BOUND):
        await browser.open(bot.sandbox.phone_url)
        await browser.click("#call")
        audio = await bot.audio.get()
        await audio.wait_connected(timeout=10.0)
        await browser.wait_for(f"phoneStats.announced.includes({PURPOSE!r})")
        recorded = await browser.find("#recorded")
        assert recorded.is_displayed()
        assert recorded.text == f"Recorded: {PURPOSE}"
        await browser.wait_for("phoneStats.state === 'in-call' && !phoneStats.announcement")
        assert (await browser.find("#state")).text == "In call with the business"
        call_id = await browser.run("return phoneStats.callId")
        await asyncio.sleep(1.5)
        await browser.click("#hangup")
        await bot.ended.get()
        await browser.wait_for("phoneStats.recordings.length === 1")
        link = await browser.find("#recordings a")
        assert link.text.startswith("Recording of your call (")
        duration = await browser.wait_for(
            "document.querySelector('#recordings audio').duration",
            lambda seconds: isinstance(seconds, int | float) and seconds > 0,
        )
        seconds = bot.sandbox.media_of(call_id).seconds
        assert duration == pytest.approx(seconds, abs=0.2)
        assert seconds >= 1.5
        status = await browser.run(
            "return fetch(document.querySelector('#recordings a').href).then(r => r.status)"
        )
        assert status == 200
