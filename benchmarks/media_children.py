"""The media benchmark's two processes per level, driven by `benchmarks.media_levels`:

    python -m benchmarks.media_children --role bot|user [--cpus 0]

`bot`: a `Receiver` and a `Client`, one `CallAudio` per call from `answer_with_audio`, playing
660 Hz and reading every frame; it measures its own CPU (every thread) and RSS, and says whether
aiortc carries the keypress hook. With `--no-keys-hook` it replaces
`d360_calling._dtmf_rtp.install` by a no-op before any call (the hook is installed when the
first `CallAudio` is made), so aiortc stays unpatched and its answers carry no telephone-event.
`user`: the sandbox and its `UserPeer`s, each saying 440 Hz, counting what they hear. Each
prints one JSON line when ready, then answers each JSON command line on stdin with one JSON
line, until `end`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

from benchmarks import harness
from benchmarks.media_common import (
    BOT_HZ,
    CHILD_LIFETIME,
    CONNECT_TIMEOUT,
    SECRET,
    USER_HZ,
    DatagramGuard,
    HeardCounter,
    LagMonitor,
    cpu_seconds,
    heard_bytes,
    hook_heard,
    rss_mib,
    serve,
    wa_id,
)
from d360_calling import Client
from d360_calling.media import CallAudio, MediaError, tone
from d360_calling.sandbox import Sandbox
from d360_calling.sandbox.peer import UserPeer
from d360_calling.webhooks import IncomingCall, Receiver, Router

Command = dict[str, Any]
Handler = Callable[[Command], Awaitable[dict[str, Any]]]


class Channel:
    """JSON lines on stdin/stdout: how the runner drives a bot or user process."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    @classmethod
    async def open(cls) -> Channel:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        return cls(reader)

    async def commands(self) -> AsyncIterator[dict[str, Any]]:
        while line := await self.reader.readline():
            yield json.loads(line)

    @staticmethod
    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


class BotCall:
    """One call on the bot's side: its audio, the tone it plays and the frames it counts."""

    def __init__(self, audio: CallAudio) -> None:
        self.audio = audio
        self.frames = 0
        self.playing = asyncio.create_task(self._play())
        self.reading = asyncio.create_task(self._read())

    async def _play(self) -> None:
        with contextlib.suppress(MediaError):
            await self.audio.play(tone(BOT_HZ))

    async def _read(self) -> None:
        async for _ in self.audio.frames():
            self.frames += 1

    @property
    def open(self) -> bool:
        return not self.reading.done()

    @property
    def keys_negotiated(self) -> bool:
        """Whether the call's answer kept telephone-event (False where that cannot be read)."""
        keypad = getattr(self.audio, "_keypad", None)
        return bool(getattr(keypad, "negotiated", False))


def keys_hooked() -> bool:
    """Whether aiortc's receiver carries the keypress hook in this process."""
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    return bool(getattr(RTCRtpReceiver._handle_rtp_packet, "_d360_dtmf", False))


def skip_keys_hook() -> None:
    """`--no-keys-hook`: aiortc is never patched in this process (the benchmark's baseline)."""
    from d360_calling import _dtmf_rtp

    _dtmf_rtp.install = lambda: False


class BotSide:
    """The SDK as a bot: answers every connect with audio, plays 660 Hz, counts what it hears."""

    def __init__(self) -> None:
        self.router = Router()
        self.receiver = Receiver(self.router, secret=SECRET)
        self.calls: dict[str, BotCall] = {}
        self.failures: list[str] = []
        self.router.on_connect(self.on_connect)

    async def on_connect(self, call: IncomingCall) -> None:
        try:
            audio = await call.answer_with_audio(loopback=True, connect_timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            self.failures.append(f"{call.call_id}: {type(exc).__name__}: {exc}")
            return
        self.calls[call.call_id] = BotCall(audio)

    def status(self) -> dict[str, Any]:
        live = [c for c in self.calls.values() if c.open]
        return {
            "open": len(live),
            "connected": sum(c.audio.connected for c in live),
            "hearing": sum(c.frames > 0 for c in live),
            "failures": self.failures[-5:],
            "failed": len(self.failures) + sum(c.audio.failure is not None for c in live),
        }

    async def close(self) -> int:
        await self.receiver.aclose()
        await self.router.aclose()
        left = 0
        for call in self.calls.values():
            left += call.open
            await call.audio.close()
            await asyncio.gather(call.playing, call.reading, return_exceptions=True)
        return left


@contextlib.asynccontextmanager
async def watched() -> AsyncIterator[tuple[DatagramGuard, LagMonitor]]:
    """What both processes run under: the loopback guard, and the loop-lag probe while inside."""
    guard = DatagramGuard()
    guard.install()
    lag = LagMonitor()
    monitor = asyncio.create_task(lag.run(CHILD_LIFETIME))
    try:
        yield guard, lag
    finally:
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)


async def obey(hello: dict[str, Any], handlers: Mapping[str, Handler]) -> None:
    """Say `hello`, then answer every command with its handler until `end` (or the end of input,
    or `CHILD_LIFETIME`)."""
    channel = await Channel.open()
    async with asyncio.timeout(CHILD_LIFETIME):
        Channel.reply(hello)
        async for command in channel.commands():
            name = command["cmd"]
            if name in handlers:
                Channel.reply(await handlers[name](command))
            if name == "end":
                break


