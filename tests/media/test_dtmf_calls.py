"""Keypresses on whole calls: negotiation of telephone-event, the sandbox user pressing keys at a
bot answered through the SDK, collecting a PIN, and the bot pressing keys at the user."""

from __future__ import annotations

import asyncio
import re

import pytest

pytest.importorskip("aiortc")

from d360_calling import ValidationError, _inline_decode
from d360_calling.media import CallAudio, DtmfKey, MediaError, dominant_frequency
from d360_calling.sandbox import OFFER_SDP
from d360_calling.sandbox.peer import UserPeer
from d360_calling.webhooks import IncomingCall
from tests.support.bots import USER, Bot

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 20.0


def _audio_formats(sdp: str) -> list[str]:
    m_line = next(line for line in sdp.splitlines() if line.startswith("m=audio"))
    return m_line.split()[3:]


def _rtpmaps(sdp: str) -> list[str]:
    return re.findall(r"a=rtpmap:(\d+ \S+)", sdp)


async def test_answers_keep_the_offers_telephone_event_payload_type() -> None:
    meta = await CallAudio.answer(OFFER_SDP, loopback=True)
    other = await CallAudio.answer(
        OFFER_SDP.replace(" 111 126", " 111 101").replace("rtpmap:126", "rtpmap:101"),
        loopback=True,
    )
    without = await CallAudio.answer(
        OFFER_SDP.replace(" 111 126", " 111").replace("a=rtpmap:126 telephone-event/8000\r\n", ""),
        loopback=True,
    )
    try:
        assert _audio_formats(meta.sdp) == ["111", "126"]
        assert _rtpmaps(meta.sdp) == ["111 opus/48000/2", "126 telephone-event/8000"]
        assert "a=fmtp:126 0-16" in meta.sdp
        assert _rtpmaps(other.sdp) == ["111 opus/48000/2", "101 telephone-event/8000"]
        assert _audio_formats(without.sdp) == ["111"]
        assert "telephone-event" not in without.sdp
    finally:
        for audio in (meta, other, without):
            await audio.close()


async def test_our_offer_lists_telephone_event_after_opus() -> None:
    audio = await CallAudio.offer(loopback=True)
    try:
        assert _rtpmaps(audio.sdp) == ["96 opus/48000/2", "126 telephone-event/8000"]
    finally:
        await audio.close()


async def _media_call(bot: Bot) -> tuple[str, CallAudio]:
    """A user's media call (saying 440 Hz) answered by the bot with loopback audio, connected."""

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        await bot.audio.put(await call.answer_with_audio(loopback=True))

    call_id = await bot.sandbox.ring(USER, media=True, tone_hz=440.0)
    audio = await bot.audio.get()
    await audio.wait_connected(timeout=5.0)
    await bot.sandbox.voice(call_id).wait_connected(timeout=5.0)
    return call_id, audio


async def _keys(audio: CallAudio, count: int, into: list[DtmfKey]) -> None:
    async for key in audio.dtmf:
        into.append(key)
        if len(into) == count:
            return


async def test_twelve_keys_arrive_in_order_and_audio_goes_on(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await _media_call(bot)
        first: list[DtmfKey] = []
        second: list[DtmfKey] = []
        readers = [
            asyncio.create_task(_keys(audio, 12, first)),
            asyncio.create_task(_keys(audio, 12, second)),
        ]
        await asyncio.sleep(0)  # both loops subscribed
        await bot.sandbox.press(call_id, "0123456789*#")  # 500 ms tones, 100 ms gaps
        await asyncio.gather(*readers)
        assert "".join(k.digit for k in first) == "0123456789*#"
        assert [k.digit for k in second] == [k.digit for k in first]  # no consumer steals
        assert all(k.at.tzinfo is not None and k.duration_ms >= 0 for k in first)
        assert "<hidden>" in repr(first[0])
        heard = await audio.listen(0.5, skip=0.1)
        assert dominant_frequency(heard) == pytest.approx(440.0, abs=5.0)
        receiver = audio._pc.getTransceivers()[0].receiver
        decoding = receiver._RTCRtpReceiver__decoder_queue  # decodes on the loop, keys taken out
        assert isinstance(decoding, _inline_decode.InlineDecoding)
        await bot.sandbox.user_hangs_up(call_id)
        await audio.wait_ended()
        assert [k async for k in audio.dtmf] == []  # iteration ends with the call


async def test_collect_returns_the_digits_before_the_terminator(bot: Bot) -> None:
    async with asyncio.timeout(BOUND):
        call_id, audio = await _media_call(bot)
        collecting = asyncio.create_task(audio.dtmf.collect(max_digits=6, terminator="#"))
        await asyncio.sleep(0)
        await bot.sandbox.press(call_id, "123#")
        assert await collecting == "123"
        short = asyncio.create_task(audio.dtmf.collect(max_digits=2, first_timeout=5))
        await asyncio.sleep(0)
        await bot.sandbox.press(call_id, "98", tone_ms=100, gap_ms=60)
        assert await short == "98"
        timed_out = await audio.dtmf.collect(max_digits=4, first_timeout=0.05)
        assert timed_out == ""  # a timeout returns what was collected: nothing
        await bot.sandbox.user_hangs_up(call_id)
        await audio.wait_ended()


async def test_press_refuses_bad_keys_and_calls_without_media(bot: Bot) -> None:
    call_id = await bot.sandbox.ring(USER)
    with pytest.raises(ValueError, match="media=True"):
        await bot.sandbox.press(call_id, "1")
    async with asyncio.timeout(BOUND):
        media_call, audio = await _media_call(bot)
        for bad in ("", "12a", "1 2"):
            with pytest.raises(ValueError, match="0-9"):
                await bot.sandbox.press(media_call, bad)
        await bot.sandbox.user_hangs_up(media_call)
        await audio.wait_ended()


async def test_the_bot_presses_keys_at_the_user() -> None:
    async with asyncio.timeout(BOUND):
        user = await UserPeer.offer(tone_hz=440.0)
        audio = await CallAudio.answer(user.sdp, loopback=True)
        try:
            await user.apply_answer(audio.sdp)
            await audio.wait_connected(timeout=5.0)
            with pytest.raises(ValidationError):
                await audio.send_dtmf("12x")
            with pytest.raises(ValidationError):
                await audio.send_dtmf("1", tone_ms=5)
            await audio.send_dtmf("42*", tone_ms=100, gap_ms=60)
            for _ in range(100):
                if len(user.keys_heard) == 3:
                    break
                await asyncio.sleep(0.02)
            assert user.keys_heard == ["4", "2", "*"]
        finally:
            await audio.close()
            await user.close()
        with pytest.raises(MediaError):
            await audio.send_dtmf("1")


async def test_send_dtmf_without_telephone_event_is_a_media_error() -> None:
    async with asyncio.timeout(BOUND):
        user = await UserPeer.offer(tone_hz=440.0)
        plain = user.sdp.replace(" 96 126", " 96")
        plain = re.sub(r"a=(rtpmap|fmtp):126 [^\r\n]*\r\n", "", plain)
        audio = await CallAudio.answer(plain, loopback=True)
        try:
            assert "telephone-event" not in audio.sdp
            await user.apply_answer(audio.sdp)
            await audio.wait_connected(timeout=5.0)
            with pytest.raises(MediaError, match="telephone-event"):
                await audio.send_dtmf("1")
        finally:
            await audio.close()
            await user.close()
