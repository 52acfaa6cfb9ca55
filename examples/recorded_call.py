"""A recorded and transcribed call: answer with Meta's recording and transcription on, talk,
hang up, then download both through 360dialog, print the transcript's turns and check the
recording's length.

Run it against the embedded sandbox, whose caller says a 440 Hz tone while the bot answers at
660 Hz (the sandbox does no speech recognition, so the caller's words are scripted):

    python examples/recorded_call.py --sandbox

Or serve the bot against a standalone sandbox (call it from the /phone page) or the real API,
with the flags every example takes (see examples/_serve.py):

    python examples/recorded_call.py --base-url http://127.0.0.1:8360 --secret S --folder calls

Against the real API Meta plays the consent announcement, and the files arrive by webhook within
about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

from d360_calling import Client, MediaDownload, Recording, Transcript, Transcription
from d360_calling.media import tone
from d360_calling.webhooks import (
    CallRecordingAvailable,
    CallTranscriptionAvailable,
    IncomingCall,
    Receiver,
    Router,
)

if __package__:
    from . import _serve
else:  # run as a script: python examples/recorded_call.py
    import _serve

log = logging.getLogger("recorded_call")

SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105 - what the sandbox signs with here
PURPOSE = "quality assurance and training"
TALK_SECONDS = 3.0
SCRIPT = [
    ("Customer", "Hi, I would like to move my delivery to Friday."),
    ("Business", "Of course, Friday it is. Anything else?"),
    ("Customer", "No, thank you. Bye!"),
]


class Files:
    """What the bot fetched after its calls: recordings and transcripts, by call id."""

    def __init__(self) -> None:
        self.recordings: dict[str, MediaDownload] = {}
        self.transcripts: dict[str, Transcript] = {}
        self.talked: dict[str, float] = {}  # seconds from connected to hang-up, by call id
        self.done = asyncio.Event()


def build_receiver(
    client: Client | None, *, folder: Path, secret: str | None = None, loopback: bool = False
) -> tuple[Receiver, Files]:
    """A receiver whose bot answers with recording and transcription on, talks, hangs up, and
    fetches both files when their webhooks come."""
    router = Router()
    files = Files()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        if not call.inbound:
            return
        audio = await call.answer_with_audio(
            loopback=loopback,
            recording=Recording(PURPOSE),
            transcription=Transcription(PURPOSE),
        )
        await audio.wait_connected()
        started = asyncio.get_running_loop().time()
        await audio.play(tone(660.0, seconds=TALK_SECONDS))
        await call.terminate()
        files.talked[call.call_id] = asyncio.get_running_loop().time() - started

    @router.on_recording
    async def recording(event: CallRecordingAvailable) -> None:
        assert receiver.client is not None
        path = folder / f"{event.call_id}.ogg"
        files.recordings[event.call_id] = await receiver.client.media.download(event.media, path)
        log.info("recording of %s saved to %s", event.call_id, path)
        _check_done()

    @router.on_transcription
    async def transcription(event: CallTranscriptionAvailable) -> None:
        assert receiver.client is not None
        files.transcripts[event.call_id] = await receiver.client.media.transcript(event.media)
        _check_done()

    def _check_done() -> None:
        if files.recordings and files.transcripts:
            files.done.set()

    receiver = Receiver(router, client=client, secret=secret)
    return receiver, files


def seconds_of_audio(path: Path) -> tuple[str, int, float]:
    """The codec, channel count and length in seconds of an audio file (PyAV decodes it)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, stream.codec_context.channels, samples / stream.rate


async def demo_with_sandbox(folder: Path) -> tuple[Files, str]:
    """One sandbox caller calls the bot; returns what the bot fetched and the call's id. The
    sandbox announces for `ANNOUNCEMENT_SECONDS` (a tone) before it records, as Meta does."""
    receiver, files = build_receiver(None, folder=folder, secret=SANDBOX_SECRET, loopback=True)
    async with _serve.embedded_sandbox(receiver, SANDBOX_SECRET) as (box, _):
        call_id = await box.ring("14155550123", media=True, tone_hz=440.0)
        box.script_transcript(call_id, SCRIPT)
        async with asyncio.timeout(30):
            await files.done.wait()
        return files, call_id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser, media=True)
    parser.add_argument("--folder", type=Path, help="where recordings go (default: a temp dir)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    if not args.sandbox:
        where = _serve.target(parser, args)
        folder = args.folder or Path(tempfile.mkdtemp(prefix="recorded-call-"))
        _serve.say(f"recordings go to {folder}")
        receiver, _ = build_receiver(
            None, folder=folder, secret=where.secret, loopback=where.loopback
        )
        _serve.run(_serve.serve(receiver, where))
        return
    with tempfile.TemporaryDirectory(prefix="recorded-call-") as temporary:
        folder = args.folder or Path(temporary)
        files, call_id = asyncio.run(demo_with_sandbox(folder))
        from d360_calling.sandbox.recordings import ANNOUNCEMENT_SECONDS

        saved = files.recordings[call_id]
        assert saved.path is not None
        codec, channels, seconds = seconds_of_audio(Path(saved.path))
        print(f"recording: {saved.size} bytes, {codec}, {channels} channels, {seconds:.1f} s")
        for speaker, text in files.transcripts[call_id].turns():
            print(f"  [{speaker}] {text}")
        expected = files.talked[call_id] - ANNOUNCEMENT_SECONDS  # recorded after the consent
        if codec != "opus" or channels != 2 or abs(seconds - expected) > 0.6:
            raise SystemExit(f"not the call: {codec}, {seconds:.1f} s, expected {expected:.1f} s")


if __name__ == "__main__":
    main()
