"""`CallRecordingAvailable` and `CallTranscriptionAvailable` (API reference §11.1, §4.5; issue 24
item 2): parsing the documented items, with and without `from` and `timestamp`, a bad media
object costing only its item, dedupe keys, the router's decorators, the way back to a body, and
the media id and URL kept out of reprs, errors, log records and spans."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from d360_calling.models.media import MediaRef
from d360_calling.webhooks import (
    CallConnect,
    CallRecordingAvailable,
    CallTerminate,
    CallTranscriptionAvailable,
    Contact,
    Event,
    MalformedEvent,
    Metadata,
    Receiver,
    Router,
    WebhookError,
    parse,
    sign,
    to_envelope,
)
from tests.support.typecheck import mypy_strict

from ..support.webhooks import serve_aiohttp

WABA: Final = "102290129340398"
STAMP: Final = 1767168000
T0: Final = datetime.fromtimestamp(STAMP, tz=UTC)
CALL: Final = "wacid.HBgLMTYzMTU1NTEyMzQVAgARGBIwRjQ2"
USER: Final = "16315551234"
BSUID: Final = "US.13491208655302741918"
AUDIO_ID: Final = "1113001110239481"
AUDIO_URL: Final = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1113001110239481"
DOC_ID: Final = "2224001110239482"
DOC_URL: Final = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=2224001110239482"
SECRETS: Final = (AUDIO_ID, AUDIO_URL, DOC_ID, DOC_URL, "mid=")
SECRET: Final = "recording-secret"


def recording(**changes: Any) -> dict[str, Any]:
    """§11.1's `call_recording_available` item (`from` may be missing: BSUID-only users)."""
    item: dict[str, Any] = {
        "id": CALL,
        "event": "call_recording_available",
        "from": USER,
        "from_user_id": BSUID,
        "timestamp": str(STAMP),
        "call_recording": {
            "type": "audio",
            "audio": {
                "id": AUDIO_ID,
                "sha256": "uJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL2jbnYj5JNlU=",
                "mime_type": "audio/ogg; codecs=opus",
                "url": AUDIO_URL,
            },
        },
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


def transcription(**changes: Any) -> dict[str, Any]:
    """§11.1's `call_transcription_available` item."""
    item: dict[str, Any] = {
        "id": CALL,
        "event": "call_transcription_available",
        "from": USER,
        "from_user_id": BSUID,
        "timestamp": STAMP,
        "call_transcript": {
            "document": {
                "id": DOC_ID,
                "sha256": "2jbnYj5JNlUuJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL=",
                "mime_type": "application/json",
                "url": DOC_URL,
            }
        },
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


def body(*items: dict[str, Any], contacts: bool = True) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "16505553602", "phone_number_id": "5553602"},
        "calls": list(items),
    }
    if contacts:
        value["contacts"] = [{"profile": {"name": "Zoë"}, "wa_id": USER, "user_id": BSUID}]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": "calls", "value": value}]}],
    }


def encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


# --- parsing the documented items ------------------------------------------------------------


def test_the_documented_recording_item_reads_in_full() -> None:
    (event,) = parse(encoded(body(recording())), strict=True)
    assert event == CallRecordingAvailable(
        call_id=CALL,
        media=MediaRef(
            id=AUDIO_ID,
            sha256="uJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL2jbnYj5JNlU=",
            mime_type="audio/ogg; codecs=opus",
            url=AUDIO_URL,
        ),
        timestamp=T0,
        from_=USER,
        from_user_id=BSUID,
        contact=Contact(wa_id=USER, user_id=BSUID, name="Zoë"),
        metadata=Metadata(display_phone_number="16505553602", phone_number_id="5553602"),
        waba_id=WABA,
    )
    assert (event.field, event.item_key) == ("calls", "calls")
    assert event.age(T0 + timedelta(seconds=42)) == timedelta(seconds=42)


def test_the_documented_transcription_item_reads_in_full() -> None:
    (event,) = parse(encoded(body(transcription())), strict=True)
    assert isinstance(event, CallTranscriptionAvailable)
    assert event.media == MediaRef(
        id=DOC_ID,
        sha256="2jbnYj5JNlUuJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL=",
        mime_type="application/json",
        url=DOC_URL,
    )
    assert (event.call_id, event.timestamp, event.from_) == (CALL, T0, USER)
    assert event.contact is not None
    assert event.contact.name == "Zoë"


@pytest.mark.parametrize("make", [recording, transcription])
def test_without_from_or_timestamp_or_contacts(make: Callable[..., dict[str, Any]]) -> None:
    document = body(make(**{"from": None, "timestamp": None}), contacts=False)
    (event,) = parse(encoded(document), strict=True)
    assert isinstance(event, CallRecordingAvailable | CallTranscriptionAvailable)
    assert (event.from_, event.from_user_id, event.timestamp) == (None, BSUID, None)
    assert event.contact is None
    assert event.age() is None
    assert to_envelope([event]) == document


