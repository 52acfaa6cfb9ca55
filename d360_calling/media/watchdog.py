"""The silence watchdog: once a call's audio is connected, no RTP packet from the peer for
`no_media_timeout` seconds is a media failure, reported well before Meta drops the silent call
(20 s, error 138021), so the app can end it at once and say why.

It measures packet arrival, not decoded audio: the keypress receive hook (`_dtmf_rtp`) stores
each packet's arrival time on the receiver's `Inbound`, one float per packet, and the watchdog
keeps one timer per call that, when it fires, re-arms itself for what remains since the last
packet instead of polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from d360_calling import _dtmf_rtp
from d360_calling.media.errors import MediaError, MediaSilenceError

logger = logging.getLogger("d360_calling.media.audio")

DEFAULT_NO_MEDIA_TIMEOUT: Final = 10.0
"""Seconds without a packet from the peer before the audio fails: room for a lossy network,
and half of Meta's 20 s, so the call is ended (and the app told) long before Meta drops it."""


class Watchdog:
    """Fails the audio (through `fail`) once `timeout` seconds pass without a packet reaching
    `receiver` (aiortc's `RTCRtpReceiver`), counted from `start()`; `timeout=None` never fails."""

    def __init__(
        self, timeout: float | None, receiver: Any, fail: Callable[[MediaError], None]
    ) -> None:
        self._timeout = timeout
        self._inbound = _dtmf_rtp.inbound_of(receiver)
        self._fail = fail
        self._since = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def start(self) -> None:
        """The audio is connected: start counting (once; a no-op after `stop()`)."""
        if self._timeout is None or self._timer is not None or self._stopped:
            return
        if not _dtmf_rtp.install():
            logger.warning("no_media_timeout is off: aiortc's receive hook is unavailable")
            return
        loop = asyncio.get_running_loop()
        self._since = loop.time()
        self._timer = loop.call_at(self._since + self._timeout, self._check)

    def stop(self) -> None:
        """The audio ended: never fire."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        assert self._timeout is not None
        loop = asyncio.get_running_loop()
        due = max(self._since, self._inbound.last_packet_at) + self._timeout
        if loop.time() < due:
            self._timer = loop.call_at(due, self._check)
            return
        self._timer = None
        self._fail(MediaSilenceError(f"no media from the peer for {self._timeout:g} s"))
