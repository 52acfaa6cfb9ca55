"""The aiohttp.web application: routes, API-key check, fault injection and stats per request."""

from __future__ import annotations

import asyncio
import hmac
import json
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from d360_calling.sandbox.engine import Engine
from d360_calling.sandbox.errors import ApiError, JsonObject, invalid_parameter, unauthorized
from d360_calling.sandbox.faults import HTML_503, Fault, FaultKind, FaultPlan
from d360_calling.sandbox.fields import is_wa_id
from d360_calling.sandbox.media_store import DOWNLOAD_PATH
from d360_calling.sandbox.stats import Stats
from d360_calling.sandbox.validation import call_operation, parse_call_action, parse_message
from d360_calling.sandbox.validation_settings import parse_settings

if TYPE_CHECKING:
    from d360_calling.sandbox.phone.hub import PhoneHub

API_KEY_HEADER = "D360-API-KEY"
"""The header 360dialog authenticates with (API reference, §1.0)."""

SLOW_BODY_CHUNKS = 10
"""How many pieces a slow body is written in."""

_NO_BODY = object()
"""Marks a request body that is not JSON."""

OUTCOME_LENGTH = 160
"""Characters of an error's text the /phone page's log shows."""


@attrs.frozen
class Blob:
    """An answer that is a file, not JSON (a media download)."""

    data: bytes = attrs.field(repr=False)
    content_type: str


def _encoded(body: JsonObject | Blob) -> tuple[bytes, str]:
    if isinstance(body, Blob):
        return body.data, body.content_type
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"


def _json_response(
    status: int, body: JsonObject | Blob, headers: dict[str, str] | None = None
) -> web.Response:
    data, content_type = _encoded(body)
    response = web.Response(status=status, body=data, headers=headers)
    response.headers["Content-Type"] = content_type  # a MIME type with parameters, verbatim
    return response


