"""A call's received audio, decoded on the event loop as it leaves our jitter buffer.

aiortc 1.16 gives every receiver a decoder thread fed through a `queue.Queue`, and each decoded
frame comes back through `run_coroutine_threadsafe` (a task per frame). At tens of calls per core
those hand-offs cost more than decoding (about 25 µs of C per 20 ms frame). `inline(receiver)`
swaps the receiver's decoder queue for one that decodes as it is put, straight to 48 kHz mono
(`_opus.OpusDecoder`), into the remote track's queue, and its audio jitter buffer for
`_audio_jitter.AudioJitterBuffer` (aiortc's turned 5 % packet loss into 25 % of frames lost);
`install()` makes aiortc's decoder thread return at once for such a receiver. RTCP and SRTP stay
aiortc's. Shared by the media layer and the sandbox's peer; `check_internals()` names what moved
on another aiortc.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Final

import av

from d360_calling._audio_jitter import AudioJitterBuffer, Frames
from d360_calling._checked_patch import CheckedPatch
from d360_calling._opus import OpusDecoder

log = logging.getLogger(__name__)

_MARK: Final = "_d360_inline"
_QUEUE: Final = "_RTCRtpReceiver__decoder_queue"
_JITTER: Final = "_RTCRtpReceiver__jitter_buffer"
_WORKER_PARAMS: Final = ["loop", "input_q", "output_q", "decode_error"]


class InlineDecoding:
    """Stands in for a receiver's decoder queue: `put((codec, frame))` decodes it right away."""

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._opus: OpusDecoder | None = None
        self._others: dict[str, Any] = {}

    def put(self, item: tuple[Any, Any] | None) -> None:
        """Decode `item` into the remote track's queue; None ends the track."""
        output = self._receiver._track._queue
        if item is None:
            output.put_nowait(None)
            return
        codec, encoded = item
        later = encoded.later() if isinstance(encoded, Frames) else []
        for one in (encoded, *later):
            try:
                for frame in self._decode(codec, one):
                    output.put_nowait(frame)
            except av.FFmpegError as exc:
                log.warning("could not decode a %s frame: %s", codec.name, exc)

    def _decode(self, codec: Any, encoded: Any) -> list[Any]:
        if codec.name.lower() == "opus":
            if self._opus is None:
                self._opus = OpusDecoder()
            return self._opus.decode(encoded.data, encoded.timestamp)
        from aiortc.codecs import get_decoder

        decoder = self._others.get(codec.name)
        if decoder is None:
            decoder = self._others[codec.name] = get_decoder(codec)
        return list(decoder.decode(encoded))


def inline(receiver: Any) -> bool:
    """Decode `receiver`'s audio on the loop from now on, through our jitter buffer; False
    (aiortc's own thread and buffer) if its internals moved."""
    if not install():
        return False
    setattr(receiver, _QUEUE, InlineDecoding(receiver))
    setattr(receiver, _JITTER, AudioJitterBuffer())
    return True


def check_internals() -> None:
    """Check the aiortc names `inline` relies on; RuntimeError naming what moved."""
    import aiortc
    from aiortc import rtcrtpreceiver
    from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver

    moved = []
    worker = getattr(rtcrtpreceiver, "decoder_worker", None)
    original = getattr(worker, "__wrapped__", worker)
    if original is None or list(inspect.signature(original).parameters) != _WORKER_PARAMS:
        moved.append(f"aiortc.rtcrtpreceiver.decoder_worker({', '.join(_WORKER_PARAMS)})")
    receiver_source = inspect.getsource(RTCRtpReceiver)
    for needle, what in (
        ("self.__decoder_queue: queue.Queue", "RTCRtpReceiver.__decoder_queue"),
        ("self.__decoder_queue.put((codec, encoded_frame))", "its put((codec, encoded_frame))"),
        ("target=decoder_worker", "the decoder thread's target decoder_worker"),
        ("self._track._queue", "the remote track's queue as the thread's output"),
        ("self.__jitter_buffer = JitterBuffer(", "RTCRtpReceiver.__jitter_buffer"),
        (
            "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)",
            "its add(packet) -> (pli_flag, encoded_frame)",
        ),
    ):
        if needle not in receiver_source:
            moved.append(what)
    if "self._queue: asyncio.Queue" not in inspect.getsource(RemoteStreamTrack):
        moved.append("RemoteStreamTrack._queue (an asyncio.Queue)")
    if moved:
        raise RuntimeError(
            f"aiortc {aiortc.__version__} moved internals the inline decoder needs: "
            f"{'; '.join(moved)} (tested with aiortc 1.16)"
        )


def _patch() -> None:
    from aiortc import rtcrtpreceiver

    original = rtcrtpreceiver.decoder_worker
    if getattr(original, _MARK, False):
        return

    def decoder_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
        if isinstance(input_q, InlineDecoding):
            return  # decoded on the loop: the thread ends at once
        original(loop, input_q, output_q, decode_error)

    decoder_worker.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(decoder_worker, _MARK, True)
    rtcrtpreceiver.decoder_worker = decoder_worker


install = CheckedPatch(check_internals, _patch, "decoding on aiortc's threads")
"""Make aiortc's decoder thread step aside for inline receivers, once; False if moved."""
