"""Call audio over WebRTC with aiortc: the optional extra `d360-calling[media]`.

`import d360_calling` never imports this package (nor aiortc); import it yourself.
"""

from d360_calling._pcm import dominant_frequency
from d360_calling.media.audio import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_NO_MEDIA_TIMEOUT,
    CallAudio,
    FailureCallback,
)
from d360_calling.media.dtmf import DtmfKey, DtmfStream
from d360_calling.media.errors import (
    MediaConnectionError,
    MediaError,
    MediaSilenceError,
    MediaTimeoutError,
)
from d360_calling.media.lifecycle import CONNECT_TIMEOUT
from d360_calling.media.sources import PcmSource, audio_file, tone
from d360_calling.media.writer import AudioWriter

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_NO_MEDIA_TIMEOUT",
    "AudioWriter",
    "CallAudio",
    "DtmfKey",
    "DtmfStream",
    "FailureCallback",
    "MediaConnectionError",
    "MediaError",
    "MediaSilenceError",
    "MediaTimeoutError",
    "PcmSource",
    "audio_file",
    "dominant_frequency",
    "tone",
]
