"""The demo's recorded call: ask for recording and transcription, hang up, and fetch both files
through `client.media` as a compliance archive would (checked against the webhook's sha256)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Final, Protocol

from .client import Client
from .models.calls import Recording, SessionDescription, Transcription
from .sandbox import ANSWER_SDP, Sandbox
from .webhooks import (
    CallRecordingAvailable,
    CallTerminate,
    CallTranscriptionAvailable,
    IncomingCall,
)

PURPOSE: Final = "quality assurance"
SCRIPT: Final = (("Customer", "Where is my parcel?"), ("Business", "It arrives tomorrow."))
CALL_SECONDS: Final = 12


class Checks(Protocol):
    """The demo's report, as this step uses it."""

    def say(self, text: str) -> None: ...

    def check(self, what: str, ok: bool, detail: str = "") -> None: ...


class Seen(Protocol):
    """The demo's webhook queues, as this step uses them."""

    @property
    def connects(self) -> asyncio.Queue[IncomingCall]: ...

    @property
    def terminates(self) -> asyncio.Queue[CallTerminate]: ...

    @property
    def recordings(self) -> asyncio.Queue[CallRecordingAvailable]: ...

    @property
    def transcripts(self) -> asyncio.Queue[CallTranscriptionAvailable]: ...


async def recorded_call(
    report: Checks,
    sandbox: Sandbox,
    client: Client,
    seen: Seen,
    caller: str,
) -> None:
    """A call accepted with recording and transcription on; both files downloaded and read."""
    report.say("\n2c. A recorded call: Meta records and transcribes it; the bot fetches both")
    try:
        import av  # noqa: F401 - the sandbox encodes its recordings with PyAV
    except ImportError:
        report.say("  (skipped: pip install 'd360-calling[media]' for the recorded call)")
        return
    call_id = await sandbox.ring(caller)
    sandbox.script_transcript(call_id, list(SCRIPT))
    call = await seen.connects.get()
    answer = SessionDescription.answer(ANSWER_SDP)
    await call.accept(answer, recording=Recording(PURPOSE), transcription=Transcription(PURPOSE))
    sandbox.clock.advance(CALL_SECONDS)
    await sandbox.user_hangs_up(call_id)
    await seen.terminates.get()
    recording = await seen.recordings.get()
    transcription = await seen.transcripts.get()
    report.check(
        "recording and transcript webhooks received",
        recording.call_id == call_id == transcription.call_id,
        recording.media.mime_type or "",
    )
    with tempfile.TemporaryDirectory(prefix="d360-demo-") as folder:
        path = Path(folder) / "call.ogg"
        saved = await client.media.download(recording.media, path)
        head = await asyncio.to_thread(lambda: path.read_bytes()[:4])
    report.check(
        "recording downloaded and its sha256 verified",
        saved.sha256 == recording.media.sha256 and head == b"OggS",
        f"{saved.size} bytes of OGG/Opus",
    )
    transcript = await client.media.transcript(transcription.media)
    turns = [(str(speaker), text) for speaker, text in transcript.turns()]
    report.check("transcript read, split by speaker", turns == list(SCRIPT), f"{len(turns)} turns")
