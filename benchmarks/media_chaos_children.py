"""The media-chaos benchmark's two processes, driven by `benchmarks.media_chaos`:

    python -m benchmarks.media_chaos_children --role bot|user [--loss 0.05 --jitter-ms 30 ...]

They are `benchmarks.media_children`'s bot and user with three additions: the user rings through
a sandbox `Network` (one per call, seeded `seed + index` when a seed is given), both sides tell
the pitch each call hears, and both answer `probe` with what is still open (tasks, file
descriptors, UDP sockets, calls), for the leak check after every call closed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import deque
from typing import Any, Final

import attrs

from benchmarks.media_children import BotCall, BotSide, Command, obey, run_bot, watched
from benchmarks.media_common import (
    CONNECT_TIMEOUT,
    FRAMES_PER_SECOND,
    SECRET,
    USER_HZ,
    HeardCounter,
    LagMonitor,
    heard_bytes,
    hook_heard,
    wa_id,
)
from d360_calling.media import CallAudio, dominant_frequency
from d360_calling.sandbox import Network, Sandbox
from d360_calling.sandbox.peer import UserPeer
from d360_calling.webhooks import IncomingCall

PITCH_FRAMES = FRAMES_PER_SECOND // 2
"""The pitch is that of the last half second heard."""
PITCH_RANGE: Final = {"min_hz": 100.0, "max_hz": 2000.0}
"""Where the pitch is looked for: both tones and their neighbours (about 0.1 s of CPU a call,
two thirds of the full 50-4000 Hz scan; it blocks the loop, so it runs after a window's counts
were taken, never within one)."""


def pitch_of(pcm: bytes) -> float | None:
    return dominant_frequency(pcm, **PITCH_RANGE)


class PitchCall(BotCall):
    """A bot call that also keeps the last half second it heard, for its pitch."""

    def __init__(self, audio: CallAudio) -> None:
        self.tail: deque[bytes] = deque(maxlen=PITCH_FRAMES)
        super().__init__(audio)

    async def _read(self) -> None:
        async for frame in self.audio.frames():
            self.frames += 1
            self.tail.append(frame)

    def pitch(self) -> float | None:
        return pitch_of(b"".join(self.tail))


class PitchBot(BotSide):
    """`BotSide` whose calls are `PitchCall`s."""

    async def on_connect(self, call: IncomingCall) -> None:
        try:
            audio = await call.answer_with_audio(loopback=True, connect_timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            self.failures.append(f"{call.call_id}: {type(exc).__name__}: {exc}")
            return
        self.calls[call.call_id] = PitchCall(audio)


KEPT_ALIVE: Final = "RequestHandler.start"
"""aiohttp's task for one HTTP connection its server keeps alive: the HTTP pools', no call's."""


def leftovers(open_calls: int) -> dict[str, Any]:
    """What this process holds now: tasks (but the asking one and those serving kept-alive HTTP
    connections), fds (but TCP sockets), UDP sockets, open calls; TCP sockets (HTTP connections
    the pools keep alive) apart, and under "what" the tasks' coroutines, to name a leak."""
    names = sorted(
        task.get_coro().__qualname__  # type: ignore[union-attr]
        for task in asyncio.all_tasks() - {asyncio.current_task()}
    )
    sockets = _sockets()
    tcp, udp = _inodes("tcp") & sockets, _inodes("udp") & sockets
    return {
        "tasks": sum(name != KEPT_ALIVE for name in names),
        "fds": len(os.listdir("/proc/self/fd")) - len(tcp),
        "udp": len(udp),
        "calls": open_calls,
        "tcp": len(tcp),
        "what": names,
    }


def _sockets() -> set[str]:
    """Inodes of this process's sockets (Linux /proc)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    return ours


def _inodes(protocol: str) -> set[str]:
    """Inodes of the machine's `protocol` ("tcp", "udp") sockets, IPv4 and IPv6."""
    found = set()
    for table in (f"/proc/net/{protocol}", f"/proc/net/{protocol}6"):
        with open(table) as lines:
            found |= {line.split()[9] for line in list(lines)[1:]}
    return found


async def bot_process() -> None:
    """`--role bot`: the SDK answering every call with audio, 660 Hz out, pitch of what it hears."""
    bot = PitchBot()

    def mark(command: Command, _: LagMonitor) -> dict[str, Any]:
        live = {cid: c for cid, c in bot.calls.items() if c.open}
        marked = {
            "t": time.perf_counter(),
            "frames": {cid: c.frames for cid, c in live.items()},
            "connected": {cid: c.audio.connected for cid, c in live.items()},
            "failed": bot.status()["failed"],
        }
        if command.get("pitch"):
            pitches = {cid: c.pitch() for cid, c in live.items() if isinstance(c, PitchCall)}
            marked["pitch"] = pitches
        return marked

    async def probe(_: Command) -> dict[str, Any]:
        return leftovers(bot.status()["open"])

    await run_bot(bot, mark, {"probe": probe})


