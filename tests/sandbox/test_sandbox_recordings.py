"""Recordings and transcripts of calls without the sandbox's media: silence of the call's
length on the sandbox clock (capped), the webhooks of business- and user-initiated calls, the
scripted and the honest empty transcript, and what the script refuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from d360_calling.sandbox import Limits, Sandbox
from d360_calling.sandbox.transcript import NO_SCRIPT
from tests.support.sandbox import ANSWER, USER, Receiver, action_body, calls_value, connect_body

from .recording_support import SECRET, decode, fetch, media_webhook, option, peak, post, signed

pytest.importorskip("av")

DAY = 24 * 60 * 60


async def accepted_call(http: aiohttp.ClientSession, sandbox: Sandbox, **options: Any) -> str:
    """A user-initiated call the bot accepted with `options` (recording=, transcription=)."""
    call_id = await sandbox.ring(USER)
    await post(http, action_body("accept", call_id, ANSWER, **options))
    return call_id


async def test_a_call_without_media_is_recorded_as_silence_of_its_length(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    call_id = await accepted_call(http, sandbox, recording=option())
    assert sandbox.media_of(call_id).state == "recording"
    sandbox.clock.advance(42)
    await post(http, action_body("terminate", call_id))
    item = await media_webhook(receiver, "call_recording_available", call_id)
    assert signed(item)
    reference = calls_value(item.payload)["calls"][0]["call_recording"]["audio"]
    fetched = await fetch(http, sandbox.base_url, reference["id"])
    decoded = await asyncio.to_thread(decode, fetched.data)
    assert (decoded.codec, decoded.channels) == ("opus", 2)
    assert 42.0 <= decoded.seconds <= 42.5
    assert peak(decoded.business) < 50
    assert peak(decoded.user) < 50
    record = sandbox.media_of(call_id)
    assert (record.state, record.recorded, record.transcribed) == ("done", True, False)
    assert record.seconds == pytest.approx(42.0, abs=0.3)
    assert record.recording is not None
    assert record.recording.id == reference["id"]
    assert record.transcript is None


@pytest.fixture
async def capped(receiver: Receiver) -> AsyncIterator[Sandbox]:
    limits = Limits(max_recording_seconds=20)
    async with Sandbox(webhook_url=receiver.url, webhook_secret=SECRET, limits=limits) as box:
        yield box


async def test_a_clock_jump_of_days_gives_a_recording_no_longer_than_the_cap(
    capped: Sandbox, receiver: Receiver
) -> None:
    async with aiohttp.ClientSession(
        base_url=capped.base_url, headers={"D360-API-KEY": "sandbox-key"}
    ) as http:
        call_id = await accepted_call(http, capped, recording=option())
        capped.clock.advance(3 * DAY)
        await capped.user_hangs_up(call_id)
        await capped.webhooks_idle()
        audio = capped.media_of(call_id).audio
        assert audio is not None
        assert len(audio) < 20_000
        decoded = await asyncio.to_thread(decode, audio)
        assert 19.9 <= decoded.seconds <= 20.1


async def test_a_business_call_gets_both_webhooks_and_an_honest_empty_transcript(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "temporary")
    body = connect_body(recording=option("support", "en_GB"), transcription=option("training"))
    call_id = (await post(http, body))["calls"][0]["id"]
    await sandbox.user_answers(call_id)
    sandbox.clock.advance(10)
    await sandbox.user_hangs_up(call_id)
    recorded = await media_webhook(receiver, "call_recording_available", call_id)
    transcribed = await media_webhook(receiver, "call_transcription_available", call_id)
    for item in (recorded, transcribed):
        assert signed(item)
        entry = calls_value(item.payload)["calls"][0]
        assert (entry["from"], entry["to"]) == (USER, "15550001234")
        assert "direction" not in entry
    entry = calls_value(transcribed.payload)["calls"][0]
    assert set(entry) == {"id", "event", "from", "to", "timestamp", "call_transcript"}
    reference = entry["call_transcript"]["document"]
    assert set(reference) == {"id", "sha256", "mime_type", "url"}
    fetched = await fetch(http, sandbox.base_url, reference["id"])
    assert fetched.content_type == "application/json"
    document = json.loads(fetched.data)
    assert document["metadata"]["note"] == NO_SCRIPT
    assert document["metadata"]["audio"]["duration"] == pytest.approx(10.0, abs=0.3)
    assert document["metadata"]["processed_at"].endswith("Z")
    assert document["transcript"] == {
        "text": "",
        "language": "en",
        "duration": document["metadata"]["audio"]["duration"],
        "confidence": 0.0,
        "segments": [],
    }
    record = sandbox.media_of(call_id)
    assert (record.purpose, record.language) == ("support", "en_GB"), "the recording's wins"
    assert record.document == document


async def test_a_scripted_transcript_spreads_its_lines_over_the_call(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    call_id = await sandbox.ring(USER)
    sandbox.script_transcript(
        call_id,
        [("Business", "Welcome to Acme"), ("Customer", "I need help"), ("business", "Sure")],
        language="es",
    )
    await post(http, action_body("accept", call_id, ANSWER, transcription=option()))
    sandbox.clock.advance(30)
    await post(http, action_body("terminate", call_id))
    await sandbox.webhooks_idle()
    events = [calls_value(item.payload)["calls"][0].get("event") for item in receiver.received]
    assert "call_transcription_available" in events
    assert "call_recording_available" not in events, "only transcription was asked"
    record = sandbox.media_of(call_id)
    assert record.recording is None
    transcript = record.document["transcript"]
    assert "note" not in record.document["metadata"]
    assert (
        transcript["text"] == "[Business] Welcome to Acme\n[Customer] I need help\n[Business] Sure"
    )
    assert transcript["language"] == "es"
    segments = transcript["segments"]
    assert [s["id"] for s in segments] == [0, 1, 2]
    assert [s["channel"] for s in segments] == [0, 1, 0]
    assert segments[0]["start"] == 0.0
    assert segments[2]["end"] <= transcript["duration"] == pytest.approx(30.0, abs=0.3)
    assert segments[2]["start"] >= 15.0, "spread over the whole call"
    for segment in segments:
        words = segment["words"]
        assert " ".join(w["word"] for w in words) == segment["text"]
        assert words[0]["start"] == segment["start"]
        assert words[-1]["end"] == pytest.approx(segment["end"], abs=0.002)
        assert all(w["lang"] == "es" for w in words)


async def test_the_script_refuses_bad_lines_and_a_call_that_ended(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(ValueError, match="no call"):
        sandbox.script_transcript("wacid.nope", [("Business", "Hi")])
    call_id = await accepted_call(http, sandbox, transcription=option())
    with pytest.raises(ValueError, match='"Business" or "Customer"'):
        sandbox.script_transcript(call_id, [("Agent", "Hi")])
    with pytest.raises(ValueError, match="non-empty string"):
        sandbox.script_transcript(call_id, [("Customer", "  ")])
    with pytest.raises(ValueError, match="pair"):
        sandbox.script_transcript(call_id, ["Business: Hi"])  # type: ignore[list-item]
    await sandbox.user_hangs_up(call_id)
    await sandbox.webhooks_idle()
    with pytest.raises(RuntimeError, match="before the call ends"):
        sandbox.script_transcript(call_id, [("Business", "Too late")])
    other = await sandbox.ring(USER)
    await sandbox.user_hangs_up(other)
    with pytest.raises(RuntimeError, match="before the call ends"):
        sandbox.script_transcript(other, [("Business", "Never answered")])


async def test_disabled_or_absent_options_record_nothing(
    sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    disabled = {"status": "DISABLED"}
    first = await accepted_call(http, sandbox, recording=disabled, transcription=disabled)
    second = await accepted_call(http, sandbox)
    for call_id in (first, second):
        sandbox.clock.advance(5)
        await post(http, action_body("terminate", call_id))
    await sandbox.webhooks_idle()
    assert dict(sandbox.recordings) == {}
    with pytest.raises(KeyError, match="asked for no recording"):
        sandbox.media_of(first)
    events = {calls_value(item.payload)["calls"][0].get("event") for item in receiver.received}
    assert events == {"connect", "terminate"}
