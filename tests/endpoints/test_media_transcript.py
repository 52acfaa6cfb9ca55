"""`client.media.transcript` (issue 24 item 3): the transcript document (reference §11.1) read
into memory under a cap, checked against its SHA-256 and structured into typed models,
leniently (optional fields, unknown fields and speakers, an empty transcript)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aioresponses import aioresponses as Aioresponses

from d360_calling import (
    Client,
    MediaIntegrityError,
    MediaRef,
    ResponseDecodeError,
    Speaker,
    Transcript,
    TranscriptAudio,
    TranscriptMetadata,
    TranscriptSegment,
    TranscriptWord,
)

from ..support.clients import make_client
from ..support.server import Reply, ScriptedServer
from .media_support import (
    BASE,
    MEDIA_ID,
    PATH,
    add_file,
    add_lookup,
    count,
    meta_url,
    served_url,
    sha256_of,
)

DOCUMENT: dict[str, Any] = {
    "metadata": {
        "processed_at": "2026-12-01T10:00:05Z",
        "audio": {"duration": 7.5, "sample_rate": 16000, "channels": 2, "audio_format": "opus"},
    },
    "transcript": {
        "text": "[Business] Hello, how can I help?\n[Customer] My order is late.",
        "language": "en",
        "duration": 7.5,
        "confidence": 0.91,
        "segments": [
            {
                "id": 0,
                "speaker": "Business",
                "channel": 0,
                "start": 0.0,
                "end": 2.1,
                "text": "Hello,",
                "confidence": 0.95,
                "words": [
                    {"word": "Hello", "start": 0.0, "end": 0.6, "confidence": 0.99, "lang": "en"}
                ],
            },
            {"id": 1, "speaker": "Business", "channel": 0, "start": 2.1, "end": 3.4,
             "text": "how can I help?", "confidence": 0.9, "words": []},
            {"id": 2, "speaker": "Customer", "channel": 1, "start": 3.9, "end": 7.5,
             "text": "My order is late.", "confidence": 0.88},
        ],
    },
}  # fmt: skip


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    bound = make_client(BASE)
    try:
        yield bound
    finally:
        await bound.aclose()


def ref_for(data: bytes, token: str = "T0ken1234") -> MediaRef:
    return MediaRef(
        MEDIA_ID, sha256=sha256_of(data), mime_type="application/json", url=meta_url(token=token)
    )


async def serve(mock: Aioresponses, data: bytes, token: str = "T0ken1234") -> MediaRef:
    add_file(mock, served_url(BASE, token=token), data, mime_type="application/json")
    return ref_for(data, token)


async def test_the_document_becomes_typed_models(
    client: Client, aioresponses: Aioresponses
) -> None:
    data = body(DOCUMENT)
    transcript = await client.media.transcript(await serve(aioresponses, data))
    assert transcript.language == "en"
    assert transcript.duration == 7.5
    assert transcript.confidence == 0.91
    assert transcript.metadata == TranscriptMetadata(
        "2026-12-01T10:00:05Z", TranscriptAudio(7.5, 16000, 2, "opus")
    )
    assert len(transcript.segments) == 3
    first = transcript.segments[0]
    assert first == TranscriptSegment(
        id=0, speaker=Speaker.BUSINESS, channel=0, start=0.0, end=2.1, text="Hello,",
        confidence=0.95, words=(TranscriptWord("Hello", 0.0, 0.6, 0.99, "en"),),
    )  # fmt: skip
    assert transcript.segments[2].words == ()
    assert transcript.turns() == (
        (Speaker.BUSINESS, "Hello, how can I help?"),
        (Speaker.CUSTOMER, "My order is late."),
    )
    assert count(aioresponses) == 1


async def test_through_the_lookup_by_id(client: Client, aioresponses: Aioresponses) -> None:
    data = body(DOCUMENT)
    add_lookup(aioresponses, data, meta_url(token="L00kedUp"))
    add_file(aioresponses, served_url(BASE, token="L00kedUp"), data)
    transcript = await client.media.transcript(MEDIA_ID)
    assert transcript.segments[1].text == "how can I help?"
    assert count(aioresponses, path=f"/{MEDIA_ID}") == 1


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"metadata": {"processed_at": 1764583205}, "transcript": None},
        {"transcript": {"text": "", "language": "xx", "segments": []}},
        {"transcript": {"segments": None}},
    ],
)
async def test_an_empty_transcript_is_valid(
    client: Client, aioresponses: Aioresponses, document: dict[str, Any]
) -> None:
    transcript = await client.media.transcript(await serve(aioresponses, body(document)))
    assert transcript.segments == ()
    assert transcript.turns() == ()
    assert transcript.confidence is None


async def test_unknown_fields_and_speakers_are_kept_or_ignored(
    client: Client, aioresponses: Aioresponses
) -> None:
    document = {
        "transcript": {
            "new_field": {"a": 1},
            "confidence": "0.5",
            "segments": [
                {"speaker": "Agent", "text": "hi", "start": 1, "sentiment": "calm"},
                {"speaker": "customer", "text": "yo"},
            ],
        }
    }
    transcript = await client.media.transcript(await serve(aioresponses, body(document)))
    agent, customer = transcript.segments
    assert agent.speaker == "Agent"
    assert agent.speaker is not None
    assert not agent.speaker.is_known
    assert agent.start == 1.0
    assert isinstance(agent.start, float)
    assert customer.speaker is Speaker.CUSTOMER
    assert transcript.confidence == 0.5


def test_turns_fall_back_to_the_labelled_text() -> None:
    transcript = Transcript(text="[Business] Hi\n[Business] there\n[Customer] Hello\nstray")
    assert transcript.turns() == (
        (Speaker.BUSINESS, "Hi there"),
        (Speaker.CUSTOMER, "Hello"),
        (None, "stray"),
    )


async def test_a_mismatch_is_an_integrity_error(client: Client, aioresponses: Aioresponses) -> None:
    data = body(DOCUMENT)
    add_file(aioresponses, served_url(BASE), data)
    with pytest.raises(MediaIntegrityError) as caught:
        await client.media.transcript(
            MediaRef(MEDIA_ID, sha256=sha256_of(b"other"), url=meta_url())
        )
    assert caught.value.operation == "media.transcript"
    assert caught.value.actual == sha256_of(data)


async def test_the_transcript_is_capped() -> None:
    padded = {**DOCUMENT, "padding": "x" * (9 * 1024 * 1024)}
    data = body(padded)
    big = MediaRef(MEDIA_ID, sha256=sha256_of(data), url=meta_url())
    async with ScriptedServer({("GET", PATH): Reply(body=data)}) as server:
        client = make_client(server.base_url)
        try:
            with pytest.raises(ResponseDecodeError) as caught:
                await client.media.transcript(big)
            assert str(8 * 1024 * 1024) in str(caught.value)
            transcript = await client.media.transcript(big, max_body_size=16 * 1024 * 1024)
        finally:
            await client.aclose()
    assert len(transcript.segments) == 3
    assert server.count(PATH) == 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<html>no</html>", "is not JSON"),
        (body({"transcript": {"segments": [{"start": True}]}}), "$.segments[0].start"),
        (body({"transcript": {"segments": "SECRET-TEXT"}}), "$.segments"),
        (body({"transcript": {"confidence": "SECRET-TEXT"}}), "$.confidence"),
        (body({"transcript": "SECRET-TEXT"}), "transcript"),
    ],
)
async def test_an_unreadable_transcript_names_the_place_not_the_value(
    client: Client, aioresponses: Aioresponses, data: bytes, expected: str
) -> None:
    with pytest.raises(ResponseDecodeError) as caught:
        await client.media.transcript(await serve(aioresponses, data))
    assert caught.value.operation == "media.transcript"
    assert expected in str(caught.value)
    assert "SECRET-TEXT" not in str(caught.value)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
