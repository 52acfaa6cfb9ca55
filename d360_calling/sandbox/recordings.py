"""Recordings and transcripts of the calls that ask for them (API reference, §11.1).

A connected call whose `connect`/`accept` carried `recording` or `transcription` gets the
consent announcement first: with a sandbox user's media (`media=True`), a tone of
`ANNOUNCEMENT_HZ` for `ANNOUNCEMENT_SECONDS` in both directions, then both sides are recorded
(channel 0 the business as the user hears it, channel 1 the user). A user who hangs up during
the announcement has declined: nothing is recorded. A call without the sandbox's media (the
static SDP, or the /phone page, whose audio goes from the browser to the bot directly) is
recorded as silence of its length on the sandbox clock, at most `Limits.max_recording_seconds`.
Once the call ends the files are stored (`MediaStore`) and the signed `calls` webhooks posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Protocol

import attrs

from d360_calling.sandbox.clock import SandboxClock
from d360_calling.sandbox.limits import Limits
from d360_calling.sandbox.media_store import MediaStore, StoredMedia
from d360_calling.sandbox.recorder import CallRecorder
from d360_calling.sandbox.records import Call
from d360_calling.sandbox.transcript import Script, check_script, transcript_document
from d360_calling.sandbox.voices import MEDIA_EXTRA_HINT, Voices
from d360_calling.sandbox.webhooks import BusinessPhone, Deliverer, media_webhook

log = logging.getLogger(__name__)

ANNOUNCEMENT_HZ: Final = 1200.0
"""The consent announcement's pitch: far from the tones the tests' users and bots say."""
ANNOUNCEMENT_SECONDS: Final = 1.0
CONNECT_SECONDS: Final = 10.0
"""How long a media call's audio may take to connect before it is recorded as silence."""
AUDIO_MIME: Final = "audio/ogg; codecs=opus"
DOCUMENT_MIME: Final = "application/json"


class RecordingListener(Protocol):
    """Who hears of announcements and finished recordings (the /phone page's hub)."""

    def announcement(self, call_id: str, purpose: str, seconds: float) -> None:
        """The consent announcement of `call_id` starts playing."""

    def recording_ready(self, call_id: str, seconds: float) -> None:
        """The recording of `call_id`, `seconds` long, is stored."""


@attrs.define
class CallRecording:
    """What the sandbox makes of one call that asked for recording or transcription."""

    call_id: str
    purpose: str
    """The purpose announced (the recording's when both were asked)."""
    language: str
    recorded: bool
    """Whether `recording` was asked (a `call_recording_available` webhook follows)."""
    transcribed: bool
    """Whether `transcription` was asked (a `call_transcription_available` webhook follows)."""
    state: str = "recording"
    """ "announcing", "recording", then "done", "declined" (the call ended during the
    announcement) or "failed" (see `error`)."""
    seconds: float = 0.0
    """The recording's length."""
    recording: StoredMedia | None = None
    transcript: StoredMedia | None = None
    error: str | None = None

    @property
    def audio(self) -> bytes | None:
        """The OGG/Opus bytes (None before the call ends, without `recording` asked, or once
        retention dropped them)."""
        return None if self.recording is None else self.recording.data

    @property
    def document(self) -> Any:
        """The transcript document, decoded (None as for `audio`)."""
        data = None if self.transcript is None else self.transcript.data
        return None if data is None else json.loads(data)