class Bot(Protocol):
    """What `run_bot` drives: a receiver, the status of its calls, closing them (calls left)."""

    receiver: Receiver

    def status(self) -> dict[str, Any]: ...

    async def close(self) -> int: ...


def usage(lag: LagMonitor) -> dict[str, Any]:
    """A mark's common part: time, this process's CPU and RSS, threads, loop lag since the last."""
    return {
        "t": time.perf_counter(),
        "cpu": cpu_seconds(),
        "rss_mib": rss_mib(),
        "threads": threading.active_count(),
        "lag": lag.take(),
    }


async def run_bot(
    bot: Bot,
    mark: Callable[[Command, LagMonitor], dict[str, Any]],
    more: Mapping[str, Handler] | None = None,
) -> None:
    """A bot process's command loop: serve `bot.receiver`, `client` (the sandbox's URL),
    `status`, `mark` (what `mark` says), `end` (close every call), and `more` handlers."""
    async with watched() as (guard, lag):
        runner, url = await serve(bot.receiver)
        client: Client | None = None

        async def start_client(command: Command) -> dict[str, Any]:
            nonlocal client
            client = Client("k", base_url=command["base_url"])
            await client.__aenter__()
            bot.receiver.client = client
            return {"ok": True}

        async def status(_: Command) -> dict[str, Any]:
            return bot.status()

        async def marked(command: Command) -> dict[str, Any]:
            return mark(command, lag)

        async def end(_: Command) -> dict[str, Any]:
            left = await bot.close()
            return {"left_open": left, "datagrams": guard.sent, "elsewhere": guard.elsewhere}

        handlers = {"client": start_client, "status": status, "mark": marked, "end": end}
        try:
            await obey({"url": url}, {**handlers, **(more or {})})
        finally:
            await bot.close()
            if client is not None:
                await client.__aexit__(None, None, None)
            await runner.cleanup()


async def bot_process() -> None:
    """`--role bot`: Receiver + Client + CallAudio per call; measures its own CPU and RSS."""
    bot = BotSide()

    def mark(_: Command, lag: LagMonitor) -> dict[str, Any]:
        return {
            **usage(lag),
            "frames": {cid: c.frames for cid, c in bot.calls.items() if c.open},
            "keys_hook": keys_hooked(),
            "keys_negotiated": sum(c.keys_negotiated for c in bot.calls.values() if c.open),
        }

    await run_bot(bot, mark)


async def user_process() -> None:
    """`--role user`: the sandbox and its user peers (saying 440 Hz), counting what they hear."""
    async with watched() as (guard, lag):
        sandbox: Sandbox | None = None
        peers: dict[str, tuple[UserPeer, HeardCounter | None]] = {}
        hung_up: set[str] = set()
        next_index = 0

        def live() -> list[tuple[str, UserPeer, HeardCounter | None]]:
            return [(cid, p, c) for cid, (p, c) in peers.items() if cid not in hung_up]

        async def start(command: Command) -> dict[str, Any]:
            nonlocal sandbox
            sandbox = Sandbox(
                api_key="k", webhook_url=command["webhook_url"], webhook_secret=SECRET
            )
            await sandbox.start()
            return {"base_url": sandbox.base_url}

        async def ring(command: Command) -> dict[str, Any]:
            nonlocal next_index
            assert sandbox is not None
            ids = []
            for _ in range(command["n"]):
                call_id = await sandbox.ring(wa_id(next_index), media=True, tone_hz=USER_HZ)
                next_index += 1
                peer = sandbox.voice(call_id)
                peers[call_id] = (peer, hook_heard(peer))
                ids.append(call_id)
            return {"calls": ids}

        async def status(_: Command) -> dict[str, Any]:
            return {
                "connected": sum(p.connection_state == "connected" for _cid, p, _c in live()),
                "hearing": sum(heard_bytes(p, c) > 0 for _cid, p, c in live()),
            }

        async def mark(_: Command) -> dict[str, Any]:
            heard = {cid: heard_bytes(p, c) for cid, p, c in live()}
            return {
                "t": time.perf_counter(),
                "cpu": cpu_seconds(),
                "heard": heard,
                "lag": lag.take(),
            }

        async def hangup(_: Command) -> dict[str, Any]:
            assert sandbox is not None
            for call_id, _p, _c in live():
                hung_up.add(call_id)
                await sandbox.user_hangs_up(call_id)
            await sandbox.webhooks_idle()
            return {"ok": True}

        async def end(_: Command) -> dict[str, Any]:
            nonlocal sandbox
            if sandbox is not None:
                await sandbox.close()
                sandbox = None
            open_peers = sum(p.connection_state != "closed" for p, _ in peers.values())
            return {"open_peers": open_peers, "datagrams": guard.sent, "elsewhere": guard.elsewhere}

        handlers = {
            "start": start,
            "ring": ring,
            "status": status,
            "mark": mark,
            "hangup": hangup,
            "end": end,
        }
        try:
            await obey({"ready": True}, handlers)
        finally:
            if sandbox is not None:
                await sandbox.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.media_children", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--role", choices=("bot", "user"), required=True)
    parser.add_argument("--cpus", help="pin this process to these CPUs (comma-separated)")
    parser.add_argument(
        "--no-keys-hook", action="store_true", help="bot: leave aiortc without the keypress hook"
    )
    args = parser.parse_args(argv)
    if args.no_keys_hook:
        skip_keys_hook()
    if args.cpus:
        harness.pin(int(c) for c in args.cpus.split(","))
    asyncio.run(bot_process() if args.role == "bot" else user_process())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
