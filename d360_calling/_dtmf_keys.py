"""Keys on one aiortc transceiver, shared by `CallAudio` and the sandbox's user: the codec
preferences that negotiate telephone-event, and sending tones through the RFC 4733 send hook.

Errors here are plain (`ValueError`, `LookupError`, `TimeoutError`, `EOFError`): each caller
turns them into its own kind (the SDK's `ValidationError`/`MediaError`, the sandbox's
`ValueError`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from d360_calling import _dtmf_rtp

SENDABLE: Final = "0123456789*#"
"""The keys a phone's keypad has (RFC 4733 events 0-11)."""
GAP_MS: Final = (50, 10_000)
"""Shortest and longest pause between tones (libwebrtc waits at least 50 ms)."""
TONE_MS: Final = (40, _dtmf_rtp.MAX_TONE_MS)
"""Shortest and longest tone (the longest fits the duration field)."""
SEND_SLACK: Final = 5.0
"""Seconds beyond the tones' own length that `send` waits for them to leave."""


def codec_preferences(codecs: tuple[str, ...]) -> list[Any]:
    """aiortc capabilities for `codecs` in order, then telephone-event/8000 (hooks installed)."""
    from aiortc import RTCRtpSender

    _dtmf_rtp.install()
    capabilities = RTCRtpSender.getCapabilities("audio").codecs
    wanted = [f"audio/{name}" for name in codecs] + [_dtmf_rtp.TELEPHONE_EVENT]
    return [c for mime in wanted for c in capabilities if c.mimeType == mime]


def timing_problem(tone_ms: object, gap_ms: object) -> tuple[str, str] | None:
    """`(field, problem)` when a tone or gap length is out of range; None when both fit."""
    for field, value, (low, high) in (("tone_ms", tone_ms, TONE_MS), ("gap_ms", gap_ms, GAP_MS)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return field, f"must be a whole number of ms, {low}-{high}"
    return None


class ToneSender:
    """The tones a transceiver sends: its SSRC is registered with the send hook on first use
    and unregistered by `close()`."""

    def __init__(self, transceiver: Any) -> None:
        self._transceiver = transceiver
        self._outbound: _dtmf_rtp.Outbound | None = None

    @property
    def negotiated(self) -> bool:
        """Whether both sides agreed on telephone-event (known once the SDP exchange is done)."""
        return bool(_dtmf_rtp.negotiated_pts(self._transceiver._codecs or []))

    async def send(self, digits: str, tone_ms: int, gap_ms: int) -> None:
        """Send `digits` (checked by the caller) over our Opus packets; return once they left.

        LookupError: telephone-event was not negotiated. TimeoutError: no audio is flowing.
        EOFError: the call's audio ended before the tones were sent."""
        codecs = self._transceiver._codecs or []
        te = sorted(_dtmf_rtp.negotiated_pts(codecs))
        if not te:
            raise LookupError("the call did not negotiate telephone-event")
        if self._outbound is None:
            ssrc = self._transceiver.sender._ssrc
            self._outbound = _dtmf_rtp.register_sender(ssrc, codecs[0].payloadType or 0, te[0])
        events = [SENDABLE.index(digit) for digit in digits]
        done = self._outbound.queue(events, tone_ms, gap_ms)
        limit = len(events) * (tone_ms + max(gap_ms, 60) + 60) / 1000 + SEND_SLACK
        try:
            async with asyncio.timeout(limit):
                await asyncio.shield(done)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if done.cancelled() and (task is None or not task.cancelling()):
                raise EOFError("the call's audio ended before the keys were sent") from None
            raise

    def close(self) -> None:
        """Stop sending: the queued tones are dropped."""
        if self._outbound is not None:
            _dtmf_rtp.unregister_sender(self._transceiver.sender._ssrc)
            self._outbound = None
