"""The caller's keypresses (RFC 4733 telephone-events) as typed keys, fanned out to consumers."""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import UTC, datetime
from typing import Final

import attrs

from d360_calling import validation
from d360_calling._dtmf_keys import SENDABLE, timing_problem
from d360_calling.errors import ValidationError

logger = logging.getLogger(__name__)

KEYS: Final = "0123456789*#ABCD"
"""The keys a caller can press; WhatsApp sends 0-9, `*` and `#`."""
_BACKLOG: Final = 64
"""Keys a consumer may fall behind before its oldest are dropped."""


@attrs.frozen
class DtmfKey:
    """One keypress: `digit` ("0"-"9", "*", "#"; "A"-"D" if a peer sends them), when it was
    received (`at`, aware UTC), and `duration_ms`, the tone length its first packet announced
    (often 20 ms: keys are reported on their first packet, not when the tone ends)."""

    digit: str = attrs.field(repr=lambda _: "<hidden>")  # a key may be part of a PIN
    at: datetime
    duration_ms: int


class _Subscription:
    """One consumer's keys, from its subscription on; ends when the call ends."""

    def __init__(self, stream: DtmfStream) -> None:
        self._queue: asyncio.Queue[DtmfKey | None] = asyncio.Queue(maxsize=_BACKLOG + 1)
        self._warned = False
        self._done = False
        stream._subscribe(self)

    def _offer(self, key: DtmfKey | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            if not self._warned:
                self._warned = True
                logger.warning("a keypress consumer fell %d keys behind: dropping", _BACKLOG)
        self._queue.put_nowait(key)

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> DtmfKey:
        if self._done:
            raise StopAsyncIteration
        key = await self._queue.get()
        if key is None:
            self._done = True
            raise StopAsyncIteration
        return key


class DtmfStream:
    """`async for key in audio.dtmf`: each loop (each `__aiter__`) gets every key pressed from
    then on, until the call ends; `collect()` reads a PIN or a menu choice."""

    def __init__(self) -> None:
        self._subscriptions: weakref.WeakSet[_Subscription] = weakref.WeakSet()
        self._ended = False

    def __aiter__(self) -> _Subscription:
        return _Subscription(self)

    async def collect(
        self,
        max_digits: int | None = None,
        *,
        terminator: str | None = "#",
        first_timeout: float = 10.0,
        inter_digit_timeout: float = 5.0,
    ) -> str:
        """The digits pressed from now on, until `max_digits` are in or `terminator` is pressed
        (it is not included).

        On a timeout (no first key within `first_timeout` seconds, or no next key within
        `inter_digit_timeout`) or when the call ends, it returns what was collected so far:
        `""` when nothing was pressed. It never raises for a timeout.
        """
        if max_digits is not None and max_digits < 1:
            raise ValidationError("max_digits", f"must be >= 1 or None, got {max_digits}")
        if terminator is not None and (len(terminator) != 1 or terminator not in KEYS):
            raise ValidationError("terminator", "must be one key of 0-9, *, #, A-D, or None")
        validation.seconds("first_timeout", first_timeout)
        validation.seconds("inter_digit_timeout", inter_digit_timeout)
        keys = _Subscription(self)
        digits: list[str] = []
        while max_digits is None or len(digits) < max_digits:
            try:
                async with asyncio.timeout(inter_digit_timeout if digits else first_timeout):
                    key = await anext(keys, None)
            except TimeoutError:
                break
            if key is None or key.digit == terminator:
                break
            digits.append(key.digit)
        return "".join(digits)

    def _subscribe(self, subscription: _Subscription) -> None:
        if self._ended:
            subscription._offer(None)
        else:
            self._subscriptions.add(subscription)

    def _key(self, digit: str, duration_ms: int) -> None:
        """A key arrived (called on the event loop by the receive hook)."""
        key = DtmfKey(digit=digit, at=datetime.now(UTC), duration_ms=duration_ms)
        for subscription in list(self._subscriptions):
            subscription._offer(key)

    def _end(self) -> None:
        """The call ended: every consumer's loop ends."""
        if self._ended:
            return
        self._ended = True
        for subscription in list(self._subscriptions):
            subscription._offer(None)
        self._subscriptions.clear()


def check_keys(digits: str, tone_ms: int, gap_ms: int) -> None:
    """`ValidationError` before anything is sent: keys other than 0-9, * and #, or a tone or
    gap length out of range."""
    if not isinstance(digits, str) or not digits:
        raise ValidationError("digits", "must be a non-empty str of 0-9, * and #")
    bad = sorted({d for d in digits if d not in SENDABLE})
    if bad:
        raise ValidationError("digits", f"only 0-9, * and # can be sent; got {len(bad)} other")
    if problem := timing_problem(tone_ms, gap_ms):
        raise ValidationError(*problem)
