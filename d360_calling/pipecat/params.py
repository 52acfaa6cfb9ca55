"""`D360Params`: pipecat's `TransportParams` set for a WhatsApp call's audio.

Audio in and out are on, at pipecat's own pipeline rates (16 kHz in, 24 kHz out), so audio
from a TTS service at the pipeline's rate reaches the call without pipecat's resampler: the SDK
resamples to and from Opus's 48 kHz with PyAV. No end silence is sent: the transport drains
what is queued before it hangs up, so the last words are heard anyway.
"""

from __future__ import annotations

from pipecat.transports.base_transport import TransportParams
from pydantic import model_validator


class D360Params(TransportParams):
    """Transport parameters for a WhatsApp call (pipecat's `TransportParams`, other defaults).

    Keep `audio_in_sample_rate` and `audio_out_sample_rate` equal to your `PipelineParams`
    (and your TTS service's `sample_rate`, if you set one): audio at another rate is resampled
    by pipecat's own resampler, which adds latency, before it reaches the SDK.

    `hang_up_on_end`: when the pipeline ends (an `EndFrame`, or a `CancelFrame`), end the call
    through the API, once; the user hears what was queued before an `EndFrame`.
    `end_on_hang_up`: when the call ends first (the user hung up, the media failed), cancel the
    pipeline at once (a `CancelFrame`), after `on_client_disconnected`.

    pipecat writes 40 ms at a time (`audio_out_10ms_chunks=4`, its default). A pipeline that
    speaks 20 ms at a time (a speech-to-speech stream) gets its answer out 20 ms sooner with
    `audio_out_10ms_chunks=2`, at twice the writes: on an event loop near saturation those
    writes, each a few loop turns inside pipecat, fall behind real time first.
    """

    audio_in_enabled: bool = True
    audio_in_sample_rate: int | None = 16000
    audio_out_enabled: bool = True
    audio_out_sample_rate: int | None = 24000
    audio_out_end_silence_secs: int = 0
    hang_up_on_end: bool = True
    end_on_hang_up: bool = True

    @model_validator(mode="after")
    def _check_call_audio(self) -> D360Params:
        if self.audio_in_channels != 1 or self.audio_out_channels != 1:
            raise ValueError("a WhatsApp call's audio is mono: keep audio_in/out_channels at 1")
        if self.video_in_enabled or self.video_out_enabled:
            raise ValueError("a WhatsApp call carries no video: leave video_in/out_enabled off")
        return self
