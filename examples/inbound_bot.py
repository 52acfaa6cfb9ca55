"""An inbound-call bot: answers every call that rings, through the webhook receiver.

Run it against the embedded sandbox (it rings a few calls at itself):

    python examples/inbound_bot.py --sandbox --calls 5

Or serve it, and call it from the sandbox's phone page (http://127.0.0.1:8360/phone):

    python -m d360_calling sandbox --phone --webhook-url http://127.0.0.1:8080/webhook \\
        --webhook-secret S
    python examples/inbound_bot.py --base-url http://127.0.0.1:8360 --secret S

Against the real API, `--base-url https://waba-v2.360dialog.io` with `$D360_API_KEY` and
`$D360_WEBHOOK_SECRET` set, behind your HTTPS endpoint, with the 360dialog webhook URL pointing
at it (flags: examples/_serve.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web

from d360_calling import Client, SessionDescription
from d360_calling.webhooks import CallTerminate, IncomingCall, Receiver, Router

if __package__:
    from . import _serve
else:  # run as a script: python examples/inbound_bot.py
    import _serve

log = logging.getLogger("inbound_bot")


def stand_in_answer(offer: SessionDescription | None) -> SessionDescription:
    """A media answer for the offer. A real bot gets this from its WebRTC stack (aiortc,
    a media server); here the offer is mirrored with the DTLS role flipped, which is what the
    sandbox checks."""
    sdp = offer.sdp if offer is not None else "v=0\r\n"
    return SessionDescription.answer(sdp.replace("a=setup:actpass", "a=setup:active"))


SANDBOX_SECRET = "sandbox-webhook-secret"  # noqa: S105 - what the sandbox signs with here


def build_receiver(client: Client | None, *, secret: str | None = None) -> Receiver:
    """A receiver whose router pre-accepts and accepts each inbound call once (the calls are
    answered through `receiver.client`, which may be bound after the receiver is serving).
    Deliveries are verified with `secret`, or `$D360_WEBHOOK_SECRET` when it is `None`."""
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        if not call.inbound:
            return  # the SDP answer to one of our own outbound calls
        answer_sdp = stand_in_answer(call.event.session)
        await call.pre_accept(answer_sdp)
        await call.accept(answer_sdp, biz_opaque_callback_data=f"bot:{call.call_id}")
        log.info("answered %s from %s", call.call_id, call.event.from_)

    @router.on_terminate
    async def ended(event: CallTerminate) -> None:
        log.info("call %s ended after %s s", event.call_id, event.duration)

    return Receiver(router, client=client, secret=secret)


async def serve(receiver: Receiver, port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the receiver on loopback; returns the runner and the webhook URL."""
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}{receiver.path}"


async def demo_with_sandbox(calls: int) -> int:
    """Ring `calls` calls at the bot through the sandbox; return how many were accepted."""
    from d360_calling.sandbox import Sandbox

    receiver = build_receiver(None, secret=SANDBOX_SECRET)
    runner, url = await serve(receiver)
    try:
        async with (
            Sandbox(
                api_key="sandbox-key", webhook_url=url, webhook_secret=SANDBOX_SECRET
            ) as sandbox,
            Client("sandbox-key", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            call_ids = [await sandbox.ring(f"1415555{n:04d}") for n in range(calls)]
            for _ in range(100):
                if all(sandbox.calls[c].state.value == "accepted" for c in call_ids):
                    break
                await asyncio.sleep(0.05)
            accepted = sum(sandbox.calls[c].state.value == "accepted" for c in call_ids)
            for call_id in call_ids:
                await sandbox.user_hangs_up(call_id)
            return accepted
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _serve.add_arguments(parser)
    parser.add_argument("--calls", type=int, default=3, help="calls the --sandbox demo rings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.sandbox:
        accepted = asyncio.run(demo_with_sandbox(args.calls))
        print(f"{accepted} of {args.calls} calls accepted")
        return
    where = _serve.target(parser, args)
    _serve.run(_serve.serve(build_receiver(None, secret=where.secret), where))


if __name__ == "__main__":
    main()
