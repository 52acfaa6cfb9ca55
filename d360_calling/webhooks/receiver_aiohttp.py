"""The `aiohttp.web` side of a webhook endpoint: its request handler and an app serving only it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .body import UNREAD, request_body
from .endpoint import Endpoint


async def aiohttp_reply(endpoint: Endpoint, request: web.Request) -> web.Response:
    """`endpoint.receive` over the body the app read, else its stream, as an aiohttp response."""
    body = await request_body(request, endpoint.max_body_size)
    status, text = await endpoint.receive(body, request.headers)
    response = web.Response(status=status, text=text)
    if status in UNREAD:  # a refused or stalled upload is not read on
        response.force_close()
    return response


def aiohttp_app(
    endpoint: Endpoint, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.Application:
    """An aiohttp application serving `POST {endpoint.path}` with `handler`; closing it closes
    the endpoint."""
    app = web.Application(client_max_size=endpoint.max_body_size)
    app.router.add_post(endpoint.path, handler)
    app.on_cleanup.append(lambda _: endpoint.aclose())
    return app
