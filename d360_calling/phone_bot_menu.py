"""The built-in voice bot of `python -m d360_calling phone`: a greeting, a keypad menu and an
echo, in tones, every wait and every call bounded in time (the `[media]` extra).

The greeting rises C-E-G; the menu is two beeps asking for a key: 1 plays a 1 kHz tone, 2 is
an echo (after a high beep, what the caller says for a few seconds comes back, round after
round), # says goodbye (G-E-C) and hangs up, any other key gets a low "sorry". A key pressed
during a prompt stops it (barge-in) and counts. A real bot plays recordings instead
(`audio.play("menu.wav")`); tones keep this one free of files and measurable by pitch.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

import attrs

from d360_calling._pcm import FRAME_BYTES, SILENCE, Tone, samples_of
from d360_calling.errors import D360Error
from d360_calling.media import CallAudio, MediaError, PcmSource
from d360_calling.webhooks import IncomingCall

Note = tuple[float, float]
"""(Hz, seconds) of one note; 0 Hz is a rest."""

GREETING: Final[tuple[Note, ...]] = ((523.25, 0.25), (659.25, 0.25), (783.99, 1.5))
GREETING_HZ: Final = 783.99
"""The greeting's last and longest note: what a caller (or a test) listens for."""
MENU_HZ: Final = 587.33
MENU: Final[tuple[Note, ...]] = ((MENU_HZ, 0.3), (0.0, 0.15), (MENU_HZ, 0.3))
TONE_HZ: Final = 1000.0
TONE: Final[tuple[Note, ...]] = ((TONE_HZ, 3.0),)
ECHO_BEEP_HZ: Final = 880.0
ECHO_BEEP: Final[tuple[Note, ...]] = ((ECHO_BEEP_HZ, 0.4),)
SORRY: Final[tuple[Note, ...]] = ((261.63, 0.5),)
GOODBYE: Final[tuple[Note, ...]] = ((783.99, 0.2), (659.25, 0.2), (523.25, 0.5))
MENU_TEXT: Final = (
    "press 1 to hear a tone, 2 for an echo (speak after the beep, hear it back), # to hang up"
)

Say = Callable[[str], None]
"""Where the bot tells what happens on a call, one line at a time."""


@attrs.frozen
class Timing:
    """How long the bot waits for things; every call ends within `call_seconds`."""

    call_seconds: float = 300.0
    menu_wait: float = 8.0
    """Seconds after the menu before it plays again."""
    menu_repeats: int = 6
    """Menus in a row without a key before the bot says goodbye."""
    echo_seconds: float = 4.0
    """The longest stretch of the caller the echo plays back."""
    echo_rounds: int = 15
    """Echo rounds before the menu comes back."""
    connect_seconds: float = 15.0


class CallEnded(Exception):
    """The caller hung up, or the call's audio ended: the conversation stops."""


