"""`Drain`: letting a receiver's calls finish before its worker stops, and ending the rest.

A worker that stops with calls in progress must not just drop them: their media would die and
the users hear silence until Meta gives up. Draining refuses the connects of new calls (503, so
the platform delivers them to another worker), keeps handling the deliveries of the calls this
worker holds (their status and terminate webhooks), waits for those calls until a deadline,
then ends the ones still going through the API, closes their media and closes the receiver.

A call is held here from its connect's dispatch while its connect handlers run or media is
attached to it (`answer_with_audio`), until it ends (a terminate, here or announced by another
worker). Calls answered by other means, whose handlers returned, are not seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from .. import validation
from ..client import Client
from ..errors import error_text
from .events import CallConnect, Event
from .router import Router

logger = logging.getLogger("d360_calling.webhooks")

DEFAULT_DRAIN_SECONDS = 20.0
"""How long calls in progress may go on once a drain starts: Kubernetes sends SIGKILL 30 s after
SIGTERM by default, which leaves room to terminate the rest and close."""

PRUNE_AT = 256
"""Calls remembered before the first pass that forgets those that are over."""

TERMINATE_TIMEOUT = 5.0
"""The bound on each call's terminate at the deadline (retries included)."""


class DrainReport(NamedTuple):
    """How a drain ended the calls held when it started or during it (call IDs)."""

    finished: tuple[str, ...]
    """Ended by themselves before the deadline."""
    terminated: tuple[str, ...]
    """Still going at the deadline, ended through the API."""
    failed: tuple[str, ...]
    """Still going at the deadline, and the terminate failed (logged); their media is closed."""


class Drain:
    """The calls a receiver holds, and the one drain of them (see the module docstring)."""

    def __init__(
        self, router: Router, close: Callable[[], Awaitable[None]], deadline: float
    ) -> None:
        self.deadline = validation.seconds("drain_deadline", deadline, allow_zero=True)
        self._router = router
        self._close = close
        self._calls: dict[str, list[asyncio.Task[None]]] = {}
        """Connect handler tasks by call, for the calls that may still be in progress."""
        self._prune_at = PRUNE_AT
        self._task: asyncio.Task[DrainReport] | None = None

    def dispatched(self, event: Event, handlers: list[asyncio.Task[None]]) -> None:
        """Remember a connect whose handlers were started; calls that are over are forgotten
        whenever the record doubles (amortised: a storm of connects must not scan it each)."""
        if not isinstance(event, CallConnect) or not handlers:
            return
        self._calls.setdefault(event.call_id, []).extend(handlers)
        if len(self._calls) >= self._prune_at:
            for call_id in [call_id for call_id in self._calls if not self._held(call_id)]:
                del self._calls[call_id]
            self._prune_at = max(PRUNE_AT, 2 * len(self._calls))

    def refuses(self, events: Iterable[Event]) -> bool:
        """Whether a delivery is to be refused because a drain runs: it announces a call this
        worker does not hold (a held call's connect, e.g. the answer to our own offer, passes)."""
        return self._task is not None and any(
            isinstance(event, CallConnect)
            and event.call_id not in self._calls
            and self._router.media_of(event.call_id) is None
            for event in events
        )

    async def drain(self, deadline: float | None, client: Client | None) -> DrainReport:
        """Run the drain once, `deadline` seconds (default `self.deadline`) from the first call;
        later calls wait for the same drain and get the same report."""
        seconds = (
            self.deadline
            if deadline is None
            else validation.seconds("deadline", deadline, allow_zero=True)
        )
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(seconds, client))
        return await asyncio.shield(self._task)

    async def _run(self, seconds: float, client: Client | None) -> DrainReport:
        held = [call_id for call_id in self._calls if self._held(call_id)]
        logger.info("draining: %d calls in progress, %gs for them to finish", len(held), seconds)
        seen, going = await self._wait(asyncio.get_running_loop().time() + seconds)
        terminated = await asyncio.gather(*(_terminate(client, call_id) for call_id in going))
        await asyncio.gather(*(self._router.close_media(call_id) for call_id in going))
        await self._close()
        report = DrainReport(
            finished=tuple(call_id for call_id in seen if call_id not in going),
            terminated=tuple(call_id for call_id, ok in zip(going, terminated, strict=True) if ok),
            failed=tuple(call_id for call_id, ok in zip(going, terminated, strict=True) if not ok),
        )
        logger.info(
            "drained: %d calls finished, %d terminated, %d could not be terminated",
            len(report.finished),
            len(report.terminated),
            len(report.failed),
        )
        return report

    async def _wait(self, until: float) -> tuple[list[str], list[str]]:
        """Wait until every held call is over or `until` (loop time) passes; the calls seen,
        and those still going."""
        loop = asyncio.get_running_loop()
        watching: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                for call_id in list(self._calls):  # calls held since, too
                    if call_id not in watching and self._held(call_id):
                        watching[call_id] = loop.create_task(self._over(call_id))
                going = [
                    call_id for call_id, task in watching.items() if self._going(call_id, task)
                ]
                if not going or loop.time() >= until:
                    return list(watching), going
                await asyncio.wait(
                    [watching[call_id] for call_id in going], timeout=until - loop.time()
                )
        finally:
            for task in watching.values():
                task.cancel()
            await asyncio.gather(*watching.values(), return_exceptions=True)

    async def _over(self, call_id: str) -> None:
        """Return once the call's connect handlers returned and its media (if any) ended."""
        await asyncio.wait(self._calls[call_id])
        media = self._router.media_of(call_id)
        if media is not None:
            await media.wait_ended()

    def _going(self, call_id: str, over: asyncio.Task[None]) -> bool:
        return not over.done() and not self._router.has_ended(call_id)

    def _held(self, call_id: str) -> bool:
        """Whether the call may be in progress: not ended, its handlers running or media held."""
        if self._router.has_ended(call_id):
            return False
        running = any(not task.done() for task in self._calls[call_id])
        return running or self._router.media_of(call_id) is not None


async def _terminate(client: Client | None, call_id: str) -> bool:
    """End the call through the API, bounded; whether that worked (a failure is logged)."""
    if client is None:
        logger.warning("cannot terminate %s at the drain deadline: no client", call_id)
        return False
    try:
        async with asyncio.timeout(TERMINATE_TIMEOUT):
            await client.calls.terminate(call_id)
    except Exception as error:  # the API's refusal, a timeout, a client already closed
        logger.warning(
            "could not terminate %s at the drain deadline: %s", call_id, error_text(error)
        )
        return False
    logger.info("terminated %s at the drain deadline", call_id)
    return True