def test_only_the_media_id_is_required_in_the_media_object() -> None:
    item = recording(call_recording={"audio": {"id": AUDIO_ID}})
    (event,) = parse(encoded(body(item)), strict=True)
    assert event.media == MediaRef(id=AUDIO_ID)
    assert to_envelope([event]) == body(item)  # no `type` made up for it


# --- a bad media object costs only its item --------------------------------------------------

MALFORMED: Final = [
    (recording(call_recording=None), "calls[0].call_recording", "missing"),
    (recording(call_recording=[AUDIO_URL]), "calls[0].call_recording", "expected an object"),
    (recording(call_recording={"type": "audio"}), "calls[0].call_recording.audio", "missing"),
    (
        recording(call_recording={"audio": "x"}),
        "calls[0].call_recording.audio",
        "expected an object, got str",
    ),
    (
        recording(call_recording={"audio": {"url": AUDIO_URL}}),
        "calls[0].call_recording.audio.id",
        "missing",
    ),
    (
        recording(call_recording={"audio": {"id": 1113001110239481}}),
        "calls[0].call_recording.audio.id",
        "expected a string, got int",
    ),
    (
        recording(call_recording={"audio": {"id": AUDIO_ID, "url": [AUDIO_URL]}}),
        "calls[0].call_recording.audio.url",
        "expected a string, got list",
    ),
    (transcription(call_transcript=None), "calls[0].call_transcript", "missing"),
    (
        transcription(call_transcript={"audio": {"id": DOC_ID}}),
        "calls[0].call_transcript.document",
        "missing",
    ),
    (
        transcription(call_transcript={"document": {"id": DOC_ID, "sha256": 5}}),
        "calls[0].call_transcript.document.sha256",
        "expected a string, got int",
    ),
    (recording(id=None), "calls[0].id", "missing"),
    (recording(timestamp="yesterday"), "calls[0].timestamp", "expected Unix seconds"),
]


@pytest.mark.parametrize(("item", "path", "problem"), MALFORMED)
def test_a_bad_media_object_is_malformed_alone_naming_where(
    item: dict[str, Any], path: str, problem: str
) -> None:
    document = body(item, transcription())
    first, second = parse(encoded(document))
    assert isinstance(first, MalformedEvent)
    assert first.path == f"entry[0].changes[0].value.{path}"
    assert problem in first.error.problem
    assert isinstance(second, CallTranscriptionAvailable)  # the next item is still read
    with pytest.raises(WebhookError) as strict:
        parse(encoded(document), strict=True)
    assert strict.value.path == first.path
    for text in (str(first.error), repr(first), str(strict.value), repr(strict.value)):
        assert not any(secret in text for secret in SECRETS), text


# --- dedupe keys -----------------------------------------------------------------------------


def test_dedupe_keys_name_the_call_and_the_file() -> None:
    connect = {"id": CALL, "event": "connect", "timestamp": str(STAMP), "from": USER}
    terminate = {**connect, "event": "terminate", "status": "COMPLETED"}
    events = parse(encoded(body(connect, recording(), transcription(), terminate)), strict=True)
    keys = [event.dedupe_key for event in events]
    assert keys == [
        f"calls:{CALL}:connect",
        f"calls:{CALL}:recording",
        f"calls:{CALL}:transcription",
        f"calls:{CALL}:terminate",
    ]
    again = parse(encoded(body(recording(timestamp=str(STAMP + 5)))), strict=True)
    assert again[0].dedupe_key == keys[1]  # a redelivery, restamped, is the same event


# --- the router ------------------------------------------------------------------------------


async def test_the_decorators_get_their_own_events_only() -> None:
    router = Router()
    got: list[tuple[str, Event]] = []

    @router.on_recording
    async def recorded(event: CallRecordingAvailable) -> None:
        got.append(("recording", event))

    @router.on_transcription
    async def transcribed(event: CallTranscriptionAvailable) -> None:
        got.append(("transcription", event))

    @router.on_terminate
    async def ended(event: CallTerminate) -> None:
        got.append(("terminate", event))

    assert recorded.__name__ == "recorded"  # the decorator gives the function back
    rec, tra = parse(encoded(body(recording(), transcription())), strict=True)
    for event in (rec, tra, rec):
        await asyncio.gather(*router.handlers_for(event, None))
    assert got == [("recording", rec), ("transcription", tra), ("recording", rec)]
    assert not router.has_ended(CALL)  # a file ready is not the call's end


