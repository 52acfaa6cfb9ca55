"""Recordings and transcripts end to end, through the SDK's public API against the sandbox on
127.0.0.1: a bot answers with `recording=` and `transcription=`, the webhooks arrive,
`client.media` downloads and verifies the files, and the failure paths (an expired URL, a media
past its 7 days, a wrong checksum, the lookup's error throttle) behave as documented."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

from d360_calling import (
    MediaIntegrityError,
    MediaNotFoundError,
    MediaRef,
    MediaThrottledError,
    Recording,
    SessionDescription,
    Speaker,
    Transcription,
    ValidationError,
)
from d360_calling.media import dominant_frequency, tone
from d360_calling.sandbox import ANSWER_SDP
from d360_calling.sandbox.recordings import ANNOUNCEMENT_SECONDS
from d360_calling.webhooks import (
    CallRecordingAvailable,
    CallTranscriptionAvailable,
    IncomingCall,
)
from tests.support.bots import USER, Bot, running_bot

USER_HZ = 440.0
BOT_HZ = 660.0
TALK = 2.5
"""Seconds the bot talks after the consent announcement, before it hangs up."""
BOUND = 30.0
SCRIPT = [("Customer", "My parcel did not arrive."), ("Business", "Let me check that for you.")]
SEVEN_DAYS = 7 * 24 * 3600


class Recorded:
    """The media webhooks a bot received, by kind."""

    def __init__(self, bot: Bot) -> None:
        self.recordings: asyncio.Queue[CallRecordingAvailable] = asyncio.Queue()
        self.transcripts: asyncio.Queue[CallTranscriptionAvailable] = asyncio.Queue()
        bot.router.on_recording(self.recordings.put)
        bot.router.on_transcription(self.transcripts.put)


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async with running_bot() as bot:
        yield bot


def decode(path: Path) -> tuple[str, int, float, list[bytes]]:
    """Codec, channels, seconds and per-channel 48 kHz int16 PCM of an audio file (PyAV)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec, channels = stream.codec_context.name, stream.codec_context.channels
        resampler = av.AudioResampler(format="s16p", layout="stereo", rate=48_000)
        planes: list[bytearray] = [bytearray(), bytearray()]
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                for index in range(2):
                    planes[index] += bytes(out.planes[index])[: out.samples * 2]
    return codec, channels, len(planes[0]) / 2 / 48_000, [bytes(p) for p in planes]


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


async def test_a_recorded_call_is_downloaded_verified_and_transcribed(
    bot: Bot, tmp_path: Path
) -> None:
    recorded = Recorded(bot)
    talked: asyncio.Queue[float] = asyncio.Queue()

    @bot.router.on_connect
    async def answer(call: IncomingCall) -> None:
        audio = await call.answer_with_audio(
            loopback=True,
            recording=Recording("quality assurance"),
            transcription=Transcription("quality assurance"),
        )
        await audio.wait_connected(timeout=10.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await audio.play(tone(BOT_HZ, seconds=ANNOUNCEMENT_SECONDS + TALK))
        await call.terminate()
        await talked.put(loop.time() - started)

    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER, media=True, tone_hz=USER_HZ)
        bot.sandbox.script_transcript(call_id, SCRIPT)
        seconds_talked = await talked.get()
        event = await recorded.recordings.get()
        transcribed = await recorded.transcripts.get()

    assert (event.call_id, transcribed.call_id) == (call_id, call_id)
    assert event.media.mime_type == "audio/ogg; codecs=opus"
    path = tmp_path / "call.ogg"
    saved = await bot.client.media.download(event.media, path)
    data = path.read_bytes()
    assert saved.path == str(path)
    assert saved.size == len(data) > 0
    assert saved.sha256 == sha256_base64(data) == event.media.sha256

    codec, channels, seconds, (business, user) = await asyncio.to_thread(decode, path)
    assert (codec, channels) == ("opus", 2)
    # Recorded from the end of the announcement to the terminate: about the bot's talk.
    expected = seconds_talked - ANNOUNCEMENT_SECONDS
    assert expected - 0.6 <= seconds <= expected + 0.6, (seconds, expected)
    middle = slice(int(0.5 * 48_000) * 2, int(1.5 * 48_000) * 2)
    assert abs((dominant_frequency(business[middle]) or 0) - BOT_HZ) <= 10
    assert abs((dominant_frequency(user[middle]) or 0) - USER_HZ) <= 10

    transcript = await bot.client.media.transcript(transcribed.media)
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        (Speaker.CUSTOMER, SCRIPT[0][1]),
        (Speaker.BUSINESS, SCRIPT[1][1]),
    ]
    assert [s.channel for s in transcript.segments] == [1, 0]
    assert all(s.words for s in transcript.segments)


