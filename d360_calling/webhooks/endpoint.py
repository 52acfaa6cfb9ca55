"""`Endpoint`: what an HTTP adapter needs of a webhook receiver, so adapters never import it.

The ASGI app (`asgi`) and the aiohttp handler (`receiver_aiohttp`) carry bytes to an endpoint
and its answer back; `Receiver` is one, and builds them with itself, so the adapters name this
protocol instead of importing the receiver back.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Protocol


class Endpoint(Protocol):
    """Where deliveries are posted, how large they may be, how to answer one, how to stop."""

    @property
    def path(self) -> str:
        """The one path deliveries are posted to."""
        ...

    @property
    def max_body_size(self) -> int:
        """The cap on a delivery's body, in bytes."""
        ...

    async def receive(
        self, body: bytes | AsyncIterable[bytes], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        """Answer one delivery: its HTTP status and plain-text body (a `Reply`)."""
        ...

    async def aclose(self) -> None:
        """Stop taking deliveries and wait for what runs (the app's shutdown calls it)."""
        ...