class SandboxApp:
    """The HTTP face of an `Engine`: one handler per route, one pipeline for all of them."""

    def __init__(
        self,
        engine: Engine,
        *,
        api_key: str,
        faults: FaultPlan,
        stats: Stats,
        phone: PhoneHub | None = None,
    ) -> None:
        self.engine = engine
        self.phone = phone
        self.api_key = api_key
        self.faults = faults
        self.stats = stats
        self.closing = asyncio.Event()
        """Set when the sandbox stops, so slow faults end at once instead of holding it up."""
        self._stale: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        """Connections whose next request is dropped unread (the `stale_conn` fault)."""
        self.app = web.Application(middlewares=[self._drop_on_stale_connection])
        self.app.router.add_post("/calling/calls", self._calls)
        self.app.router.add_get("/calling/permissions/{wa_id}", self._permissions)
        self.app.router.add_get("/calling/settings", self._get_settings)
        self.app.router.add_post("/calling/settings", self._update_settings)
        self.app.router.add_post("/messages", self._messages)
        self.app.router.add_get(r"/{media_id:\d+}", self._media)
        self.app.router.add_get(DOWNLOAD_PATH, self._download)
        if phone is not None:
            phone.add_routes(self.app)

    # -- routes ---------------------------------------------------------------------------

    async def _calls(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        return await self._serve(
            request,
            call_operation(body),
            lambda: self.engine.call_action(parse_call_action(self._require_json(body))),
        )

    async def _permissions(self, request: web.Request) -> web.StreamResponse:
        wa_id = request.match_info["wa_id"]

        def run() -> JsonObject:
            if not is_wa_id(wa_id):
                raise invalid_parameter("consumer_whatsapp_id: ASCII digits only")
            return self.engine.permissions(wa_id)

        return await self._serve(request, "permissions.get", run)

    async def _get_settings(self, request: web.Request) -> web.StreamResponse:
        include = request.query.get("include_sip_credentials", "false").lower() == "true"
        return await self._serve(
            request,
            "settings.get",
            lambda: self.engine.settings(include_sip_credentials=include),
        )

    async def _update_settings(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)

        def run() -> JsonObject:
            today = datetime.fromtimestamp(self.engine.clock.now(), UTC).date()
            return self.engine.update_settings(parse_settings(self._require_json(body), today))

        return await self._serve(request, "settings.update", run)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        return await self._serve(
            request,
            "messages.send",
            lambda: self.engine.send_message(parse_message(self._require_json(body)), body),
        )

    async def _media(self, request: web.Request) -> web.StreamResponse:
        media_id = request.match_info["media_id"]
        response = await self._serve(
            request, "media.get", lambda: self.engine.media_lookup(media_id)
        )
        if response.status >= 400 and self._authenticated(request):
            self.engine.media.throttle.count_error(self.engine.clock.now())
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        query = {name: request.query.get(name, "") for name in ("mid", "ext", "hash")}

        def run() -> Blob:
            media = self.engine.media_download(query)
            return Blob(media.data or b"", media.mime_type)

        return await self._serve(request, "media.download", run)

    # -- the pipeline ---------------------------------------------------------------------

    @web.middleware
    async def _drop_on_stale_connection(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Drop, unread, a request on a connection a `stale_conn` fault marked."""
        transport = request.transport
        if transport is not None and transport in self._stale:
            self._stale.discard(transport)
            self.stats.dropped[FaultKind.STALE_CONNECTION.value] += 1
            _abort(request)
            return web.Response()
        return await handler(request)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        """The decoded JSON body, read only to learn the operation before faults are drawn."""
        raw = await request.read()
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return _NO_BODY

    @staticmethod
    def _require_json(body: object) -> object:
        if body is _NO_BODY:
            raise invalid_parameter("body: must be JSON")
        return body

    async def _serve(
        self, request: web.Request, operation: str, run: Callable[[], JsonObject | Blob]
    ) -> web.StreamResponse:
        """Answer the request, and tell the /phone page's log what came of it."""
        response = await self._answer(request, operation, run)
        if self.phone is not None:
            self.phone.api_request(operation, _outcome(request, response))
        return response

    async def _answer(
        self, request: web.Request, operation: str, run: Callable[[], JsonObject | Blob]
    ) -> web.StreamResponse:
        """Count, maybe fault, authenticate, apply, answer (maybe corrupted)."""
        self.stats.requests[operation] += 1
        fault = self.faults.draw(operation)
        if fault is not None:
            self.stats.faults[fault.label] += 1
            if fault.kind is FaultKind.LATENCY:
                if not await self._pause(fault.seconds):
                    _abort(request)
                    return web.Response()
            elif not fault.applies_effect:
                return self._refuse(request, fault)
        status, body, headers = self._apply(request, operation, run)
        if fault is None or fault.kind is FaultKind.LATENCY:
            return _json_response(status, body, headers)
        if fault.kind is FaultKind.SLOW_FIRST_BYTE:
            if not await self._pause(fault.seconds):
                _abort(request)
                return web.Response()
            return _json_response(status, body, headers)
        if fault.kind is FaultKind.STALE_CONNECTION:
            if request.transport is not None:
                self._stale.add(request.transport)
            return _json_response(status, body, headers)
        return await self._corrupt(request, fault, status, *_encoded(body))

    def _authenticated(self, request: web.Request) -> bool:
        given = request.headers.get(API_KEY_HEADER, "")
        return hmac.compare_digest(given.encode(), self.api_key.encode())

    def _apply(
        self, request: web.Request, operation: str, run: Callable[[], JsonObject | Blob]
    ) -> tuple[int, JsonObject | Blob, dict[str, str]]:
        try:
            if not self._authenticated(request):
                raise unauthorized()
            self.engine.expire()
            body = run()
        except ApiError as error:
            return error.status, error.body, dict(error.headers)
        self.stats.effects[operation] += 1
        return 200, body, {}

    @staticmethod
    def _refuse(request: web.Request, fault: Fault) -> web.StreamResponse:
        """The faults that answer instead of the sandbox: nothing is applied."""
        if fault.kind is FaultKind.RESET_BEFORE:
            _abort(request)
            return web.Response()
        if fault.kind is FaultKind.NON_JSON:
            return web.Response(status=fault.status_code, text=HTML_503, content_type="text/html")
        return _json_response(fault.status_code, fault.error_body(), dict(fault.headers))

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds`; `False` if the sandbox began closing meanwhile."""
        try:
            await asyncio.wait_for(self.closing.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _corrupt(
        self, request: web.Request, fault: Fault, status: int, body: bytes, content_type: str
    ) -> web.StreamResponse:
        """The faults that mangle the answer to a request that was applied."""
        if fault.kind is FaultKind.RESET_AFTER:
            _abort(request)
            return web.Response()
        if fault.kind is FaultKind.HUGE:
            padding = b"x" * max(fault.size - 48, 0)
            huge = b'{"messaging_product":"whatsapp","padding":"' + padding + b'"}'
            return web.Response(status=200, body=huge, content_type="application/json")
        if fault.kind is FaultKind.NESTED:
            nested = b"[" * fault.size + b"]" * fault.size
            return web.Response(status=200, body=nested, content_type="application/json")
        response = web.StreamResponse(status=status)
        response.headers["Content-Type"] = content_type
        if fault.kind is FaultKind.TRUNCATED:
            response.content_length = len(body) + 64
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            _abort(request)
            return response
        response.content_length = len(body)  # SLOW_BODY
        await response.prepare(request)
        step = -(-len(body) // SLOW_BODY_CHUNKS)
        for start in range(0, len(body), step):
            if not await self._pause(fault.seconds / SLOW_BODY_CHUNKS):
                _abort(request)
                return response
            await response.write(body[start : start + step])
        await response.write_eof()
        return response


def _outcome(request: web.Request, response: web.StreamResponse) -> str:
    """What the bot got, for people: "200", "400 (#100) Invalid parameter: …", "connection
    dropped"."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return "connection dropped"
    body = response.body if isinstance(response, web.Response) else None
    if response.status < 400 or not isinstance(body, bytes):
        return str(response.status)
    try:
        decoded = json.loads(body)
        error = decoded.get("error") or decoded["meta"]
        text = str(error.get("message") or error.get("developer_message"))
        details = (error.get("error_data") or {}).get("details")
    except (ValueError, KeyError, TypeError, AttributeError):
        return str(response.status)
    if details and details != text:
        text = f"{text}: {details}"
    return f"{response.status} {text}"[:OUTCOME_LENGTH]


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
