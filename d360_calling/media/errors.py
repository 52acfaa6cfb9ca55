"""The media layer's errors, all `D360Error`s; bad input stays `d360_calling.ValidationError`."""

from __future__ import annotations

from d360_calling.errors import D360Error


class MediaError(D360Error):
    """The call's audio failed or has ended; `play` and friends cannot go on."""


class MediaTimeoutError(MediaError, TimeoutError):
    """ICE and DTLS did not complete within the allowed time, or the peer fell silent."""


class MediaSilenceError(MediaTimeoutError):
    """No packet came from the peer for `no_media_timeout` seconds while connected (the
    peer's network or app stalled without closing); Meta would drop the call at 20 s."""


class MediaConnectionError(MediaError, ConnectionError):
    """ICE or DTLS failed, or the peer closed the connection."""