def _faded(frame: bytes, *, rising: bool) -> bytes:
    """A 20 ms frame faded in (or out) over its length, so a note starts and stops softly."""
    samples = samples_of(frame)
    count = len(samples)
    weights = range(count) if rising else range(count - 1, -1, -1)
    faded = array("h", (x * w // count for x, w in zip(samples, weights, strict=True)))
    if sys.byteorder == "big":
        faded.byteswap()
    return faded.tobytes()


def note_frames(hz: float, seconds: float, *, amplitude: float = 0.3) -> list[bytes]:
    """One note as 20 ms frames of 48 kHz mono int16 (a rest when `hz` is 0)."""
    count = max(1, round(seconds * 50))
    if hz <= 0:
        return [SILENCE] * count
    tone = Tone(hz, amplitude=amplitude)
    frames = [tone.next_frame() for _ in range(count)]
    frames[0] = _faded(frames[0], rising=True)
    frames[-1] = _faded(frames[-1], rising=False)
    return frames


async def melody(notes: Sequence[Note]) -> AsyncIterator[bytes]:
    """`notes` one after another, as `CallAudio.play` takes them."""
    for hz, seconds in notes:
        for frame in note_frames(hz, seconds):
            yield frame


async def pcm(data: bytes) -> AsyncIterator[bytes]:
    """Recorded audio (48 kHz mono int16) to play back."""
    for start in range(0, len(data), FRAME_BYTES):
        yield data[start : start + FRAME_BYTES]


class Conversation:
    """One caller's way through the menu: the keys they press, what they hear."""

    def __init__(self, audio: CallAudio, say: Say, timing: Timing) -> None:
        self._audio = audio
        self._say = say
        self._timing = timing
        self._keys: asyncio.Queue[str | None] = asyncio.Queue()
        """Keys pressed and not yet handled; None once the call's keys end."""

    async def run(self) -> str:
        """Greet, then serve the menu until # or too long without a key: why it ended.

        Raises `CallEnded` when the caller leaves first.
        """
        reader = asyncio.create_task(self._read_keys())
        try:
            return await self._menu()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read_keys(self) -> None:
        try:
            async for key in self._audio.dtmf:
                self._keys.put_nowait(key.digit)
        finally:
            self._keys.put_nowait(None)

    async def _menu(self) -> str:
        key = await self.prompt(melody(GREETING))
        idle = 0
        while True:
            if key is None:
                key = await self.prompt(melody(MENU), wait=self._timing.menu_wait)
            if key is None:
                idle += 1
                if idle >= self._timing.menu_repeats:
                    await self.prompt(melody(GOODBYE))
                    return f"no key after {idle} menus"
                continue
            idle = 0
            if key == "1":
                self._say("key 1: a 1 kHz tone")
                key = await self.prompt(melody(TONE))
            elif key == "2":
                self._say("key 2: echo (speak after the beep)")
                key = await self._echo()
            elif key == "#":
                self._say("key #: goodbye")
                await self.prompt(melody(GOODBYE))
                return "the caller pressed #"
            else:
                self._say(f"key {key}: not on the menu ({MENU_TEXT})")
                key = await self.prompt(melody(SORRY))

    async def _echo(self) -> str | None:
        """Rounds of beep, listen, play back; the first key pressed ends them."""
        for _ in range(self._timing.echo_rounds):
            if (key := await self.prompt(melody(ECHO_BEEP))) is not None:
                return key
            heard, key = await self._listen(self._timing.echo_seconds)
            if key is not None:
                return key
            if (key := await self.prompt(pcm(heard))) is not None:
                return key
        return None

    async def prompt(self, sound: PcmSource, *, wait: float = 0.0) -> str | None:
        """Play `sound`; the first key pressed meanwhile, or within `wait` seconds after,
        stops it and is returned; None when no key came."""
        playing = asyncio.create_task(self._audio.play(sound))
        getting = asyncio.create_task(self._keys.get())
        try:
            await asyncio.wait({playing, getting}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done() and wait > 0 and not _failed(playing):
                await asyncio.wait({getting}, timeout=wait)
        finally:
            if not playing.done():
                self._audio.interrupt()
            getting.cancel()
            await asyncio.gather(playing, getting, return_exceptions=True)
        return self._key_of(getting, playing)

    async def _listen(self, seconds: float) -> tuple[bytes, str | None]:
        """Up to `seconds` of the caller, or a key pressed meanwhile (and nothing heard)."""
        listening = asyncio.create_task(self._audio.listen(seconds))
        getting = asyncio.create_task(self._keys.get())
        try:
            await asyncio.wait({listening, getting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
            getting.cancel()
            await asyncio.gather(listening, getting, return_exceptions=True)
        key = self._key_of(getting, listening)
        if key is not None or listening.cancelled():
            return b"", key
        return listening.result(), None

    @staticmethod
    def _key_of(getting: asyncio.Task[str | None], sound: asyncio.Task[Any]) -> str | None:
        """The key `getting` got, None for none; `CallEnded` when the keys or the audio
        ended, and any other failure of `sound` as it is."""
        if getting.done() and not getting.cancelled():
            if (key := getting.result()) is None:
                raise CallEnded
            return key
        error = None if not sound.done() or sound.cancelled() else sound.exception()
        if isinstance(error, MediaError):
            raise CallEnded
        if error is not None:
            raise error
        return None


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


async def serve_call(call: IncomingCall, say: Say, timing: Timing | None = None) -> str:
    """Answer `call` with audio, converse, and hang up unless the caller did: how it ended.

    Cancelled (the bot stopping), it hangs up first, bounded, then lets the cancel through.
    """
    timing = timing or Timing()
    try:
        audio = await call.answer_with_audio(loopback=True, connect_timeout=timing.connect_seconds)
    except D360Error as error:  # an offer it cannot answer: say why, and decline
        with contextlib.suppress(D360Error):
            await call.reject()
        return f"could not answer: {error}"
    say(f"answered; the greeting plays, then the menu: {MENU_TEXT}")
    try:
        async with asyncio.timeout(timing.call_seconds):
            await audio.wait_connected()
            ending = await Conversation(audio, say, timing).run()
    except CallEnded:
        return "the caller hung up"
    except MediaError as error:  # the router ends a call whose audio failed
        return f"the audio failed: {error}"
    except TimeoutError:
        ending = f"over the {timing.call_seconds:g} s limit"
        with contextlib.suppress(TimeoutError, MediaError):
            async with asyncio.timeout(2.0):
                await audio.play(melody(GOODBYE))
    except asyncio.CancelledError:
        await _hang_up(call)
        raise
    await _hang_up(call)
    return ending


async def _hang_up(call: IncomingCall) -> None:
    """Terminate the call, bounded; one that ended meanwhile is settled, not an error."""
    with contextlib.suppress(D360Error, TimeoutError):
        async with asyncio.timeout(5.0):
            await call.terminate()
