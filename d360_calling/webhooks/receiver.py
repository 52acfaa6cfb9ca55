"""`Receiver`: the webhook endpoint, acknowledging at once and running handlers in a task group.

360dialog wants a 200 within about 250 ms, and a connect must be answered within seconds, so a
delivery is only verified, parsed and deduped before it is answered; the router's handlers run in
a `TaskGroup` owned by the receiver. A failing handler is logged and never reaches the others;
`aclose()` waits for running handlers up to `shutdown_timeout`, then cancels them.

This module is the framework-neutral core, `Receiver.receive(body, headers) -> Reply`, which
does the work; the `aiohttp.web` handler (`receiver.handler`, `receiver.app`, in
`receiver_aiohttp`) and the pure ASGI app (`receiver.asgi`, for uvicorn, Starlette or FastAPI, in
`asgi`) only carry bytes to it and its reply back. Its options' checks are in `receiver_options`,
what it needs of a tracer in `receiver_telemetry`, the calls it holds and their drain in `drain`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterable, Awaitable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from aiohttp import web

from .. import validation
from .._closing import AsyncClosing
from ..client import Client
from ..errors import error_text
from ..shared_state import DeliveryInProgress, LocalState, SharedState, SharedStateUnavailable
from ..shared_state.primitives import DAY
from .asgi import ReceiverASGI
from .body import TooLarge, TooSlow, read_capped
from .drain import DEFAULT_DRAIN_SECONDS, Drain, DrainReport
from .errors import ReceiverClosedError, SignatureError, WebhookError
from .events import CallTerminate, Event, MalformedEvent
from .parse import parse
from .receiver_aiohttp import aiohttp_app, aiohttp_reply
from .receiver_options import SECRET_ENV as SECRET_ENV
from .receiver_options import _event_age_bound, _expired, _signing_secret, _stale_connect
from .receiver_telemetry import DeliveryTrace as DeliveryTrace
from .receiver_telemetry import WebhookTelemetry
from .router import Router
from .verify import verify as verify_signature

logger = logging.getLogger("d360_calling.webhooks")

DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class Reply(NamedTuple):
    """What to answer a delivery with: an HTTP status and a short plain-text body."""

    status: int
    text: str


_OK = Reply(200, "ok")
_CLOSED = Reply(503, "shutting down")
_TOO_LARGE = Reply(413, "body too large")
_TOO_SLOW = Reply(408, "body not received in time")
_BAD_SIGNATURE = Reply(401, "bad signature")
_MALFORMED = Reply(400, "malformed webhook")
_DEFERRED = Reply(503, "try again later")
_DRAINING = Reply(503, "draining: deliver the call to another worker")


class Receiver(AsyncClosing):
    """Serves `POST {path}` for webhooks: verify the signature, parse, dedupe, dispatch.

    Every delivery must be signed with `secret` (or `$D360_WEBHOOK_SECRET`); a receiver without
    one refuses to construct, and accepting unsigned deliveries takes `verify=False`, which is
    logged as a warning. Serve `receiver.app` (aiohttp) or `receiver.asgi` (uvicorn, Starlette,
    FastAPI) as a whole application, or mount `receiver.handler` or `receiver.asgi` in your own
    and `await receiver.aclose()` on shutdown; any other framework awaits
    `receiver.receive(body, headers)` and answers with its `Reply`. The body cap holds each way,
    and so does `body_timeout`: a body not whole within it is answered 408.

    Connects older than `max_connect_age` seconds are dropped (the user has hung up by then);
    `None` keeps them all. Repeated deliveries are dropped for `dedupe_ttl` seconds (the
    platform retries for up to a day); give several receivers one `RedisState` so a delivery
    is handled once across all of them. Events older than `max_event_age` seconds (by default
    `dedupe_ttl`, and never longer) are dropped with a log line, so a signed delivery replayed
    after dedupe forgot it is not handled again. A malformed item costs only itself: it is
    logged and passed to `router.on_malformed` handlers, and the rest of the delivery is
    handled. A handler that fails costs only its own run: it is logged and counted.
    Shutting down, the adapters `drain()` for up to `drain_deadline` seconds (see `drain`).
    """

    def __init__(
        self,
        router: Router,
        *,
        client: Client | None = None,
        secret: str | None = None,
        verify: bool = True,
        path: str = "/webhook",
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        body_timeout: float = 5.0,
        shared_state: SharedState | None = None,
        dedupe_ttl: float = DAY,
        shutdown_timeout: float = 10.0,
        max_connect_age: float | None = 60.0,
        max_event_age: float | None = None,
        telemetry: WebhookTelemetry | None = None,
        drain_deadline: float = DEFAULT_DRAIN_SECONDS,
    ) -> None:
        self.router = router
        self.client = client
        self.path = path
        self.max_body_size = max_body_size
        self.body_timeout = validation.positive("body_timeout", body_timeout)
        self.shared_state: SharedState = shared_state if shared_state is not None else LocalState()
        self._in_process = type(self.shared_state) is LocalState
        """Recording never suspends and keys need no confirming: commit inline, no tasks."""
        self.dedupe_ttl = dedupe_ttl
        self.shutdown_timeout = shutdown_timeout
        self.max_connect_age = max_connect_age
        self._max_event_age = _event_age_bound(max_event_age, dedupe_ttl)
        self.stats: Counter[str] = Counter()
        self.telemetry = telemetry
        self._secret = _signing_secret(secret, verify)
        self._drain = Drain(router, self.aclose, drain_deadline)
        self._group: asyncio.TaskGroup | None = None
        self._ready: asyncio.Future[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._closed = False
        self._committing: set[asyncio.Task[None]] = set()
        """Deliveries recording their keys and starting their handlers (see `dispatch`)."""
        self._app: web.Application | None = None
        self._asgi: ReceiverASGI | None = None
        # A terminate delivered to any worker on the same shared state closes the call's
        # media here too (the router holds it).
        self._stop_hearing_ends = self.shared_state.on_call_ended(router.call_ended_elsewhere)

    def __repr__(self) -> str:
        secret = "'***'" if self._secret else "None"
        return f"Receiver(path={self.path!r}, secret={secret})"

    @property
    def drain_deadline(self) -> float:
        """Seconds the calls in progress get to finish when the server's shutdown drains."""
        return self._drain.deadline

    @property
    def app(self) -> web.Application:
        """An aiohttp application serving only the webhook path; its shutdown drains the
        receiver."""
        if self._app is None:
            self._app = aiohttp_app(self, self.handler)
        return self._app

    @property
    def asgi(self) -> ReceiverASGI:
        """A pure ASGI app serving `POST {path}`; its lifespan shutdown drains the receiver.

        Mounted in another app (`fastapi_app.mount("/hooks", receiver.asgi)`) it gets no
        lifespan events: drain the receiver from that app's lifespan (`await receiver.drain()`).
        """
        if self._asgi is None:
            self._asgi = ReceiverASGI(self)
        return self._asgi

    async def handler(self, request: web.Request) -> web.Response:
        """The aiohttp.web handler: `receive` over the body the app read, else its stream."""
        return await aiohttp_reply(self, request)

    async def receive(
        self, body: bytes | AsyncIterable[bytes], headers: Mapping[str, str]
    ) -> Reply:
        """Answer one delivery, whatever serves it: read at most the cap, verify, parse, dedupe,
        start the handlers; the reply is 200 before they run.

        `body` is the raw body, or its chunks as they arrive (reading stops once they pass
        `max_body_size`: 413, never read whole; or once `body_timeout` seconds pass: 408);
        `headers` any mapping, names in any case.
        401 is a bad signature, 400 a body that is not a webhook envelope, 503 a receiver
        shutting down, dedupe failing closed, or the same events being recorded by another
        delivery right now (the platform delivers again later).
        """
        if self.telemetry is None:
            return await self._receive(body, headers)
        with self.telemetry.webhook_delivery() as delivery:
            reply = await self._receive(body, headers)
            delivery.replied(reply.status)
            return reply

    async def _receive(
        self, body: bytes | AsyncIterable[bytes], headers: Mapping[str, str]
    ) -> Reply:
        if self._closed:
            return _CLOSED
        try:
            raw = await read_capped(body, headers, self.max_body_size, self.body_timeout)
        except TooLarge:
            self.stats["too_large"] += 1
            return _TOO_LARGE
        except TooSlow:
            self.stats["body_timeout"] += 1
            return _TOO_SLOW
        if self._secret is not None:
            try:
                verify_signature(raw, headers, self._secret)
            except SignatureError as error:
                self.stats["bad_signature"] += 1
                logger.warning("webhook refused: %s", error_text(error))
                return _BAD_SIGNATURE
        try:
            events = parse(raw)
        except WebhookError as error:
            self.stats["malformed"] += 1
            logger.warning("webhook refused: %s", error_text(error))
            return _MALFORMED
        if self._drain.refuses(events):
            self.stats["refused_draining"] += 1
            return _DRAINING
        try:
            await self.dispatch(events)
        except (SharedStateUnavailable, DeliveryInProgress, ReceiverClosedError) as error:
            # Dedupe fails closed, the same events are being recorded by another delivery, or
            # we are shutting down: the platform delivers again later.
            logger.warning("webhook deferred: %s", error_text(error))
            return _DEFERRED
        return _OK

    async def dispatch(self, events: list[Event]) -> None:
        """Start the handlers for new events (duplicates and stale connects are dropped).

        The delivery's keys are recorded in one call to the shared state (one round trip to
        Redis). Raises `ReceiverClosedError` once `aclose()` has begun; events whose keys were
        recorded but whose handlers could not start are forgotten again, so their redelivery
        is handled.
        """
        group = await self._task_group()
        if self.telemetry is not None:
            self.telemetry.webhook_events(events)
        self.stats["events"] += len(events)
        if self._in_process:  # records without suspending: no window
            await self._commit(events, group)
            return
        # Recording the keys and starting the handlers is one step that the delivery's own
        # cancellation (its client gone, a server's timeout) does not cut in half: once the
        # keys may be recorded the events are handled, and the platform's redelivery is then
        # the duplicate. (A task per delivery: only where recording waits on I/O.)
        commit = asyncio.get_running_loop().create_task(self._commit(events, group))
        self._committing.add(commit)
        commit.add_done_callback(self._committing.discard)
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            commit.add_done_callback(_log_orphaned_failure)
            raise

    async def _commit(self, events: list[Event], group: asyncio.TaskGroup) -> None:
        """Record the events' keys, start the handlers of those seen for the first time, then
        confirm the keys handled.

        The keys hold this delivery's claim, pending until confirmed: another delivery of the
        same events meanwhile is deferred, not dropped; if this one is deferred, it gives back
        only keys that still hold its claim, never those another worker recorded since."""
        now = datetime.now(UTC)
        kept = [event for event in events if not _expired(event, now, self._max_event_age)]
        if expired := len(events) - len(kept):
            self.stats["expired"] += expired
        events = kept
        keys = [event.dedupe_key for event in events]
        claim = "" if self._in_process else secrets.token_hex(8)  # one process: no claims
        fresh = await self.shared_state.first_times(keys, self.dedupe_ttl, claim=claim)
        handled: list[str] = []
        for index, event in enumerate(events):
            if not fresh[index]:
                self.stats["duplicates"] += 1
                continue
            if self._closed:  # shutting down between recording and starting: give them back
                await self._confirm(handled, claim)
                for key, new in zip(keys[index:], fresh[index:], strict=True):
                    if new:
                        await self.shared_state.forget(key, claim=claim)
                raise ReceiverClosedError("the receiver is shutting down")
            handled.append(keys[index])
            self._start(event, group)
        if handled and not self._in_process:  # beside the handlers: the 200 waits one trip
            group.create_task(self._confirm(handled, claim))

    async def _confirm(self, keys: list[str], claim: str) -> None:
        """Keep the handled events' keys for the dedupe window; never raises (unconfirmed
        keys lapse, and a later redelivery is then handled again)."""
        try:
            await self.shared_state.confirm(keys, self.dedupe_ttl, claim=claim)
        except Exception as error:
            logger.warning("could not confirm %d webhook events: %s", len(keys), error_text(error))

    def _start(self, event: Event, group: asyncio.TaskGroup) -> None:
        """Start `event`'s handlers (none for a stale connect; a malformed item is logged)."""
        if _stale_connect(event, self.max_connect_age):
            self.stats["stale"] += 1
            return
        if isinstance(event, MalformedEvent):
            self.stats["malformed_items"] += 1
            logger.warning("webhook item skipped: %s", event.error)
        handlers = self.router.handlers_for(event, self.client)
        self._drain.dispatched(event, [group.create_task(self._run(h, event)) for h in handlers])
        if isinstance(event, CallTerminate):
            group.create_task(self._announce_ended(event.call_id))

    async def _announce_ended(self, call_id: str) -> None:
        """Tell the other workers the call ended (its media may live there); never raises."""
        try:
            await self.shared_state.announce_call_ended(call_id)
        except Exception:
            logger.exception("could not announce that %s ended", call_id)

    async def _run(self, handler: Awaitable[None], event: Event) -> None:
        if self.telemetry is not None:
            handler = self.telemetry.webhook_handler(event, handler)
        try:
            await handler
        except Exception:
            self.stats["handler_errors"] += 1
            logger.exception("webhook handler for %s failed", type(event).__name__)

    async def _task_group(self) -> asyncio.TaskGroup:
        """The handlers' task group, started once by the first delivery."""
        if self._closed:
            raise ReceiverClosedError("the receiver is closed")
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._supervisor = asyncio.create_task(self._supervise(self._ready))
        await asyncio.shield(self._ready)
        assert self._group is not None
        return self._group

    async def _supervise(self, ready: asyncio.Future[None]) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            ready.set_result(None)
            await self._stopping.wait()

    async def drain(self, deadline: float | None = None) -> DrainReport:
        """Let the calls in progress finish, then close: from now on a new call's connect is
        answered 503 (the platform delivers it to another worker) while the deliveries of the
        calls held here are handled; after `deadline` seconds (default `drain_deadline`) the
        calls still going are terminated through `client` and their media closed; then
        `aclose()`. Runs once: later calls wait for the same drain and get its report."""
        return await self._drain.drain(deadline, self.client)

    async def aclose(self) -> None:
        """Stop taking deliveries; wait for running handlers up to `shutdown_timeout`, then close
        the media they attached to calls (`answer_with_audio`)."""
        self._closed = True
        deadline = asyncio.get_running_loop().time() + self.shutdown_timeout
        if self._committing:  # a delivery whose sender left: its handlers start, or its keys go
            await asyncio.wait(set(self._committing), timeout=self.shutdown_timeout)
        self._stopping.set()
        self._stop_hearing_ends()
        await self._stop_handlers(deadline)
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                await self.router.aclose()
        except TimeoutError:
            logger.error("call media still closing after %ss; left", self.shutdown_timeout)

    async def _stop_handlers(self, deadline: float) -> None:
        """Wait for the handlers until `deadline`, then cancel them (bounded again)."""
        supervisor = self._supervisor
        if supervisor is None or supervisor.done():
            return
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(supervisor)
        except TimeoutError:
            logger.warning(
                "webhook handlers still running after %ss; cancelled", self.shutdown_timeout
            )
            supervisor.cancel()
            _, pending = await asyncio.wait({supervisor}, timeout=self.shutdown_timeout)
            if pending:
                logger.error("a webhook handler ignored its cancellation; left running")


def _log_orphaned_failure(commit: asyncio.Task[None]) -> None:
    """Log how a delivery that was cancelled (nobody awaits it any more) failed to commit."""
    if commit.cancelled() or (error := commit.exception()) is None:
        return
    if isinstance(error, SharedStateUnavailable | DeliveryInProgress | ReceiverClosedError):
        logger.warning(
            "webhook delivery cancelled by its sender, then deferred: %s", error_text(error)
        )
    else:
        logger.error("webhook delivery cancelled by its sender, then failed", exc_info=error)
