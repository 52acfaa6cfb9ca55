"""One media call's recording as it happens: both sides paired into stereo chunks, encoded to
OGG/Opus on the sandbox's recording thread so the event loop only copies bytes.

Pure Python here; PyAV (`ogg`) is imported on that thread, so the sandbox imports without it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Final

from d360_calling._pcm import SAMPLE_RATE

if TYPE_CHECKING:
    from d360_calling.sandbox.ogg import StereoOggWriter

BYTES_PER_SECOND: Final = SAMPLE_RATE * 2
"""48 kHz mono int16, per side."""
CHUNK: Final = BYTES_PER_SECOND
"""Bytes of each side handed to the encoder at a time (one second)."""
MAX_LEAD: Final = 2 * BYTES_PER_SECOND
"""How far one side may run ahead before the other is taken as silent (it sends nothing)."""


class CallRecorder:
    """An `AudioTap` for the user's peer: the business (heard) on channel 0, the user (said)
    on channel 1, at most `max_seconds` long."""

    def __init__(self, executor: Executor, max_seconds: float) -> None:
        self._executor = executor
        self._limit = int(max_seconds * SAMPLE_RATE) * 2
        self._business = bytearray()
        self._user = bytearray()
        self._written = 0
        """Bytes per side handed to the encoder so far."""
        self._writer: StereoOggWriter | None = None
        self.started = False
        """Whether any audio came (the announcement is over and the tap was on)."""

    @property
    def seconds(self) -> float:
        """The length of the recording so far."""
        return (self._written + max(len(self._business), len(self._user))) / BYTES_PER_SECOND

    def said(self, pcm: bytes) -> None:
        """The user's side."""
        self._add(self._user, pcm)

    def heard(self, pcm: bytes) -> None:
        """The business's side, as the user heard it."""
        self._add(self._business, pcm)

    def _add(self, side: bytearray, pcm: bytes) -> None:
        self.started = True
        room = self._limit - self._written - len(side)
        if room <= 0:
            return
        side += pcm[: room - room % 2]
        other = self._user if side is self._business else self._business
        lead = len(side) - len(other) - MAX_LEAD
        if lead > 0:  # the other side sends nothing: it is silence
            other += bytes(lead - lead % 2)
        while len(self._business) >= CHUNK and len(self._user) >= CHUNK:
            self._submit(CHUNK)

    def _submit(self, size: int) -> None:
        business, user = bytes(self._business[:size]), bytes(self._user[:size])
        del self._business[:size], self._user[:size]
        self._written += size
        self._executor.submit(self._write, business, user)

    async def finish(self) -> tuple[bytes, float]:
        """The file and its length in seconds; the shorter side is padded with silence."""
        size = max(len(self._business), len(self._user))
        self._business += bytes(size - len(self._business))
        self._user += bytes(size - len(self._user))
        if size:
            self._submit(size)
        seconds = self._written / BYTES_PER_SECOND
        data = await asyncio.wrap_future(self._executor.submit(self._finish, seconds))
        return data, seconds

    def abandon(self) -> None:
        """Drop the recording (the sandbox is closing)."""
        self._business.clear()
        self._user.clear()
        self._executor.submit(self._abandon)

    # -- on the recording thread ------------------------------------------------------------

    def _write(self, business: bytes, user: bytes) -> None:
        if self._writer is None:
            from d360_calling.sandbox.ogg import StereoOggWriter

            self._writer = StereoOggWriter()
        self._writer.write(business, user)

    def _finish(self, seconds: float) -> bytes:
        if self._writer is None:
            from d360_calling.sandbox.ogg import silent_ogg

            return silent_ogg(seconds)
        writer, self._writer = self._writer, None
        return writer.finish()

    def _abandon(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abandon()
