"""A recorded call whose user is a real WebRTC peer (`media=True`): the consent announcement
reaches the bot, both sides land in a stereo OGG/Opus file (channel 0 the business, channel 1
the user), and the signed webhooks point to files a downloader fetches and verifies. All on
127.0.0.1; the bot is the SDK's `CallAudio`, the API calls are plain HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

pytest.importorskip("aiortc")

from d360_calling.media import CallAudio, dominant_frequency, tone
from d360_calling.sandbox import Sandbox
from d360_calling.sandbox.recordings import ANNOUNCEMENT_HZ
from tests.support.sandbox import USER, Receiver, action_body, calls_value, connect_body

from .recording_support import (
    decode,
    fetch,
    media_webhook,
    option,
    post,
    sha256_base64,
    signed,
)

BOT_HZ = 660.0
USER_HZ = 440.0
WINDOW = 0.2
"""Seconds of audio per pitch measured."""


def pitches(pcm: bytes) -> list[float | None]:
    """The dominant pitch of each `WINDOW` of 48 kHz mono PCM, rounded to 10 Hz."""
    size = int(WINDOW * 48_000) * 2
    found = [dominant_frequency(pcm[i : i + size]) for i in range(0, len(pcm) - size + 1, size)]
    return [None if hz is None else round(hz, -1) for hz in found]


def near(hz: float | None, target: float) -> bool:
    return hz is not None and abs(hz - target) <= 10.0


async def test_a_recorded_call_announces_then_records_both_sides_and_posts_its_files(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(45):
        call_id = await sandbox.ring(USER, media=True, tone_hz=USER_HZ)
        script = [("Business", "Hello, how can I help?"), ("customer", "My order is late")]
        sandbox.script_transcript(call_id, script)
        audio = await CallAudio.answer(sandbox.calls[call_id].offer_sdp, loopback=True)
        try:
            await post(http, action_body("pre_accept", call_id, audio.sdp))
            recording, transcription = option("quality assurance"), option("training")
            accept = action_body(
                "accept", call_id, audio.sdp, recording=recording, transcription=transcription
            )
            await post(http, accept)
            await audio.wait_connected(timeout=5.0)
            connected = loop.time()
            playing = asyncio.create_task(audio.play(tone(BOT_HZ, seconds=20.0)))
            heard_by_bot = await audio.listen(3.0)
            heard_by_user = sandbox.voice(call_id).heard_pcm(3.0)
            await post(http, action_body("terminate", call_id))
            ended = loop.time()
            audio.interrupt()
            await playing
        finally:
            await audio.close()

        bot = await asyncio.to_thread(pitches, heard_by_bot)
        user = await asyncio.to_thread(pitches, heard_by_user)
        announced = [i for i, hz in enumerate(bot) if near(hz, ANNOUNCEMENT_HZ)]
        assert 3 <= len(announced) <= 6, f"about 1 s of announcement: {bot}"
        assert announced == list(range(announced[0], announced[-1] + 1)), bot
        assert all(near(hz, USER_HZ) for hz in bot[announced[-1] + 2 :]), bot
        assert len(bot[announced[-1] + 2 :]) >= 5, f"the user's voice after it: {bot}"
        assert any(near(hz, ANNOUNCEMENT_HZ) for hz in user), f"the user hears it too: {user}"
        assert near(user[-1], BOT_HZ), user

        recorded = await media_webhook(receiver, "call_recording_available", call_id)
        transcribed = await media_webhook(receiver, "call_transcription_available", call_id)
    assert signed(recorded), "the recording webhook is signed"
    assert signed(transcribed), "the transcript webhook is signed"
    value = calls_value(recorded.payload)
    assert value["metadata"]["display_phone_number"] == "15550001234"
    entry = value["calls"][0]
    audio_ref = entry["call_recording"]["audio"]
    assert entry == {
        "id": call_id,
        "event": "call_recording_available",
        "from": USER,
        "to": "15550001234",
        "timestamp": entry["timestamp"],
        "call_recording": {"type": "audio", "audio": audio_ref},
    }
    assert entry["timestamp"].isdigit()
    assert set(audio_ref) == {"id", "sha256", "mime_type", "url"}
    assert audio_ref["id"].isdigit()
    assert audio_ref["mime_type"] == "audio/ogg; codecs=opus"

    fetched = await fetch(http, sandbox.base_url, audio_ref["id"])
    assert fetched.content_type == "audio/ogg; codecs=opus"
    assert sha256_base64(fetched.data) == audio_ref["sha256"] == fetched.lookup["sha256"]
    assert fetched.lookup["file_size"] == len(fetched.data)
    assert fetched.data == sandbox.media_of(call_id).audio

    decoded = await asyncio.to_thread(decode, fetched.data)
    assert (decoded.codec, decoded.channels) == ("opus", 2)
    talk = ended - connected
    assert talk - 1.7 <= decoded.seconds <= talk - 0.5, (decoded.seconds, talk)
    assert decoded.seconds == pytest.approx(sandbox.media_of(call_id).seconds, abs=0.1)
    business = await asyncio.to_thread(pitches, decoded.business)
    customer = await asyncio.to_thread(pitches, decoded.user)
    assert not any(near(hz, ANNOUNCEMENT_HZ) for hz in business + customer), "recorded after it"
    assert sum(near(hz, BOT_HZ) for hz in business) >= len(business) - 2, business
    assert sum(near(hz, USER_HZ) for hz in customer) >= len(customer) - 1, customer

    document_ref = calls_value(transcribed.payload)["calls"][0]["call_transcript"]["document"]
    assert document_ref["mime_type"] == "application/json"
    fetched = await fetch(http, sandbox.base_url, document_ref["id"])
    assert sha256_base64(fetched.data) == document_ref["sha256"]
    document: dict[str, Any] = json.loads(fetched.data)
    assert document["metadata"]["audio"] == {
        "duration": pytest.approx(decoded.seconds, abs=0.1),
        "sample_rate": 16000,
        "channels": 2,
        "audio_format": "ogg",
    }
    transcript = document["transcript"]
    assert transcript["text"] == "[Business] Hello, how can I help?\n[Customer] My order is late"
    assert [(s["speaker"], s["channel"]) for s in transcript["segments"]] == [
        ("Business", 0),
        ("Customer", 1),
    ]
    ends = [s["end"] for s in transcript["segments"]]
    assert 0 <= transcript["segments"][0]["start"] < ends[0] <= ends[1] <= decoded.seconds
    words = transcript["segments"][1]["words"]
    assert [w["word"] for w in words] == ["My", "order", "is", "late"]
    assert all(w["lang"] == "en" and 0 < w["confidence"] <= 1 for w in words)


async def test_a_user_who_hangs_up_during_the_announcement_declined_the_recording(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "permanent")
    async with asyncio.timeout(30):
        audio = await CallAudio.offer(loopback=True)
        try:
            body = connect_body(recording=option())
            body["session"]["sdp"] = audio.sdp
            call_id = (await post(http, body))["calls"][0]["id"]
            await sandbox.user_answers(call_id, media=True, tone_hz=USER_HZ)
            answer = sandbox.calls[call_id].answer_sdp
            assert answer is not None
            await audio.apply_answer(answer)
            await audio.wait_connected(timeout=5.0)
            for _ in range(25):  # until the bot hears the announcement, at most 5 s
                if near(dominant_frequency(await audio.listen(WINDOW)), ANNOUNCEMENT_HZ):
                    break
            else:
                pytest.fail("the bot never heard the announcement")
            assert sandbox.media_of(call_id).state == "announcing"
            await sandbox.user_hangs_up(call_id)
        finally:
            await audio.close()
        await sandbox.webhooks_idle()
    record = sandbox.media_of(call_id)
    assert (record.state, record.recording, record.audio) == ("declined", None, None)
    events = [
        calls_value(item.payload).get("calls", [{}])[0].get("event") for item in receiver.received
    ]
    assert "terminate" in events
    assert "call_recording_available" not in events
