"""CallAudio's keypresses: the telephone-event codec preference, the key stream, sending tones."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiortc import RTCRtpSender

from d360_calling import _dtmf_rtp
from d360_calling.errors import ValidationError
from d360_calling.media.dtmf import DtmfStream, check_digits
from d360_calling.media.errors import MediaError

SEND_SLACK: Final = 5.0
"""Seconds beyond the tones' own length that `send` waits for them to leave."""


def codec_preferences(codecs: tuple[str, ...]) -> list[Any]:
    """aiortc capabilities for `codecs` in order, then telephone-event/8000 when installed."""
    _dtmf_rtp.install()
    capabilities = RTCRtpSender.getCapabilities("audio").codecs
    wanted = [f"audio/{name}" for name in codecs] + [_dtmf_rtp.TELEPHONE_EVENT]
    return [c for mime in wanted for c in capabilities if c.mimeType == mime]


class Keypad:
    """The keys the caller presses (`stream`) and the tones we send, on one transceiver."""

    def __init__(self, transceiver: Any) -> None:
        self.stream = DtmfStream()
        self._transceiver = transceiver
        self._ssrc: int | None = None
        _dtmf_rtp.inbound_of(transceiver.receiver).on_key = self.stream._key

    @property
    def negotiated(self) -> bool:
        """Whether both sides agreed on telephone-event (known once the SDP exchange is done)."""
        codecs = self._transceiver._codecs or []
        return bool(_dtmf_rtp.negotiated_pts(codecs))

    async def send(self, digits: str, tone_ms: int, gap_ms: int) -> None:
        """Send `digits` as RFC 4733 tones over our Opus packets; return once they have left."""
        events = check_digits(digits)
        if not isinstance(tone_ms, int) or not 40 <= tone_ms <= _dtmf_rtp.MAX_TONE_MS:
            raise ValidationError("tone_ms", f"must be 40-{_dtmf_rtp.MAX_TONE_MS} ms")
        if not isinstance(gap_ms, int) or not 50 <= gap_ms <= 10_000:
            raise ValidationError("gap_ms", "must be 50-10000 ms")
        codecs = self._transceiver._codecs or []
        te = sorted(_dtmf_rtp.negotiated_pts(codecs))
        if not te:
            raise MediaError("the caller's SDP did not negotiate telephone-event: cannot send keys")
        if self._ssrc is None:
            self._ssrc = self._transceiver.sender._ssrc
            _dtmf_rtp.register_sender(self._ssrc, codecs[0].payloadType, te[0])
        outbound = _dtmf_rtp._OUTBOUND[self._ssrc]
        done = outbound.queue(events, tone_ms, gap_ms)
        limit = len(events) * (tone_ms + max(gap_ms, 60) + 60) / 1000 + SEND_SLACK
        try:
            async with asyncio.timeout(limit):
                await asyncio.shield(done)
        except TimeoutError:
            raise MediaError(f"keys not sent within {limit:g} s: no audio is flowing") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if done.cancelled() and (task is None or not task.cancelling()):
                raise MediaError("the call's audio ended before the keys were sent") from None
            raise

    def end(self) -> None:
        """The call ended: stop sending, end every key consumer."""
        if self._ssrc is not None:
            _dtmf_rtp.unregister_sender(self._ssrc)
        self.stream._end()
