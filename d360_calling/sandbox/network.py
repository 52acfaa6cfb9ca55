"""`Network`: how badly the sandbox user's network treats its media, checked when it is made.

A profile only; `network_link.py` applies it to one peer's datagrams, both ways.
"""

from __future__ import annotations

import math

import attrs

from d360_calling.errors import ValidationError

MAX_JITTER_MS = 1000.0
"""The most jitter a profile may ask for: more is no call anyone would keep."""


def _share(_: object, field: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValidationError(field.name, f"a number in [0, 1), got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValidationError(field.name, f"a share in [0, 1), got {value!r}")


def _jitter(_: object, field: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValidationError(field.name, f"milliseconds, a number, got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= MAX_JITTER_MS):
        raise ValidationError(field.name, f"0 to {MAX_JITTER_MS:g} ms, got {value!r}")


def _seed(_: object, field: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValidationError(field.name, f"an int or None, got {value!r}")


@attrs.frozen
class Network:
    """A misbehaving network for the sandbox user's media (`ring(..., network=...)`).

    Each media datagram (SRTP and SRTCP) the user's peer sends or receives is, independently:
    lost with probability `loss`; delayed by a uniform 0..`jitter_ms` ms, so a later one can
    overtake it; with probability `reorder` held back until the next one went first. ICE (STUN)
    and the DTLS handshake pass untouched, so a call still sets up every time: it is the audio
    that suffers. `seed` makes the draws repeatable (one `random.Random(seed)` per peer).
    ValidationError names a field out of range.
    """

    loss: float = attrs.field(default=0.0, validator=_share)
    jitter_ms: float = attrs.field(default=0.0, validator=_jitter)
    reorder: float = attrs.field(default=0.0, validator=_share)
    seed: int | None = attrs.field(default=None, validator=_seed)


def check_network(network: object, *, media: bool) -> None:
    """ValidationError unless `network` is None or a `Network` on a call with `media=True`."""
    if network is None:
        return
    if not isinstance(network, Network):
        raise ValidationError("network", f"a sandbox Network, got {type(network).__name__}")
    if not media:
        raise ValidationError("network", "takes media=True: only a real peer has a network")
