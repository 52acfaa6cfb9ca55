"""The /phone page's links to its calls' recordings: `/phone/recording/{token}`.

Each recording gets a random token that only the page's own socket is told; the file is served
only to a loopback peer, under a loopback name (no DNS-rebound host), and never to a request
a browser marks as coming from another site.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Collection
from typing import Final

from aiohttp import web

from d360_calling.sandbox.phone.engine_port import PhoneEngine
from d360_calling.sandbox.phone.trust import HEADERS, loopback_peer

PREFIX: Final = "/phone/recording/"
KEPT: Final = 200
"""Links remembered; older ones answer 404."""
FETCH_SITES: Final = frozenset({"same-origin", "none"})
"""`Sec-Fetch-Site` values of the page itself and of a link opened from it."""


class RecordingLinks:
    """Tokens to call ids, and the route that serves the recording behind each."""

    def __init__(self, engine: PhoneEngine, allowed_hosts: Collection[str]) -> None:
        self._engine = engine
        self._allowed_hosts = allowed_hosts
        self._calls: OrderedDict[str, str] = OrderedDict()

    def add_route(self, app: web.Application) -> None:
        """GET /phone/recording/{token}."""
        app.router.add_get(PREFIX + "{token}", self._serve)

    def link(self, call_id: str) -> str:
        """A new link to the recording of `call_id`, for the page."""
        token = secrets.token_urlsafe(18)
        self._calls[token] = call_id
        while len(self._calls) > KEPT:
            self._calls.popitem(last=False)
        return PREFIX + token

    def _trusted(self, request: web.Request) -> bool:
        site = request.headers.get("Sec-Fetch-Site")
        return (
            loopback_peer(request)
            and request.url.host in self._allowed_hosts
            and (site is None or site in FETCH_SITES)
        )

    async def _serve(self, request: web.Request) -> web.Response:
        if not self._trusted(request):
            raise web.HTTPForbidden(text="recordings are served to the phone page only")
        call_id = self._calls.get(request.match_info["token"])
        media = None if call_id is None else self._engine.recording_file(call_id)
        if media is None or media.data is None:
            raise web.HTTPNotFound(text="no such recording (kept 7 days on the sandbox clock)")
        headers = {
            **HEADERS,
            "Content-Type": media.mime_type,
            "Content-Disposition": 'inline; filename="call-recording.ogg"',
            "Accept-Ranges": "bytes",
        }
        return _ranged(request, media.data, headers)


def _ranged(request: web.Request, data: bytes, headers: dict[str, str]) -> web.Response:
    """`data`, or the one byte range asked for: a player reads an OGG file's last page to
    learn its length (without ranges the browser's player shows no duration)."""
    try:
        wanted = request.http_range if "Range" in request.headers else None
    except ValueError:
        wanted = None
    if wanted is None:
        return web.Response(body=data, headers=headers)
    start, stop, _ = wanted.indices(len(data))
    if start >= stop:
        unsatisfiable = {**headers, "Content-Range": f"bytes */{len(data)}"}
        return web.Response(status=416, headers=unsatisfiable)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
    return web.Response(status=206, body=data[start:stop], headers=headers)
