"""The /phone page's side of the sandbox: the page, its WebSocket, what it is told and asks.

The engine tells the hub about calls, messages, API requests and webhooks (synchronously; each
page has a queue drained by its own writer), and the hub turns the page's requests into the
same user actions `Sandbox.ring`, `user_answers` and the rest apply, relaying SDP through the
loopback filter in both directions. Protocol (JSON text frames, one object each):

page → sandbox
    {"type": "call", "sdp": offer}                     call the business
    {"type": "tap", "message_id": id, "sdp": offer}    tap a message's call button
    {"type": "answer", "call_id": id, "sdp": answer}   pick up the business's call
    {"type": "decline", "call_id": id}                 decline it
    {"type": "hangup", "call_id": id}                  end a ringing or connected call
    {"type": "permission", "accept": bool, "permanent": bool}   answer a permission request
sandbox → page
    {"type": "hello", "wa_id", "name", "business"}     first, then the recent log and messages
    {"type": "call", "call_id", "direction": "outgoing" | "incoming", "state", "sdp", "duration"}
        a call of this phone changed; `sdp` (once per call) is the business's offer on an
        incoming call or its answer on an outgoing one, loopback candidates only
    {"type": "message", "message_id", "kind", "text", "button"}   the business sent a message
    {"type": "log", "time", "direction", "operation", "status"}   a webhook or an API request
    {"type": "announcement", "call_id", "purpose", "seconds"}
        the call is being recorded (or transcribed): the consent announcement plays now
    {"type": "recording", "call_id", "url", "seconds"}  the call's recording, served to the
        page only (`files.RecordingLinks`)
    {"type": "error", "message"}                       a request of this page failed
    {"type": "no_bot", "call_id", "message"}           no bot got the connect webhook of a call
        the page placed (`no_bot.py` says why); the sandbox ends the call
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Coroutine
from importlib import resources
from typing import Any, Final

from aiohttp import WSCloseCode, WSMsgType, web

from d360_calling.sandbox.errors import JsonObject
from d360_calling.sandbox.phone.engine_port import PhoneEngine
from d360_calling.sandbox.phone.files import RecordingLinks
from d360_calling.sandbox.phone.no_bot import connect_call_id, no_bot_message
from d360_calling.sandbox.phone.relay import (
    has_candidate,
    loopback_only,
    relay_from_page,
)
from d360_calling.sandbox.phone.trust import (
    HEADERS,
    LOOPBACK_HOSTS,
    loopback_peer,
)
from d360_calling.sandbox.records import Call, CallState, Direction
from d360_calling.sandbox.validation import OutboundMessage
from d360_calling.sandbox.webhooks import DeliveryFailure, describe_webhook

log = logging.getLogger(__name__)

ASSETS: Final = {
    "": ("page.html", "text/html"),
    "phone.css": ("phone.css", "text/css"),
    "phone.js": ("phone.js", "text/javascript"),
}
"""What GET /phone and /phone/{name} serve, from this package."""

HISTORY: Final = 200
"""Log entries and messages kept for a page that opens later."""
MAX_FRAME: Final = 256 * 1024
TICK: Final = 0.5
"""Seconds between expiry checks while a page is open, so its unanswered calls time out as on
a phone (otherwise the sandbox checks only when a request or `clock.advance` comes)."""


def _duration(call: Call) -> int | None:
    if call.start_time is None or call.end_time is None:
        return None
    return int(call.end_time) - int(call.start_time)


def _part(value: object) -> JsonObject:
    """A part of a message body as the page reads it: one that is not an object reads as empty
    (the sandbox checks only calling messages in full, so any other may hold anything)."""
    return value if isinstance(value, dict) else {}


def _message_view(message_id: str, message: OutboundMessage, body: object) -> JsonObject:
    """What the page shows of a message: its text and, for a call button, the label."""
    text, button = "", None
    if isinstance(body, dict):
        interactive = body.get("interactive")
        if isinstance(interactive, dict):
            text = str(_part(interactive.get("body")).get("text", ""))
            parameters = _part(_part(interactive.get("action")).get("parameters"))
            if message.kind == "voice_call":
                button = str(parameters.get("display_text") or "Call now")
        elif isinstance(body.get("template"), dict):
            text = f"(template {body['template'].get('name', '')})"
        elif isinstance(body.get("text"), dict):
            text = str(body["text"].get("body", ""))
    return {
        "type": "message",
        "message_id": message_id,
        "kind": message.kind,
        "text": text,
        "button": button,
    }


class PhoneHub:
    """One WhatsApp user (`wa_id`) whose phone is the /phone page; any number of tabs."""

    def __init__(self, engine: PhoneEngine, *, wa_id: str, host: str) -> None:
        self.engine = engine
        self.wa_id = wa_id
        self._allowed_hosts = LOOPBACK_HOSTS | {host}
        self._pages: dict[web.WebSocketResponse, asyncio.Queue[JsonObject | None]] = {}
        self._calls: set[str] = set()
        self._past: deque[str] = deque(maxlen=HISTORY)
        """Calls of this phone that ended, whose recordings it is still shown."""
        self._links = RecordingLinks(engine, self._allowed_hosts)
        self._sdp_sent: set[str] = set()
        self._history: deque[JsonObject] = deque(maxlen=HISTORY)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False

    def add_routes(self, app: web.Application) -> None:
        """GET /phone (the page), /phone/ws (its WebSocket), /phone/phone.css and .js."""
        app.router.add_get("/phone", self._asset)
        app.router.add_get("/phone/ws", self._socket)
        self._links.add_route(app)
        app.router.add_get("/phone/{name}", self._asset)

    def start(self) -> None:
        """Take pages again (after a `close`)."""
        self._closing = False

    async def close(self) -> None:
        """Close every page's socket and stop pending page actions; idempotent."""
        self._closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        for socket in list(self._pages):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"sandbox stopping")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what the engine tells the page ---------------------------------------------------

    def adopt(self, call_id: str) -> None:
        """`call_id` was placed from the page."""
        self._calls.add(call_id)

    def call_changed(self, call: Call) -> None:
        """A call changed; the page hears of its own calls and of business calls to its user."""
        if call.id not in self._calls:
            if call.direction is Direction.USER_INITIATED or call.wa_id != self.wa_id:
                return
            self._calls.add(call.id)
        incoming = call.direction is Direction.BUSINESS_INITIATED
        sdp = call.offer_sdp if incoming else call.answer_sdp
        relayed = None
        if sdp is not None and call.id not in self._sdp_sent and call.active:
            self._sdp_sent.add(call.id)
            relayed = loopback_only(sdp)
            if not has_candidate(relayed):
                self._log("sandbox", "relay", "the bot's SDP has no 127.0.0.1 candidate")
        self._publish(
            {
                "type": "call",
                "call_id": call.id,
                "direction": "incoming" if incoming else "outgoing",
                "state": call.state.value,
                "sdp": relayed,
                "duration": _duration(call),
            }
        )
        if not call.active:
            self._calls.discard(call.id)
            self._sdp_sent.discard(call.id)
            self._past.append(call.id)

    def announcement(self, call_id: str, purpose: str, seconds: float) -> None:
        """A call of this phone is being recorded: its consent announcement plays."""
        if call_id in self._calls:
            message = {"type": "announcement", "call_id": call_id, "purpose": purpose}
            self._publish({**message, "seconds": seconds})

    def recording_ready(self, call_id: str, seconds: float) -> None:
        """The recording of a call of this phone can be played: the page gets its link."""
        if call_id in self._calls or call_id in self._past:
            url = self._links.link(call_id)
            message = {"type": "recording", "call_id": call_id, "url": url}
            self._publish({**message, "seconds": round(seconds, 1)}, keep=True)

    def message_sent(self, message_id: str, message: OutboundMessage, body: object) -> None:
        """The business sent `message`; the page shows those to its user."""
        if message.to == self.wa_id:
            self._publish(_message_view(message_id, message, body), keep=True)

    def api_request(self, operation: str, status: str) -> None:
        """The bot called the API."""
        self._log("bot → sandbox", operation, status)

    def webhook_posted(self, payload: JsonObject, outcome: str) -> None:
        """The sandbox posted (or, without a URL, recorded) a webhook."""
        self._log("sandbox → bot", describe_webhook(payload), outcome)

    def webhook_undelivered(self, failure: DeliveryFailure) -> None:
        """No bot got a webhook. For the connect of a ringing call the page placed, the page
        hears why at once and the call ends: the sandbox posts it once, so no bot can answer."""
        call = self.engine.state.calls.get(connect_call_id(failure.payload) or "")
        if call is None or call.id not in self._calls or call.state is not CallState.RINGING:
            return
        message = {"type": "no_bot", "call_id": call.id, "message": no_bot_message(failure)}
        self._publish(message)
        self._spawn(self.engine.user_hangs_up(call.id))

    def _log(self, direction: str, operation: str, status: str) -> None:
        entry = {
            "type": "log",
            "time": round(time.time(), 3),
            "direction": direction,
            "operation": operation,
            "status": status,
        }
        self._publish(entry, keep=True)

    def _publish(self, message: JsonObject, *, keep: bool = False) -> None:
        if keep:
            self._history.append(message)
        for queue in self._pages.values():
            queue.put_nowait(message)

    # -- HTTP -----------------------------------------------------------------------------

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "")
        if name not in ASSETS:
            raise web.HTTPNotFound()
        filename, content_type = ASSETS[name]
        text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
        return web.Response(text=text, content_type=content_type, headers=HEADERS)

    def _trusted(self, request: web.Request) -> bool:
        """Only the page itself, served from a loopback name, may open the socket: no other
        machine (peer address), no other site the browser visits (Origin) and no DNS-rebound
        name (Host)."""
        origin = request.headers.get("Origin")
        return (
            loopback_peer(request)
            and origin == f"{request.scheme}://{request.host}"
            and request.url.host in self._allowed_hosts
        )

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if not self._trusted(request):
            raise web.HTTPForbidden(text="the phone's socket takes only its own page's origin")
        if self._closing:
            raise web.HTTPServiceUnavailable()
        socket = web.WebSocketResponse(timeout=2.0, heartbeat=30.0, max_msg_size=MAX_FRAME)
        await socket.prepare(request)
        queue: asyncio.Queue[JsonObject | None] = asyncio.Queue()
        user = self.engine.state.user(self.wa_id)
        queue.put_nowait(
            {
                "type": "hello",
                "wa_id": self.wa_id,
                "name": user.name,
                "business": self.engine.phone.display_phone_number,
            }
        )
        for message in self._history:
            queue.put_nowait(message)
        self._pages[socket] = queue
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())
        writer = asyncio.create_task(_write(socket, queue))
        try:
            async for frame in socket:
                if frame.type is WSMsgType.TEXT:
                    self._spawn(self._act(frame.data, queue))
        finally:
            del self._pages[socket]
            queue.put_nowait(None)
            await asyncio.gather(writer, return_exceptions=True)
            if not self._pages and not self._closing:
                self._hang_up_all()
        return socket

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.engine.expire()

    def _hang_up_all(self) -> None:
        """The last page went away: like a phone that lost its app, it leaves its calls."""
        for call_id in list(self._calls):
            call = self.engine.state.calls.get(call_id)
            if call is None or not call.active:
                continue
            if call.direction is Direction.BUSINESS_INITIATED and call.state is CallState.RINGING:
                continue  # a phone without the app still rings; the call times out
            self._spawn(self.engine.user_hangs_up(call_id))

    # -- what the page asks ---------------------------------------------------------------

    async def _act(self, raw: str, reply: asyncio.Queue[JsonObject | None]) -> None:
        try:
            await self._dispatch(json.loads(raw))
        except (ValueError, RecursionError) as error:  # RelayError, a wrong call, a bad frame
            reply.put_nowait({"type": "error", "message": str(error)})

    async def _dispatch(self, message: object) -> None:
        engine = self.engine
        match message:
            case {"type": "call", "sdp": sdp}:
                await engine.ring(
                    self.wa_id,
                    sdp=relay_from_page(sdp, "offer"),
                    cta_payload=None,
                    deeplink_payload=None,
                    name=None,
                    page=True,
                )
            case {"type": "tap", "message_id": str(message_id), "sdp": sdp}:
                sent = engine.state.messages.get(message_id)
                if sent is None or sent.to != self.wa_id:
                    raise ValueError(f"{message_id!r} is not a message to {self.wa_id}")
                offer = relay_from_page(sdp, "offer")
                await engine.user_taps_call_button(message_id, sdp=offer, page=True)
            case {"type": "answer", "call_id": str(call_id), "sdp": sdp}:
                self._require_own(call_id)
                await engine.user_answers(call_id, sdp=relay_from_page(sdp, "answer"))
            case {"type": "decline", "call_id": str(call_id)}:
                self._require_own(call_id)
                await engine.user_rejects(call_id)
            case {"type": "hangup", "call_id": str(call_id)}:
                self._require_own(call_id)
                await engine.user_hangs_up(call_id)
            case {"type": "permission", "accept": bool(accept), "permanent": bool(permanent)}:
                await engine.user_answers_permission(self.wa_id, accept=accept, permanent=permanent)
            case _:
                raise ValueError(f"not a phone request: {str(message)[:200]}")

    def _require_own(self, call_id: str) -> None:
        if call_id not in self._calls:
            raise ValueError(f"{call_id!r} is not an ongoing call of {self.wa_id}")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


async def _write(socket: web.WebSocketResponse, queue: asyncio.Queue[JsonObject | None]) -> None:
    """Send the page its messages in order until told to stop or the socket closes."""
    while (message := await queue.get()) is not None:
        try:
            await socket.send_json(message)
        except (ConnectionError, RuntimeError):
            return


def _log_failure(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if (error := task.exception()) is not None:
            log.warning("sandbox phone: a page request failed: %r", error)