async def recorded_call(bot: Bot) -> CallRecordingAvailable:
    """A call without media, accepted with recording on, ended: its recording's webhook."""
    recorded = Recorded(bot)
    async with asyncio.timeout(BOUND):
        call_id = await bot.sandbox.ring(USER)
        answer = SessionDescription.answer(ANSWER_SDP)
        await bot.client.calls.accept(call_id, answer, recording=Recording("training"))
        bot.sandbox.clock.advance(3)
        await bot.sandbox.user_hangs_up(call_id)
        return await recorded.recordings.get()


async def test_an_expired_url_is_fetched_again_by_media_id(bot: Bot, tmp_path: Path) -> None:
    event = await recorded_call(bot)
    bot.sandbox.clock.advance(301)  # the webhook's URL lasted 300 s
    saved = await bot.client.media.download(event.media, tmp_path / "late.ogg")
    assert saved.sha256 == event.media.sha256
    stats = bot.sandbox.stats
    assert stats.requests["media.download"] == 2  # the expired URL, then the fresh one
    assert stats.effects["media.download"] == 1
    assert stats.requests["media.get"] == 1


async def test_a_recording_past_seven_days_is_not_found_with_one_request(
    bot: Bot, tmp_path: Path
) -> None:
    event = await recorded_call(bot)
    bot.sandbox.clock.advance(SEVEN_DAYS + 1)
    stored = MediaRef(id=event.media.id, sha256=event.media.sha256)  # as an archive keeps it
    with pytest.raises(MediaNotFoundError):
        await bot.client.media.download(stored, tmp_path / "old.ogg")
    assert bot.sandbox.stats.requests["media.get"] == 1
    assert bot.sandbox.stats.requests["media.download"] == 0
    assert os.listdir(tmp_path) == []


async def test_a_wrong_checksum_leaves_no_file(bot: Bot, tmp_path: Path) -> None:
    event = await recorded_call(bot)
    wrong = sha256_base64(b"not the recording")
    forged = MediaRef(id=event.media.id, sha256=wrong, url=event.media.url)
    path = tmp_path / "forged.ogg"
    with pytest.raises(MediaIntegrityError):
        await bot.client.media.download(forged, path)
    assert os.listdir(tmp_path) == []
    assert bot.sandbox.stats.effects["media.download"] == 1  # the bytes came, and were refused


async def test_after_twenty_lookup_errors_the_client_stops_sending(bot: Bot) -> None:
    for _ in range(20):
        with pytest.raises(MediaNotFoundError):
            await bot.client.media.lookup("1000000000000001")
    with pytest.raises(MediaThrottledError) as raised:
        await bot.client.media.lookup("1000000000000001")
    assert raised.value.request_sent is False
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 0
    assert bot.sandbox.stats.requests["media.get"] == 20


async def test_bad_recording_options_are_refused_with_nothing_sent(bot: Bot) -> None:
    call_id = await bot.sandbox.ring(USER)
    answer = SessionDescription.answer(ANSWER_SDP)
    sent = bot.sandbox.stats.requests["calls.accept"]
    with pytest.raises(ValidationError, match=r"recording\.purpose"):
        await bot.client.calls.accept(call_id, answer, recording=Recording("x" * 251))
    with pytest.raises(ValidationError, match=r"transcription\.announcement_language"):
        await bot.client.calls.accept(
            call_id, answer, transcription=Transcription("qa", announcement_language="xx")
        )
    assert bot.sandbox.stats.requests["calls.accept"] == sent
