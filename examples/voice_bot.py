"""A voice bot: answers each call with real audio, greets the caller, records what they say to a
WAV file, and hangs up after they fall silent or at the recording's maximum length.

Recordings go under `--recordings DIR`, or a fresh temporary folder (printed), never the
current directory. `--max-seconds` (default 30) bounds each one, so a caller who never pauses
(or a continuous tone) is cut off there; `--silence` is the quiet that ends a recording early.

Run it against the embedded sandbox, whose caller says a 440 Hz tone for a second:

    python examples/voice_bot.py --sandbox

Or serve it, and talk to it from the sandbox's phone page (http://127.0.0.1:8360/phone):

    python -m d360_calling sandbox --phone --webhook-url http://127.0.0.1:8080/webhook \\
        --webhook-secret S
    python examples/voice_bot.py --base-url http://127.0.0.1:8360 --secret S

Audio stays on 127.0.0.1 when `--base-url` is a loopback address (as the sandbox requires).
Against the real API, serve it behind your HTTPS endpoint with `--base-url
https://waba-v2.360dialog.io`, pass your TURN server with `ice_servers=` to `build_receiver`,
and point the 360dialog webhook URL at it (flags: examples/_serve.py).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import logging
import math
import tempfile
import wave
from pathlib import Path
from typing import Any

from d360_calling import Client
from d360_calling.media import CallAudio, MediaError, PcmSource, dominant_frequency, tone
from d360_calling.webhooks import IncomingCall, Receiver, Router

if __package__:
    from . import _serve
else:  # run as a script: python examples/voice_bot.py
    import _serve

log = logging.getLogger("voice_bot")

SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105 - what the sandbox signs with here
SPEECH_LEVEL = 500.0
"""RMS (of int16 samples) above which a 20 ms frame counts as speech."""
FRAME_SECONDS = 0.02
MAX_SECONDS = 30.0
"""The longest recording, by default: a caller who never pauses is cut off here."""
STALL_SECONDS = 5.0
"""How long past `max_seconds` of wall time a recording may wait for audio that stalled."""


def level(frame: bytes) -> float:
    """The RMS of one frame of int16 samples."""
    samples = array.array("h", frame)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


async def record_until_silence(
    audio: CallAudio, path: Path, *, silence: float, max_seconds: float = MAX_SECONDS
) -> float:
    """Record the caller into `path` until `silence` seconds of quiet follow speech,
    `max_seconds` of audio are recorded (speech or a tone that never stops), or the audio ends;
    returns the seconds recorded."""
    max_frames = max(1, round(max_seconds / FRAME_SECONDS))
    quiet_frames = 0
    heard_speech = False
    recorded = 0
    frames = audio.frames()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        try:
            async with asyncio.timeout(max_seconds + STALL_SECONDS):  # audio that stalls
                async for frame in frames:
                    out.writeframes(frame)
                    recorded += 1
                    if recorded >= max_frames:
                        log.info("maximum length of %g s reached", max_seconds)
                        break
                    if level(frame) >= SPEECH_LEVEL:
                        heard_speech, quiet_frames = True, 0
                    elif heard_speech:
                        quiet_frames += 1
                        if quiet_frames * FRAME_SECONDS >= silence:
                            break
        except TimeoutError:
            log.info("the caller's audio stalled; stopped after %.1f s", recorded * FRAME_SECONDS)
        finally:
            await frames.aclose()
    return recorded * FRAME_SECONDS


def build_receiver(
    client: Client | None,
    *,
    recordings: Path,
    greeting: PcmSource | None = None,
    secret: str | None = None,
    silence: float = 1.0,
    max_seconds: float = MAX_SECONDS,
    **media_options: Any,
) -> Receiver:
    """A receiver whose bot answers with audio, greets, records into `recordings` (which must
    exist) and hangs up, unless the caller hung up first.

    `media_options` go to `CallAudio.answer` (`ice_servers=`, `loopback=` for the sandbox).
    """
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        if not call.inbound:
            return
        audio = await call.answer_with_audio(**media_options)
        path = recordings / f"{call.call_id}.wav"
        try:
            await audio.wait_connected()
            await audio.play(greeting if greeting is not None else tone(660.0, seconds=0.5))
            seconds = await record_until_silence(
                audio, path, silence=silence, max_seconds=max_seconds
            )
        except MediaError as error:  # the caller hung up, or the audio failed
            log.info("call %s: audio ended (%s)", call.call_id, type(error).__name__)
            return
        log.info("recorded %.1f s of %s to %s", seconds, call.call_id, path)
        if audio.connected:  # else the caller has hung up: nothing to terminate
            await call.terminate()

    return Receiver(router, client=client, secret=secret)


async def demo_with_sandbox(recordings: Path) -> tuple[Path, float | None, int]:
    """Ring the bot from a sandbox caller who says 440 Hz for a second, then falls silent;
    returns the recording, the pitch heard in it and how many calls the bot terminated."""
    await asyncio.to_thread(recordings.mkdir, parents=True, exist_ok=True)
    receiver = build_receiver(None, recordings=recordings, secret=SANDBOX_SECRET, loopback=True)
    async with _serve.embedded_sandbox(receiver, SANDBOX_SECRET) as (box, _):
        call_id = await box.ring("14155550123", media=True, tone_hz=440.0)
        await asyncio.sleep(1.5)  # the greeting (0.5 s), then a second of the caller's tone
        box.voice(call_id).play_tone(None)
        for _ in range(200):  # at most 10 s for the bot to hear the silence and hang up
            if not box.calls[call_id].active:
                break
            await asyncio.sleep(0.05)
        path = recordings / f"{call_id}.wav"
        with wave.open(str(path), "rb") as recorded:
            pcm = recorded.readframes(recorded.getnframes())
        pitch = dominant_frequency(pcm[: 48_000 * 2])
        return path, pitch, box.stats.effects["calls.terminate"]


def recordings_folder(given: Path | None) -> Path:
    """`given` (made if missing), or a fresh temporary folder: never the current directory."""
    if given is None:
        return Path(tempfile.mkdtemp(prefix="voice-bot-"))
    given.mkdir(parents=True, exist_ok=True)
    return given


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser, media=True)
    parser.add_argument(
        "--recordings", type=Path, help="where recordings go (default: a new temporary folder)"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=MAX_SECONDS,
        help=f"the longest recording (default: {MAX_SECONDS:g})",
    )
    parser.add_argument(
        "--silence", type=float, default=1.0, help="quiet that ends a recording (default: 1)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    where = None if args.sandbox else _serve.target(parser, args)
    if args.max_seconds <= 0 or args.silence <= 0:
        parser.error("--max-seconds and --silence take a positive number of seconds")
    folder = recordings_folder(args.recordings)
    _serve.say(f"recordings go to {folder}")
    if where is None:
        path, pitch, hung_up = asyncio.run(demo_with_sandbox(folder))
        print(f"recorded the caller to {path} ({pitch or 0:.0f} Hz); bot hung up {hung_up} call(s)")
        return
    receiver = build_receiver(
        None,
        recordings=folder,
        secret=where.secret,
        silence=args.silence,
        max_seconds=args.max_seconds,
        loopback=where.loopback,
    )
    _serve.run(_serve.serve(receiver, where))


if __name__ == "__main__":
    main()
