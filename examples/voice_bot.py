"""A voice bot: answers each call with real audio, greets the caller, records what they say to a
WAV file, and hangs up after they fall silent (or at a time limit).

Run it against the embedded sandbox, whose caller says a 440 Hz tone for a second:

    python examples/voice_bot.py --sandbox

Against the real API, serve `build_receiver(client, ...).app` behind your HTTPS endpoint, pass
your TURN server with `ice_servers=`, and point the 360dialog webhook URL at it.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import logging
import math
import wave
from pathlib import Path
from typing import Any

from aiohttp import web

from d360_calling import Client
from d360_calling.media import CallAudio, PcmSource, dominant_frequency, tone
from d360_calling.webhooks import IncomingCall, Receiver, Router

log = logging.getLogger("voice_bot")

SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105 - what the sandbox signs with here
SPEECH_LEVEL = 500.0
"""RMS (of int16 samples) above which a 20 ms frame counts as speech."""
FRAME_SECONDS = 0.02


def level(frame: bytes) -> float:
    """The RMS of one frame of int16 samples."""
    samples = array.array("h", frame)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


async def record_until_silence(
    audio: CallAudio, path: Path, *, silence: float, limit: float
) -> float:
    """Record the caller into `path` until `silence` seconds of quiet follow speech, or `limit`
    seconds pass; returns the seconds recorded."""
    quiet_frames = 0
    heard_speech = False
    recorded = 0
    frames = audio.frames()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        try:
            async with asyncio.timeout(limit):
                async for frame in frames:
                    out.writeframes(frame)
                    recorded += 1
                    if level(frame) >= SPEECH_LEVEL:
                        heard_speech, quiet_frames = True, 0
                    elif heard_speech:
                        quiet_frames += 1
                        if quiet_frames * FRAME_SECONDS >= silence:
                            break
        except TimeoutError:
            log.info("time limit of %s s reached", limit)
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
    limit: float = 30.0,
    **media_options: Any,
) -> Receiver:
    """A receiver whose bot answers with audio, greets, records and hangs up.

    `media_options` go to `CallAudio.answer` (`ice_servers=`, `loopback=` for the sandbox).
    """
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        if not call.inbound:
            return
        audio = await call.answer_with_audio(**media_options)
        await audio.wait_connected()
        await audio.play(greeting if greeting is not None else tone(660.0, seconds=0.5))
        path = recordings / f"{call.call_id}.wav"
        seconds = await record_until_silence(audio, path, silence=silence, limit=limit)
        log.info("recorded %.1f s of %s to %s", seconds, call.call_id, path)
        await call.terminate()

    return Receiver(router, client=client, secret=secret)


async def demo_with_sandbox(recordings: Path) -> tuple[Path, float | None, int]:
    """Ring the bot from a sandbox caller who says 440 Hz for a second, then falls silent;
    returns the recording, the pitch heard in it and how many calls the bot terminated."""
    from d360_calling.sandbox import Sandbox

    await asyncio.to_thread(recordings.mkdir, parents=True, exist_ok=True)
    receiver = build_receiver(None, recordings=recordings, secret=SANDBOX_SECRET, loopback=True)
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"
    try:
        async with (
            Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=SANDBOX_SECRET) as box,
            Client("sandbox-key", base_url=box.base_url) as client,
        ):
            receiver.client = client
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
    finally:
        await receiver.aclose()
        await receiver.router.aclose()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sandbox", action="store_true", help="run against the sandbox")
    parser.add_argument("--recordings", type=Path, default=Path("recordings"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    if not args.sandbox:
        parser.error("serve build_receiver(client, recordings=...).app yourself, or pass --sandbox")
    path, pitch, hung_up = asyncio.run(demo_with_sandbox(args.recordings))
    print(f"recorded the caller to {path} ({pitch or 0:.0f} Hz); bot hung up {hung_up} call(s)")


if __name__ == "__main__":
    main()
