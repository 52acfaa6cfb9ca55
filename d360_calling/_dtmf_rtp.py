"""RFC 4733 keypresses inside aiortc's RTP: the telephone-event codec, receive and send hooks.

Shared by the media layer and the sandbox's user peer. `install()` patches aiortc 1.16 once per
process (a marker attribute on each wrapper, as `_loopback_ice` does):

- `aiortc.codecs.CODECS["audio"]` gets `telephone-event/8000` (PT 126, `0-16`) right after Opus,
  so an answer keeps the offer's telephone-event payload type (126 from Meta, 101 from others).
- `RTCRtpReceiver._handle_rtp_packet` notes each packet's arrival (`loop.time()`, for the
  silence watchdog), takes telephone-event packets out before the jitter buffer (aiortc has no
  decoder for them: its decoder thread would die), reports each key once per (SSRC, RTP
  timestamp), and lowers the following audio packets' sequence numbers by the number removed,
  so the jitter buffer sees no gap. Every receiver in the process gets the hook: once the codec
  is listed, any peer may negotiate it.
- `RTCDtlsTransport._send_rtp` rewrites outgoing Opus packets of a registered SSRC into event
  packets while a tone is queued (same sequence number, the tone's start timestamp), as
  libwebrtc sends them.

Nothing here raises inside aiortc: bad payloads, unknown events and lost end packets are
ignored, and a failing hook falls back to aiortc's own handling.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import struct
from collections.abc import Callable
from typing import Any, Final

from d360_calling._checked_patch import CheckedPatch

log = logging.getLogger(__name__)

TELEPHONE_EVENT: Final = "audio/telephone-event"
PAYLOAD_TYPE: Final = 126
"""Our telephone-event payload type in offers: Meta's number, free in aiortc's list."""
EVENTS: Final = "0123456789*#ABCD"
"""RFC 4733 events 0-15 as keys; 16 (flash) and beyond are not keys."""
DURATION_RATE: Final = 48_000
"""Ticks per second of the duration field, sent and read: libwebrtc counts the Opus RTP clock
even under telephone-event/8000 (RFC-strict senders use 8000; only `duration_ms` differs)."""
FRAME_TICKS: Final = 960
"""RTP ticks of one 20 ms Opus packet."""
END_COPIES: Final = 3
"""End packets (E=1) sent per tone, as RFC 4733 §2.5.1.4 and libwebrtc do."""
VOLUME: Final = 10
"""Tone power, -dBm0 (libwebrtc's default)."""
MAX_TONE_MS: Final = 1300
"""Longest tone whose duration fits the 16-bit field at `DURATION_RATE`."""

_MARK: Final = "_d360_dtmf"
_STATE: Final = "_d360_dtmf_in"
_RECENT: Final = 512
_KEYS: Final = 16

KeyCallback = Callable[[str, int], None]
"""Told each new key once: the digit and the duration (ms) its first packet announces."""


def parse_event(payload: bytes) -> tuple[int, bool, int, int] | None:
    """`(event, end, volume, duration)` of an RFC 4733 payload; None when shorter than 4 bytes."""
    if len(payload) < 4:
        return None
    event, flags, duration = struct.unpack_from("!BBH", payload)
    return event, bool(flags & 0x80), flags & 0x3F, duration


def build_event(event: int, *, end: bool, duration: int, volume: int = VOLUME) -> bytes:
    """The 4-byte RFC 4733 payload; `duration` is capped at 0xFFFF."""
    flags = (0x80 if end else 0) | (volume & 0x3F)
    return struct.pack("!BBH", event & 0xFF, flags, min(max(duration, 0), 0xFFFF))


# -- receiving ------------------------------------------------------------------------------


class _Stream:
    """One SSRC's removed event packets and the keys already reported."""

    __slots__ = ("keys", "newest", "removed", "total")

    def __init__(self) -> None:
        self.removed: collections.deque[int] = collections.deque(maxlen=_RECENT)
        self.newest = 0
        self.total = 0
        self.keys: collections.deque[int] = collections.deque(maxlen=_KEYS)


class Inbound:
    """A receiver's telephone-event state: its payload types, streams, and the key callback;
    and when its last packet of any kind arrived."""

    def __init__(self) -> None:
        self.last_packet_at = float("-inf")
        """The event loop's time (`loop.time()`) of the last RTP packet received."""
        self.pts: frozenset[int] | None = None
        """Negotiated telephone-event payload types; read from the receiver at its first packet."""
        self.on_key: KeyCallback | None = None
        self._streams: dict[int, _Stream] = {}

    def take_event(self, ssrc: int, sequence: int, timestamp: int, payload: bytes) -> None:
        """Remove an event packet from the audio sequence; report a new key once."""
        from aiortc.utils import uint16_gt

        stream = self._streams.setdefault(ssrc, _Stream())
        if sequence not in stream.removed:
            if not stream.total or uint16_gt(sequence, stream.newest):
                stream.newest = sequence
            stream.total += 1
            stream.removed.append(sequence)
        parsed = parse_event(payload)
        if parsed is None or parsed[0] >= len(EVENTS) or timestamp in stream.keys:
            return
        stream.keys.append(timestamp)
        if self.on_key is not None:
            try:
                self.on_key(EVENTS[parsed[0]], parsed[3] * 1000 // DURATION_RATE)
            except Exception:
                log.exception("the keypress callback raised")

    def renumber(self, ssrc: int, sequence: int) -> int:
        """The audio packet's sequence number less the event packets removed before it."""
        stream = self._streams.get(ssrc)
        if stream is None or not stream.total:
            return sequence  # no keys pressed on this stream: the hot path, nothing imported
        from aiortc.utils import uint16_add, uint16_gt

        if uint16_gt(sequence, stream.newest):
            before = stream.total  # the usual case: after every removal
        else:  # a late packet: removals after it do not count
            before = stream.total - sum(1 for r in stream.removed if not uint16_gt(sequence, r))
        return uint16_add(sequence, -before)


def inbound_of(receiver: Any) -> Inbound:
    """The telephone-event state of an aiortc `RTCRtpReceiver` (made on first use)."""
    state = receiver.__dict__.get(_STATE)
    if state is None:
        state = Inbound()
        setattr(receiver, _STATE, state)
    return state  # type: ignore[no-any-return]


def negotiated_pts(codecs: Any) -> frozenset[int]:
    """The telephone-event payload types among aiortc codec parameters (a list or a PT dict)."""
    values = codecs.values() if isinstance(codecs, dict) else codecs
    return frozenset(c.payloadType for c in values if c.mimeType.lower() == TELEPHONE_EVENT)


# -- sending --------------------------------------------------------------------------------


class Outbound:
    """Tones queued for one sending SSRC, written over its Opus packets as they leave."""

    def __init__(self, opus_pt: int, te_pt: int) -> None:
        self.opus_pt = opus_pt
        self.te_pt = te_pt
        self._pending: collections.deque[tuple[int, int, int, asyncio.Future[None] | None]] = (
            collections.deque()
        )
        self._tone: tuple[int, int, int, asyncio.Future[None] | None] | None = None
        self._start = 0
        self._first = True
        self._ends_left = 0
        self._gap_left = 0

    def queue(self, events: list[int], tone_ms: int, gap_ms: int) -> asyncio.Future[None]:
        """Queue tones; the future resolves once the last one and its gap have been sent."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gap_packets = max(3, -(-gap_ms // 20))  # libwebrtc waits at least 50 ms between tones
        for i, event in enumerate(events):
            last = i == len(events) - 1
            length = tone_ms * DURATION_RATE // 1000
            self._pending.append((event, length, gap_packets, done if last else None))
        return done

    def cancel(self) -> None:
        """Drop queued tones (the call ended); their futures get cancelled."""
        for *_, done in self._pending:
            if done is not None:
                done.cancel()
        self._pending.clear()
        if self._tone is not None and self._tone[3] is not None:
            self._tone[3].cancel()
        self._tone = None

    def rewrite(self, data: bytes) -> bytes:
        """`data` (an unprotected RTP packet of our SSRC) as an event packet, or unchanged."""
        if len(data) < 12 or data[1] & 0x7F != self.opus_pt:
            return data
        if self._gap_left:
            self._gap_left -= 1
            if not self._gap_left and self._tone is not None:
                self._finish()
            return data
        if self._tone is None:
            if not self._pending:
                return data
            self._tone = self._pending.popleft()
            self._start = int.from_bytes(data[4:8], "big")
            self._first, self._ends_left = True, END_COPIES
        event, length, _, _ = self._tone
        elapsed = (int.from_bytes(data[4:8], "big") - self._start) & 0xFFFFFFFF
        duration = elapsed + FRAME_TICKS
        end = duration >= length
        if end:
            duration = length
            self._ends_left -= 1
            if not self._ends_left:
                self._gap_left = self._tone[2]
        packet = self._event_packet(data, event, end, duration)
        self._first = False
        return packet

    def _finish(self) -> None:
        assert self._tone is not None
        done = self._tone[3]
        self._tone = None
        if done is not None and not done.done():
            done.set_result(None)

    def _event_packet(self, data: bytes, event: int, end: bool, duration: int) -> bytes:
        header = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= header + 4:
            header += 4 + 4 * int.from_bytes(data[header + 2 : header + 4], "big")
        first = bytes([data[0] & ~0x20 & 0xFF, (0x80 if self._first else 0) | self.te_pt])
        return (
            first
            + data[2:4]
            + self._start.to_bytes(4, "big")
            + data[8:header]
            + build_event(event, end=end, duration=duration)
        )


_OUTBOUND: dict[int, Outbound] = {}


def register_sender(ssrc: int, opus_pt: int, te_pt: int) -> Outbound:
    """Start rewriting packets of `ssrc` when tones are queued on the returned `Outbound`."""
    outbound = _OUTBOUND[ssrc] = Outbound(opus_pt, te_pt)
    return outbound


def unregister_sender(ssrc: int) -> None:
    """Stop rewriting packets of `ssrc` and cancel its queued tones."""
    outbound = _OUTBOUND.pop(ssrc, None)
    if outbound is not None:
        outbound.cancel()


# -- the patch ------------------------------------------------------------------------------


def check_internals() -> None:
    """Check aiortc's private names that the hooks use; RuntimeError naming what moved."""
    import aiortc
    from aiortc import codecs
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from aiortc.rtcrtpsender import RTCRtpSender

    moved = []
    audio = getattr(codecs, "CODECS", {}).get("audio") if hasattr(codecs, "CODECS") else None
    if not isinstance(audio, list) or not any(
        getattr(c, "mimeType", "").lower() == "audio/opus" for c in audio
    ):
        moved.append('aiortc.codecs.CODECS["audio"] (a list with Opus)')
    for cls, name, params in (
        (RTCRtpReceiver, "_handle_rtp_packet", ["self", "packet", "arrival_time_ms"]),
        (RTCDtlsTransport, "_send_rtp", ["self", "data"]),
    ):
        method = getattr(cls, name, None)
        original = getattr(method, "__wrapped__", method)
        if original is None or list(inspect.signature(original).parameters) != params:
            moved.append(f"{cls.__name__}.{name}({', '.join(params)})")
    attributes: tuple[tuple[type, str], ...] = (
        (RTCRtpSender, "_ssrc"),
        (RTCRtpReceiver, "_RTCRtpReceiver__codecs"),
    )
    for owner, attribute in attributes:
        if attribute not in _init_assigns(owner):
            moved.append(f"{owner.__name__}.{attribute}")
    if moved:
        raise RuntimeError(
            f"aiortc {aiortc.__version__} moved internals the keypress hook needs: "
            f"{'; '.join(moved)} (tested with aiortc 1.16)"
        )


def _init_assigns(cls: type) -> set[str]:
    """Attribute names `cls.__init__` assigns on self, mangled as Python stores them."""
    import re

    source = inspect.getsource(vars(cls)["__init__"])
    names = set(re.findall(r"self\.(\w+)\s*(?::[^=]+)?=", source))
    return {f"_{cls.__name__}{n}" if n.startswith("__") else n for n in names}


def _patch() -> None:
    from aiortc import codecs
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from aiortc.rtp import is_rtcp

    receive: Any = RTCRtpReceiver._handle_rtp_packet
    send: Any = RTCDtlsTransport._send_rtp
    if getattr(receive, _MARK, False):
        return
    audio = codecs.CODECS["audio"]
    if not any(c.mimeType.lower() == TELEPHONE_EVENT for c in audio):
        at = next(i for i, c in enumerate(audio) if c.mimeType.lower() == "audio/opus") + 1
        entry = RTCRtpCodecParameters(
            mimeType=TELEPHONE_EVENT,
            clockRate=8000,
            channels=1,
            payloadType=PAYLOAD_TYPE,
            parameters={"0-16": None},
        )
        audio.insert(at, entry)

    async def _handle_rtp_packet(self: Any, packet: Any, arrival_time_ms: int) -> None:
        try:
            state = inbound_of(self)
            state.last_packet_at = asyncio.get_running_loop().time()
            if state.pts is None:
                state.pts = negotiated_pts(self._RTCRtpReceiver__codecs)
            if packet.payload_type in state.pts:
                state.take_event(
                    packet.ssrc, packet.sequence_number, packet.timestamp, packet.payload
                )
                return
            packet.sequence_number = state.renumber(packet.ssrc, packet.sequence_number)
        except Exception:
            log.exception("keypress receive hook failed; passing the packet on")
        await receive(self, packet, arrival_time_ms=arrival_time_ms)

    async def _send_rtp(self: Any, data: bytes) -> None:
        if _OUTBOUND and len(data) >= 12 and not is_rtcp(data):
            outbound = _OUTBOUND.get(int.from_bytes(data[8:12], "big"))
            if outbound is not None:
                try:
                    data = outbound.rewrite(data)
                except Exception:
                    log.exception("keypress send hook failed; sending the packet as it was")
        await send(self, data)

    for wrapper, original in ((_handle_rtp_packet, receive), (_send_rtp, send)):
        setattr(wrapper, _MARK, True)
        setattr(wrapper, "__wrapped__", original)  # noqa: B010
    RTCRtpReceiver._handle_rtp_packet = _handle_rtp_packet  # type: ignore[method-assign]
    RTCDtlsTransport._send_rtp = _send_rtp  # type: ignore[method-assign]


install = CheckedPatch(check_internals, _patch, "keypresses unavailable")
"""Patch aiortc once (codec, receive hook, send hook); False if its internals moved."""