class Recordings:
    """The recordings by call id, and the work that makes them."""

    def __init__(
        self,
        *,
        clock: SandboxClock,
        limits: Limits,
        store: MediaStore,
        deliverer: Deliverer,
        phone: BusinessPhone,
        voices: Voices,
    ) -> None:
        self._clock, self._limits, self._store = clock, limits, store
        self._deliverer, self._phone, self._voices = deliverer, phone, voices
        self.calls: dict[str, CallRecording] = {}
        self._scripts: dict[str, tuple[Script, str]] = {}
        self._recorders: dict[str, CallRecorder] = {}
        self._announcing: dict[str, asyncio.Task[None]] = {}
        self._finishing: set[asyncio.Task[None]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self.listener: RecordingListener | None = None

    def script(
        self, call: Call | None, call_id: str, lines: Iterable[tuple[str, str]], language: str
    ) -> None:
        """Set what the transcript of `call_id` will say; it must not be made yet."""
        if call is None:
            raise ValueError(f"no call with id {call_id!r}")
        record = self.calls.get(call_id)
        made = record is not None and record.state not in ("announcing", "recording")
        if made or (record is None and not call.active):
            raise RuntimeError(
                f"the transcript of {call_id} was made when the call ended "
                f"({call.state.value}); script it before the call ends"
            )
        self._scripts[call_id] = (check_script(lines), language)

    # -- what the engine tells ------------------------------------------------------------

    def connected(self, call: Call) -> None:
        """`call` was picked up; announce and record if it asked for it."""
        option = call.announced
        if option is None or call.id in self.calls:
            return
        record = CallRecording(
            call.id,
            option.purpose,
            option.language,
            recorded=call.recording is not None,
            transcribed=call.transcription is not None,
        )
        self.calls[call.id] = record
        if self._voices.find(call.id) is None:
            if self.listener is not None:
                self.listener.announcement(call.id, option.purpose, ANNOUNCEMENT_SECONDS)
            return
        record.state = "announcing"
        task = asyncio.create_task(self._announce(record))
        self._announcing[call.id] = task
        task.add_done_callback(lambda _: self._announcing.pop(call.id, None))

    def ended(self, call: Call, name: str) -> None:
        """`call` ended; make its files and post their webhooks (or note it was declined)."""
        record = self.calls.get(call.id)
        if record is None or record.state not in ("announcing", "recording"):
            return
        announcing = self._announcing.pop(call.id, None)
        if announcing is not None:
            announcing.cancel()
        recorder = self._recorders.pop(call.id, None)
        peer = self._voices.find(call.id)
        if peer is not None:
            peer.stop_tap()
        if record.state == "announcing" and not (recorder is not None and recorder.started):
            record.state = "declined"
            return
        self._spawn(self._finish(record, call, name, recorder))

    # -- the work -------------------------------------------------------------------------

    async def _announce(self, record: CallRecording) -> None:
        peer = self._voices.find(record.call_id)
        if peer is None:  # pragma: no cover - `connected` checked it
            return
        try:
            await peer.wait_connected(CONNECT_SECONDS)
        except (TimeoutError, ConnectionError) as error:
            log.warning(
                "sandbox recording: %s has no audio (%s); recording silence", record.call_id, error
            )
            record.state = "recording"
            return
        recorder = CallRecorder(self._pool(), self._limits.max_recording_seconds)
        self._recorders[record.call_id] = recorder
        if self.listener is not None:
            self.listener.announcement(record.call_id, record.purpose, ANNOUNCEMENT_SECONDS)
        await peer.announce(ANNOUNCEMENT_HZ, ANNOUNCEMENT_SECONDS, then=recorder)
        record.state = "recording"

    async def _finish(
        self, record: CallRecording, call: Call, name: str, recorder: CallRecorder | None
    ) -> None:
        try:
            if recorder is not None and recorder.started:
                audio, seconds = await recorder.finish()
            else:
                if recorder is not None:
                    recorder.abandon()
                start = call.start_time if call.start_time is not None else call.created_at
                end = call.end_time if call.end_time is not None else self._clock.now()
                seconds = min(max(end - start, 0.0), self._limits.max_recording_seconds)
                audio = await self._in_pool(_silence, seconds)
        except ImportError:
            record.state, record.error = "failed", f"recordings are OGG/Opus: {MEDIA_EXTRA_HINT}"
            log.warning("sandbox recording of %s: %s", call.id, record.error)
            return
        except Exception as error:  # an encoder failure is the sandbox's, never the caller's
            record.state, record.error = "failed", f"{type(error).__name__}: {error}"
            log.exception("sandbox recording of %s failed", call.id)
            return
        now = self._clock.now()
        record.seconds = seconds
        payloads = []
        if record.recorded:
            record.recording = self._store.add(audio, AUDIO_MIME, now)
            payloads.append(
                self._webhook(call, name, now, "call_recording_available", record.recording)
            )
        if record.transcribed:
            script, language = self._scripts.get(call.id, (None, "en"))
            document = transcript_document(
                script, seconds=seconds, processed_at=now, language=language
            )
            data = json.dumps(document, ensure_ascii=False).encode()
            record.transcript = self._store.add(data, DOCUMENT_MIME, now)
            payloads.append(
                self._webhook(call, name, now, "call_transcription_available", record.transcript)
            )
        self._scripts.pop(call.id, None)
        record.state = "done"
        if self.listener is not None and record.recording is not None:
            self.listener.recording_ready(call.id, seconds)
        await self._deliverer.enqueue(*payloads)

    def _webhook(self, call: Call, name: str, now: float, event: str, media: StoredMedia) -> Any:
        reference = media.reference(self._store.url(media, now))
        return media_webhook(self._phone, call, name, now, event=event, media=reference)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sandbox-recording")
        return self._executor

    async def _in_pool(self, work: Any, *args: Any) -> Any:
        return await asyncio.wrap_future(self._pool().submit(work, *args))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def idle(self) -> None:
        """Wait until every ended call's files are made and their webhooks queued."""
        while self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    async def close(self) -> None:
        """Finish the ended calls' recordings, drop the ongoing ones, stop the thread."""
        for task in list(self._announcing.values()):
            task.cancel()
        await asyncio.gather(*self._announcing.values(), return_exceptions=True)
        await self.idle()
        for recorder in self._recorders.values():
            recorder.abandon()
        self._recorders.clear()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            with contextlib.suppress(RuntimeError):
                await asyncio.to_thread(executor.shutdown)


def _silence(seconds: float) -> bytes:
    from d360_calling.sandbox.ogg import silent_ogg

    return silent_ogg(seconds)
