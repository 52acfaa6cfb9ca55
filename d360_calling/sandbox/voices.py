"""The sandbox users' voices: one real WebRTC peer per call made with `media=True`.

aiortc is imported only when a voice is asked for, so the sandbox runs without the `[media]`
extra and keeps its static SDP. Peers gather 127.0.0.1 only: no packet leaves loopback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from d360_calling.sandbox.network import Network
    from d360_calling.sandbox.peer import UserPeer

log = logging.getLogger(__name__)

MEDIA_EXTRA_HINT = "sandbox audio needs the media extra: pip install 'd360-calling[media]'"


def _peer_class() -> type[UserPeer]:
    try:
        from d360_calling.sandbox.peer import UserPeer
    except ImportError as exc:
        raise RuntimeError(MEDIA_EXTRA_HINT) from exc
    return UserPeer


class Voices:
    """Peers by call id: made when the user calls or picks up, closed when the call ends."""

    def __init__(self) -> None:
        self._peers: dict[str, UserPeer] = {}
        self._answered: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def offer(self, tone_hz: float | None, network: Network | None = None) -> UserPeer:
        """A new peer with its offer, for a call the user is about to place."""
        return await _peer_class().offer(tone_hz=tone_hz, network=network)

    async def answer(
        self,
        call_id: str,
        offer_sdp: str,
        tone_hz: float | None,
        network: Network | None = None,
    ) -> str:
        """The user picks up with a real peer: its SDP answer to the business's offer."""
        peer = await _peer_class().answer(offer_sdp, tone_hz=tone_hz, network=network)
        self.adopt(call_id, peer)
        self._answered.add(call_id)
        return peer.sdp

    def adopt(self, call_id: str, peer: UserPeer) -> None:
        """Keep `peer` as the voice of `call_id`."""
        self._peers[call_id] = peer

    def get(self, call_id: str) -> UserPeer:
        """The user's peer on `call_id`; `KeyError` names calls made without media."""
        try:
            return self._peers[call_id]
        except KeyError:
            raise KeyError(f"{call_id} has no user audio: ring or answer with media=True") from None

    def acting(self, call_id: str) -> UserPeer:
        """`get` for a user action (keys, going quiet): ValueError names calls without media."""
        try:
            return self.get(call_id)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None

    def find(self, call_id: str) -> UserPeer | None:
        """The user's peer on `call_id`, or None for a call without media."""
        return self._peers.get(call_id)

    def business_answered(self, call_id: str, sdp: str) -> None:
        """The bot's pre_accept/accept SDP reaches the user's peer (once per call)."""
        peer = self._peers.get(call_id)
        if peer is None or call_id in self._answered:
            return
        self._answered.add(call_id)
        self._spawn(peer.apply_answer(sdp), f"apply the answer of {call_id}")

    def ended(self, call_id: str) -> None:
        """The call is over: hang the user's peer up (it stays readable via `get`)."""
        peer = self._peers.get(call_id)
        if peer is not None:
            self._spawn(peer.close(), f"close the peer of {call_id}")

    async def close(self) -> None:
        """Close every peer and wait for pending work; idempotent."""
        for peer in self._peers.values():
            self._spawn(peer.close(), "close a peer")
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda done: _log_failure(done, what))


def _log_failure(task: asyncio.Task[None], what: str) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("sandbox audio: could not %s: %s", what, task.exception())
