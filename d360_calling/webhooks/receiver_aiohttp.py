"""The `aiohttp.web` side of a webhook endpoint: its request handler and an app serving only it,
which drains the endpoint on shutdown, and under `web.run_app` already on SIGTERM (`shutdown`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .body import UNREAD, request_body
from .endpoint import Endpoint
from .shutdown import DrainingEndpoint, before_run_app_sigterm


async def aiohttp_reply(endpoint: Endpoint, request: web.Request) -> web.Response:
    """`endpoint.receive` over the body the app read, else its stream, as an aiohttp response."""
    body = await request_body(request, endpoint.max_body_size)
    status, text = await endpoint.receive(body, request.headers)
    response = web.Response(status=status, text=text)
    if status in UNREAD:  # a refused or stalled upload is not read on
        response.force_close()
    return response


def aiohttp_app(
    endpoint: DrainingEndpoint, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.Application:
    """An aiohttp application serving `POST {endpoint.path}` with `handler`; its shutdown drains
    the endpoint (which closes it)."""

    async def hook_sigterm(_: web.Application) -> None:
        before_run_app_sigterm(endpoint.drain)

    async def drain(_: web.Application) -> None:
        await endpoint.drain()

    app = web.Application(client_max_size=endpoint.max_body_size)
    app.router.add_post(endpoint.path, handler)
    app.on_startup.append(hook_sigterm)
    app.on_shutdown.append(drain)
    return app