async def test_a_receiver_on_loopback_runs_them_once_and_logs_no_media_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()
    got: list[str] = []

    @router.on_recording
    async def recorded(event: CallRecordingAvailable) -> None:
        got.append(event.media.id)
        raise RuntimeError("handler bug")  # logged by the receiver, with a traceback

    @router.on_transcription
    async def transcribed(event: CallTranscriptionAvailable) -> None:
        got.append(event.media.id)

    now = int(time.time())
    document = body(
        recording(timestamp=str(now)),
        transcription(timestamp=None),  # no timestamp: never "too old"
        recording(id="wacid.other", call_recording={"audio": {"url": AUDIO_URL}}),  # malformed
        recording(id="wacid.old", timestamp=str(now - 3 * 86400)),  # older than the window
    )
    data = encoded(document)
    caplog.set_level(logging.DEBUG)
    receiver = Receiver(router, secret=SECRET)
    served = await serve_aiohttp(receiver)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(2):  # the second delivery is a duplicate
                async with http.post(served.url, data=data, headers=sign(data, SECRET)) as answer:
                    assert answer.status == 200
    finally:
        await served.stop()
    assert sorted(got) == sorted([AUDIO_ID, DOC_ID])
    assert receiver.stats["handler_errors"] == 1
    assert receiver.stats["malformed_items"] == 1
    assert receiver.stats["expired"] == 2  # the old one, in both deliveries
    assert receiver.stats["duplicates"] == 3
    assert "handler bug" in caplog.text
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + repr(record.args)
        assert not any(secret in text for secret in SECRETS), text


async def test_spans_carry_the_call_not_the_media() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from d360_calling.middleware.otel import Telemetry

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    router = Router()
    handled = asyncio.Event()

    @router.on_recording
    async def recorded(event: CallRecordingAvailable) -> None:
        handled.set()

    receiver = Receiver(router, secret=SECRET, telemetry=Telemetry(tracer_provider=provider))
    data = encoded(body(recording(timestamp=str(int(time.time())))))
    assert (await receiver.receive(data, sign(data, SECRET))).status == 200
    await asyncio.wait_for(handled.wait(), 5)
    await receiver.aclose()
    finished = spans.get_finished_spans()
    assert len(finished) == 2  # the delivery and the handler
    for span in finished:
        attributes = dict(span.attributes or {})
        assert attributes["d360.call_id"] == CALL
        values = repr(attributes) + span.name + repr(span.events)
        assert not any(secret in values for secret in SECRETS), values


def test_mypy_types_the_decorators(tmp_path: Path) -> None:
    """`@router.on_recording` takes only a `CallRecordingAvailable` handler, and gives it back."""
    source = textwrap.dedent(
        """
        from d360_calling.webhooks import (
            CallRecordingAvailable, CallTranscriptionAvailable, Router,
        )

        router = Router()

        @router.on_recording
        async def wrong(event: CallTranscriptionAvailable) -> None: ...

        @router.on_transcription
        async def also_wrong(event: CallRecordingAvailable) -> None: ...

        @router.on_recording
        async def recorded(event: CallRecordingAvailable) -> None: ...

        @router.on_transcription
        async def transcribed(event: CallTranscriptionAvailable) -> None: ...

        reveal_type(recorded)
        """
    )
    errors, output = mypy_strict(tmp_path, source)
    assert len(errors) == 2, output
    assert "handlers.py:8:" in errors[0]
    assert "on_recording" in errors[0]
    assert "handlers.py:11:" in errors[1]
    assert "on_transcription" in errors[1]
    assert "Revealed type is" in output
    assert "CallRecordingAvailable" in output.split("Revealed type is")[1]


# --- back to a body, and reprs ---------------------------------------------------------------


def test_to_envelope_gives_the_body_back() -> None:
    connect = {"id": "wacid.c", "event": "connect", "timestamp": str(STAMP), "from": USER}
    document = body(recording(), connect, transcription(), recording(**{"from": None}))
    events = parse(encoded(document), strict=True)
    assert [type(event) for event in events] == [
        CallRecordingAvailable,
        CallConnect,
        CallTranscriptionAvailable,
        CallRecordingAvailable,
    ]
    assert to_envelope(events) == document
    assert parse(encoded(to_envelope(events)), strict=True) == events
    assert events[0].to_dict() == recording()


def test_an_event_made_by_hand_writes_the_documented_shape() -> None:
    event = CallRecordingAvailable(call_id=CALL, media=MediaRef(id=AUDIO_ID, url=AUDIO_URL))
    assert event.to_dict() == {
        "id": CALL,
        "event": "call_recording_available",
        "call_recording": {"type": "audio", "audio": {"id": AUDIO_ID, "url": AUDIO_URL}},
    }
    made = CallTranscriptionAvailable(call_id=CALL, media=MediaRef(id=DOC_ID), timestamp=T0)
    assert made.to_dict() == {
        "id": CALL,
        "event": "call_transcription_available",
        "timestamp": str(STAMP),
        "call_transcript": {"document": {"id": DOC_ID}},
    }
    (back,) = parse(encoded(to_envelope([made])), strict=True)
    assert back == made


def test_reprs_hide_the_media_id_and_url() -> None:
    events = parse(encoded(body(recording(), transcription())), strict=True)
    malformed = parse(encoded(body(recording(call_recording={"audio": {"url": AUDIO_URL}}))))
    for event in [*events, *malformed]:
        for text in (repr(event), str(event)):
            assert not any(secret in text for secret in SECRETS), text
    assert "sha256='uJmHk7vq0zFvTfMWqIyeLJxKqGMsW3VL2jbnYj5JNlU='" in repr(events[0])
    assert "id='***'" in repr(events[0])
    copied = copy.deepcopy(events[0])
    assert copied == events[0]
    assert copied.media.url == AUDIO_URL  # hidden from reprs, not lost
