"""An inbound-call bot as a FastAPI service: the webhook receiver mounted at /hooks (a pure ASGI
app, no adapter needed), the SDK's client made in the app's lifespan and used by its routes.

Run it under uvicorn against the embedded sandbox (it rings a few calls at itself):

    python examples/fastapi_bot.py --sandbox --calls 3

Or serve it, and call it from the sandbox's phone page (http://127.0.0.1:8360/phone):

    python -m d360_calling sandbox --phone --webhook-url http://127.0.0.1:8080/hooks/webhook \\
        --webhook-secret S
    python examples/fastapi_bot.py --base-url http://127.0.0.1:8360 --secret S

(flags: examples/_serve.py). Against the real API, with $D360_API_KEY and
$D360_WEBHOOK_SECRET set (and $D360_BASE_URL for another API, such as a sandbox):

    uvicorn --factory examples.fastapi_bot:create_app

and point the 360dialog webhook URL at https://<your host>/hooks/webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from d360_calling import DEFAULT_BASE_URL, Client, SessionDescription
from d360_calling.webhooks import IncomingCall, Receiver, Router

if __package__:
    from . import _serve
else:  # run as a script: python examples/fastapi_bot.py
    import _serve

log = logging.getLogger("fastapi_bot")
SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105 - what the sandbox signs with here


def build_receiver(secret: str | None) -> Receiver:
    """A receiver that pre-accepts and accepts each inbound call once, through
    `receiver.client` (bound in the app's lifespan)."""
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        if not call.inbound:
            return
        # A real bot gets its answer from its media stack (see d360_calling.media); the
        # sandbox accepts the offer mirrored with the DTLS role flipped.
        offer = call.event.session.sdp if call.event.session is not None else "v=0\r\n"
        answer_sdp = SessionDescription.answer(offer.replace("a=setup:actpass", "a=setup:active"))
        await call.pre_accept(answer_sdp)
        await call.accept(answer_sdp)
        log.info("answered %s from %s", call.call_id, call.event.from_)

    return Receiver(router, secret=secret)


WEBHOOK_PATH = "/hooks/webhook"


def create_app(
    *, api_key: str | None = None, base_url: str | None = None, secret: str | None = None
) -> FastAPI:
    """The service: `POST /hooks/webhook` for deliveries, `GET /permissions/{wa_id}` for you.
    `api_key`, `base_url` and `secret` default to $D360_API_KEY, $D360_BASE_URL (else the real
    API) and $D360_WEBHOOK_SECRET."""
    receiver = build_receiver(secret)
    base_url = base_url or os.environ.get(_serve.BASE_URL_ENV) or DEFAULT_BASE_URL

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Client(api_key, base_url=base_url) as client:
            receiver.client = client
            app.state.client = client
            try:
                yield
            finally:
                # A mounted app gets no lifespan events of its own: close the receiver here,
                # letting running handlers finish, before the client they use is closed.
                await receiver.aclose()

    app = FastAPI(lifespan=lifespan)
    app.state.base_url = base_url  # the Calling API this service talks to
    app.mount("/hooks", receiver.asgi)

    @app.get("/permissions/{wa_id}")
    async def permissions(wa_id: str, request: Request) -> dict[str, bool]:
        client: Client = request.app.state.client
        perms = await client.permissions.get(wa_id)
        return {"can_start_call": perms.can_start_call}

    return app


async def demo_with_sandbox(calls: int) -> tuple[int, bool]:
    """Serve the app under uvicorn on loopback, ring `calls` calls at it through the sandbox;
    return how many were accepted and what the app's permissions route said."""
    import aiohttp
    import uvicorn

    from d360_calling.sandbox import Sandbox

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    webhook_url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    async with Sandbox(
        api_key="sandbox-key", webhook_url=webhook_url, webhook_secret=SANDBOX_SECRET
    ) as sandbox:
        app = create_app(api_key="sandbox-key", base_url=sandbox.base_url, secret=SANDBOX_SECRET)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            async with asyncio.timeout(10):
                while not server.started:
                    if serving.done():
                        await serving
                    await asyncio.sleep(0.01)
            sandbox.set_permission("14155550123", "permanent")
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/permissions/14155550123") as response,
            ):
                can_start_call = bool((await response.json())["can_start_call"])
            call_ids = [await sandbox.ring(f"1415555{n:04d}") for n in range(calls)]
            for _ in range(100):
                if all(sandbox.calls[c].state.value == "accepted" for c in call_ids):
                    break
                await asyncio.sleep(0.05)
            accepted = sum(sandbox.calls[c].state.value == "accepted" for c in call_ids)
            for call_id in call_ids:
                await sandbox.user_hangs_up(call_id)
        finally:
            server.should_exit = True
            async with asyncio.timeout(20):
                await serving
            listener.close()
    return accepted, can_start_call


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser)
    parser.add_argument("--calls", type=int, default=3, help="calls the --sandbox demo rings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.sandbox:
        accepted, can_start_call = asyncio.run(demo_with_sandbox(args.calls))
        print(f"{accepted} of {args.calls} calls accepted; can_start_call={can_start_call}")
        return
    where = _serve.target(parser, args)
    app = create_app(api_key=where.api_key, base_url=where.base_url, secret=where.secret)
    _serve.run(_serve.serve_asgi(app, where, WEBHOOK_PATH))


if __name__ == "__main__":
    main()
