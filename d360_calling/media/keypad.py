"""CallAudio's keypresses: the key stream it hears, and tones it sends as the SDK's errors."""

from __future__ import annotations

from typing import Any

from d360_calling import _dtmf_rtp
from d360_calling._dtmf_keys import ToneSender, codec_preferences
from d360_calling.media.dtmf import DtmfStream
from d360_calling.media.errors import MediaError

__all__ = ["Keypad", "codec_preferences"]


class Keypad:
    """The keys the caller presses (`stream`) and the tones we send, on one transceiver."""

    def __init__(self, transceiver: Any) -> None:
        self.stream = DtmfStream()
        self._tones = ToneSender(transceiver)
        _dtmf_rtp.inbound_of(transceiver.receiver).on_key = self.stream._key

    @property
    def negotiated(self) -> bool:
        """Whether both sides agreed on telephone-event (known once the SDP exchange is done)."""
        return self._tones.negotiated

    async def send(self, digits: str, tone_ms: int, gap_ms: int) -> None:
        """Send `digits` (checked by `check_keys`) as RFC 4733 tones over our Opus packets;
        return once they have left."""
        try:
            await self._tones.send(digits, tone_ms, gap_ms)
        except LookupError:
            raise MediaError(
                "the caller's SDP did not negotiate telephone-event: cannot send keys"
            ) from None
        except TimeoutError:
            raise MediaError("keys not sent in time: no audio is flowing") from None
        except EOFError as error:
            raise MediaError(str(error)) from None

    def end(self) -> None:
        """The call ended: stop sending, end every key consumer."""
        self._tones.close()
        self.stream._end()
