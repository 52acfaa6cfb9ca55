"""The protocol of shared state: what the middlewares and the receiver ask of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from .. import validation
from ..errors import D360Error


@attrs.frozen
class BudgetLimits:
    """A retry budget's shape: `max_tokens` deep, `token_ratio` back per success (gRPC)."""

    max_tokens: float = 10.0
    token_ratio: float = 0.1

    def __attrs_post_init__(self) -> None:
        validation.positive("max_tokens", self.max_tokens)
        validation.positive("token_ratio", self.token_ratio, allow_zero=True)


@attrs.frozen
class MediaErrorLimits:
    """360dialog's media error throttle, mirrored: `max_errors` error answers to
    `GET /{media-id}` within `window` seconds block the endpoint for `block` seconds."""

    max_errors: int = 20
    window: float = 60 * 60.0
    block: float = 30 * 60.0

    def __attrs_post_init__(self) -> None:
        validation.integer("max_errors", self.max_errors, 1, 1_000_000)
        validation.positive("window", self.window)
        validation.positive("block", self.block, allow_zero=True)


class SharedStateUnavailable(D360Error):
    """The shared store cannot answer and the operation is set to fail closed."""


class DeliveryInProgress(D360Error):
    """Another delivery of the same webhook events is being recorded right now: answer this one
    503, and the platform's redelivery finds them handled or free."""


class SharedState(Protocol):
    """The state behind rate limiting, retries and webhook dedupe.

    The hot path only calls the two synchronous methods (`gate_wait`, `record_success`), so a
    remote implementation must answer them from a local mirror; the others run on failures,
    with a token bucket, once per webhook event, or once per media lookup (the media error
    throttle).
    """

    def bind_account(self, api_key: str) -> None:
        """Called by the `Client` with its key, so a state namespaces by account by default."""
        ...

    def gate_wait(self) -> float:
        """Seconds until the rate-limit gate opens (0 when open)."""
        ...

    async def close_gate(self, seconds: float) -> None:
        """Hold every request back for `seconds` (never shortens an earlier close)."""
        ...

    async def take_token(self, rate: float, burst: int) -> float:
        """Reserve a requests-per-second token; seconds to wait until it is really there."""
        ...

    async def return_token(self, rate: float, burst: int) -> None:
        """Give back a reserved token whose request was never sent."""
        ...

    def record_success(self, limits: BudgetLimits) -> None:
        """An attempt succeeded: earn back part of a retry token."""
        ...

    async def record_failure(self, limits: BudgetLimits) -> bool:
        """A retryable attempt failed: spend a token; whether retries are still allowed."""
        ...

    async def first_time(self, key: str, ttl: float) -> bool:
        """Record a webhook event key; `True` the first time within `ttl` seconds."""
        ...

    async def first_times(self, keys: Sequence[str], ttl: float, *, claim: str = "") -> list[bool]:
        """`first_time` for each of a delivery's keys, in order, in one round trip. With a
        `claim` (the delivery's token) the keys recorded hold it until `confirm` or `forget`;
        raises `DeliveryInProgress` while another claim is recording one of them."""
        ...

    async def confirm(self, keys: Sequence[str], ttl: float, *, claim: str) -> None:
        """The handlers of these keys (recorded with `claim`) started: keep them for `ttl`."""
        ...

    async def announce_call_ended(self, call_id: str) -> None:
        """Tell every worker on this state that a call ended, so its media closes wherever
        it is held (the terminate webhook may land on another worker)."""
        ...

    def on_call_ended(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Run `callback(call_id)` whenever any worker announces a call ended (it may run more
        than once for one call); returns a function that stops it."""
        ...

    async def forget(self, key: str, *, claim: str = "") -> None:
        """Drop a key this delivery recorded with `claim` (its event could not be handled, so a
        redelivery must be); a key another delivery holds by now is kept."""
        ...

    async def media_lookup_wait(self, limits: MediaErrorLimits) -> float:
        """Seconds until a media lookup may be sent (0: now): none while `max_errors` error
        answers lie within the last `window` seconds, nor while a block is on."""
        ...

    async def record_media_error(self, limits: MediaErrorLimits) -> float:
        """Count an error answer to a media lookup (the count reaching `max_errors` starts a
        block of `block` seconds); returns `media_lookup_wait` after it."""
        ...

    async def block_media_lookups(self, limits: MediaErrorLimits, seconds: float) -> None:
        """The API said media lookups are blocked: hold them back `seconds` (never shortens a
        block already on)."""
        ...

    async def aclose(self) -> None:
        """Release what the state holds (background tasks, connections it made)."""
        ...
