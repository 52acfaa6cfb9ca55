"""When a call's audio connects and when it ends: the two outcomes, the connect deadline armed
once both descriptions are set, the failure callback, and waiting for either with a deadline of
the caller's choosing."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import Final, Literal

from d360_calling import validation
from d360_calling.errors import error_text
from d360_calling.media.errors import MediaError, MediaTimeoutError

logger = logging.getLogger("d360_calling.media.audio")

FailureCallback = Callable[[MediaError], None]
"""Called once when the audio fails (ICE/DTLS failed or timed out, the peer closed or fell
silent)."""


class _Deadline(enum.Enum):
    """The default of `wait_connected(timeout=...)`: the audio's own `connect_timeout`."""

    CONNECT_TIMEOUT = "connect_timeout"

    def __repr__(self) -> str:
        return "CONNECT_TIMEOUT"


CONNECT_TIMEOUT: Final = _Deadline.CONNECT_TIMEOUT
"""`wait_connected()`'s default deadline: the `connect_timeout` the audio was made with."""
Timeout = float | None | Literal[_Deadline.CONNECT_TIMEOUT]
"""What `wait_connected` takes: seconds, None for no deadline, or the default."""


class Lifecycle:
    """The outcomes of one call's audio: `connected` (None, or why it never connected) and
    `ended` (None when closed, or the failure), each resolved once; `on_end` runs at the end."""

    def __init__(
        self, connect_timeout: float, on_failed: FailureCallback | None, on_end: Callable[[], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        self.connect_timeout = connect_timeout
        self.connected: asyncio.Future[MediaError | None] = loop.create_future()
        self.ended: asyncio.Future[MediaError | None] = loop.create_future()
        self._on_failed = on_failed
        self._on_end = on_end
        self._deadline: asyncio.TimerHandle | None = None

    @property
    def failure(self) -> MediaError | None:
        """Why the audio failed, or None (running, or closed)."""
        return self.ended.result() if self.ended.done() else None

    def arm_deadline(self) -> None:
        """Both descriptions are set: fail the audio unless it connects within connect_timeout."""
        if self._deadline is None and not self.ended.done():
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self.connect_timeout, self._on_deadline)

    def on_connected(self) -> None:
        """ICE and DTLS are up."""
        if not self.connected.done():
            self.connected.set_result(None)
            if self._deadline is not None:
                self._deadline.cancel()

    def fail(self, error: MediaError) -> None:
        """End the audio with `error` (once) and tell the failure callback."""
        if self.ended.done():
            return
        logger.warning("call audio failed: %s", error_text(error))
        self.settle(error)
        if self._on_failed is not None:
            try:
                self._on_failed(error)
            except Exception:
                logger.exception("on_failed callback raised")

    def settle(self, error: MediaError | None) -> None:
        """End the audio once: resolve both outcomes, then `on_end`."""
        if self._deadline is not None:
            self._deadline.cancel()
        if not self.connected.done():
            self.connected.set_result(
                error or MediaError("the call's audio ended before it connected")
            )
        if not self.ended.done():
            self.ended.set_result(error)
        self._on_end()

    def ended_error(self) -> MediaError | None:
        """The error for using audio that has ended (its failure, or closed); None while it runs."""
        if not self.ended.done():
            return None
        return self.ended.result() or MediaError("the call's audio is closed")

    def raise_if_ended(self) -> None:
        if (error := self.ended_error()) is not None:
            raise error

    async def wait_connected(self, timeout: Timeout) -> None:
        """See `CallAudio.wait_connected`."""
        if timeout is CONNECT_TIMEOUT:
            limit: float | None = self.connect_timeout
        elif timeout is None:
            limit = None
        else:
            limit = validation.seconds("timeout", timeout)
        try:
            async with asyncio.timeout(limit):
                outcome = await asyncio.shield(self.connected)
        except TimeoutError:
            raise MediaTimeoutError(f"ICE and DTLS not connected after {limit:g} s") from None
        if outcome is not None:
            raise outcome
        self.raise_if_ended()

    def _on_deadline(self) -> None:
        if not self.connected.done():
            limit = self.connect_timeout
            self.fail(MediaTimeoutError(f"ICE and DTLS not connected after {limit:g} s"))