class Users:
    """The sandbox's users, each ringing through its own `Network`."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.sandbox: Sandbox | None = None
        self.peers: dict[str, tuple[UserPeer, HeardCounter | None]] = {}
        self.hung_up: set[str] = set()

    def live(self) -> dict[str, tuple[UserPeer, HeardCounter | None]]:
        return {cid: pc for cid, pc in self.peers.items() if cid not in self.hung_up}

    def network_of(self, index: int) -> Network:
        seed = self.network.seed
        return self.network if seed is None else attrs.evolve(self.network, seed=seed + index)

    async def ring(self, n: int) -> list[str]:
        assert self.sandbox is not None
        ids = []
        for _ in range(n):
            index = len(self.peers)
            call_id = await self.sandbox.ring(
                wa_id(index), media=True, tone_hz=USER_HZ, network=self.network_of(index)
            )
            peer = self.sandbox.voice(call_id)
            self.peers[call_id] = (peer, hook_heard(peer))
            ids.append(call_id)
        return ids

    def mark(self, *, pitch: bool) -> dict[str, Any]:
        """Frames heard and states now; with `pitch`, then each call's pitch."""
        live = self.live()
        totals = {"media": 0, "dropped": 0, "delayed": 0}
        for peer, _counter in self.peers.values():
            stats = peer.network_stats
            for way in (stats.sent, stats.received):
                totals["media"] += way.media
                totals["dropped"] += way.dropped
                totals["delayed"] += way.delayed
        marked: dict[str, Any] = {
            "t": time.perf_counter(),
            "heard": {cid: heard_bytes(p, c) for cid, (p, c) in live.items()},
            "connected": {cid: p.connection_state == "connected" for cid, (p, _c) in live.items()},
            "datagrams": totals,
        }
        if pitch:
            marked["pitch"] = {cid: pitch_of(p.heard_pcm(0.5)) for cid, (p, _c) in live.items()}
        return marked

    async def hang_up(self) -> None:
        assert self.sandbox is not None
        for call_id in self.live():
            self.hung_up.add(call_id)
            await self.sandbox.user_hangs_up(call_id)
        await self.sandbox.webhooks_idle()

    def open_peers(self) -> int:
        return sum(p.connection_state != "closed" for p, _c in self.peers.values())


async def user_process(network: Network) -> None:
    """`--role user`: the sandbox and its users (440 Hz) through `network`, pitch of what they
    hear."""
    async with watched() as (guard, _lag):
        users = Users(network)

        async def start(command: Command) -> dict[str, Any]:
            users.sandbox = Sandbox(
                api_key="k", webhook_url=command["webhook_url"], webhook_secret=SECRET
            )
            await users.sandbox.start()
            return {"base_url": users.sandbox.base_url}

        async def ring(command: Command) -> dict[str, Any]:
            return {"calls": await users.ring(command["n"])}

        async def status(_: Command) -> dict[str, Any]:
            live = users.live().values()
            return {
                "connected": sum(p.connection_state == "connected" for p, _c in live),
                "hearing": sum(heard_bytes(p, c) > 0 for p, c in live),
            }

        async def mark(command: Command) -> dict[str, Any]:
            return users.mark(pitch=bool(command.get("pitch")))

        async def hangup(_: Command) -> dict[str, Any]:
            await users.hang_up()
            return {"ok": True}

        async def probe(_: Command) -> dict[str, Any]:
            return leftovers(users.open_peers())

        async def end(_: Command) -> dict[str, Any]:
            if users.sandbox is not None:
                await users.sandbox.close()
                users.sandbox = None
            return {
                "open_peers": users.open_peers(),
                "datagrams": guard.sent,
                "elsewhere": guard.elsewhere,
            }

        handlers = {
            "start": start,
            "ring": ring,
            "status": status,
            "mark": mark,
            "hangup": hangup,
            "probe": probe,
            "end": end,
        }
        try:
            await obey({"ready": True}, handlers)
        finally:
            if users.sandbox is not None:
                await users.sandbox.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.media_chaos_children", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--role", choices=("bot", "user"), required=True)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    if args.role == "bot":
        asyncio.run(bot_process())
    else:
        network = Network(
            loss=args.loss, jitter_ms=args.jitter_ms, reorder=args.reorder, seed=args.seed
        )
        asyncio.run(user_process(network))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
