"""Audio to play (tones, files, async iterators of PCM) as 20 ms frames of 48 kHz mono int16."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterable

from d360_calling._pcm import FRAME_BYTES, Tone, decode_file
from d360_calling.errors import ValidationError

PcmSource = str | os.PathLike[str] | AsyncIterable[bytes]
"""What `CallAudio.play` takes: a file path (WAV, or anything FFmpeg reads) or PCM chunks."""


async def tone(
    frequency_hz: float, seconds: float | None = None, *, amplitude: float = 0.3
) -> AsyncGenerator[bytes, None]:
    """A sine tone, for `seconds` or until the player stops asking."""
    generator = Tone(frequency_hz, amplitude=amplitude)
    count = None if seconds is None else round(seconds * 50)
    while count is None or count > 0:
        yield generator.next_frame()
        if count is not None:
            count -= 1


async def audio_file(path: str | os.PathLike[str]) -> AsyncGenerator[bytes, None]:
    """A file decoded (off the event loop) and resampled by PyAV to 48 kHz mono int16.

    A file PyAV cannot read is a `ValidationError`, raised before the first frame.
    """
    import av

    try:
        pcm = await asyncio.to_thread(decode_file, path)
    except (av.FFmpegError, OSError) as exc:
        raise ValidationError("source", f"cannot decode {os.fspath(path)!r}: {exc}") from None
    for start in range(0, len(pcm), FRAME_BYTES):
        yield pcm[start : start + FRAME_BYTES]


async def frames_of(source: PcmSource) -> AsyncGenerator[bytes, None]:
    """`source` cut into whole 20 ms frames; the last one is padded with silence."""
    chunks = audio_file(source) if isinstance(source, str | os.PathLike) else source
    pending = bytearray()
    try:
        async for chunk in chunks:
            if not pending and len(chunk) == FRAME_BYTES:
                yield chunk  # already one frame (a tone, a decoded file): no copy
                continue
            pending += chunk
            while len(pending) >= FRAME_BYTES:
                yield bytes(pending[:FRAME_BYTES])
                del pending[:FRAME_BYTES]
        if pending:
            yield bytes(pending.ljust(FRAME_BYTES, b"\0"))
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
