"""The media benchmark's keypress scenarios (issue 23): latency from keypress to digit, and the
bot's CPU per call with and without the RFC 4733 hook.

1. **Keypress latency**, in this process: the sandbox rings with a real user peer
   (`media=True`, a Meta-shaped offer with telephone-event on 126), the bot answers with
   `answer_with_audio(loopback=True)`, plays a tone and reads every frame, and one subscription
   to `audio.dtmf` per call stamps each key as it arrives. Each key is one
   `sandbox.press(call_id, key)`: the clock starts just before the call and stops when the key
   comes out of the bot's `audio.dtmf`. The press's first event packet leaves at the user's next
   20 ms Opus slot, so 0-20 ms of every figure is that wait; the benchmark also stamps the moment
   that first packet is written (a wrapper around `_dtmf_rtp.Outbound.rewrite`, this process
   only), splitting the figure into "waiting for the slot" and "on the wire to the key".
2. **CPU per call with and without the hook**: the concurrency scenario's bot and user processes
   (`benchmarks.media_levels.run_level`), once with the hook as shipped and once with the bot
   started with `--no-keys-hook` (`benchmarks.media_children` replaces
   `d360_calling._dtmf_rtp.install` by a no-op before any call, so aiortc is never patched and
   the bot's answers carry no telephone-event), interleaved round by round. Each bot reports
   whether aiortc's receiver carries the hook and on how many calls telephone-event was
   negotiated, so a row that measured the wrong thing says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Final

from benchmarks import harness
from benchmarks.harness import num, table
from benchmarks.media_common import (
    BOT_HZ,
    FRAMES_PER_SECOND,
    SECRET,
    USER_HZ,
    DatagramGuard,
    serve,
    spread_ms,
    spread_table,
    wa_id,
)
from benchmarks.media_levels import run_level
from d360_calling import Client
from d360_calling.media import CallAudio, DtmfKey, tone
from d360_calling.sandbox import Sandbox
from d360_calling.webhooks import IncomingCall, Receiver, Router

KEYS: Final = "0123456789*#"
"""Pressed in this order, round and round."""
KEY_BOUND: Final = 5.0
"""Seconds a pressed key gets to reach the bot before it counts as lost."""
CALL_BOUND: Final = 30.0
"""Seconds a call gets to connect and carry audio both ways."""
NO_HOOK: Final = ("--no-keys-hook",)
"""The bot's arguments for the run without the hook."""
PAUSE: Final = (0.05, 0.09)
"""Seconds (uniform, seeded) between one press returning and the next: a press returns at a
20 ms slot, so pressing again at once would always wait almost a whole slot; a pause spread over
two slots puts the presses anywhere in the slot, as a person's are."""
AFTER: Final = 1.0
"""Seconds the bot's frames are counted for once a call's keys are in."""


class KeyCall:
    """The bot's side of one keypress call: its audio, the keys it got, the frames it heard."""

    def __init__(self, call_id: str, audio: CallAudio) -> None:
        self.call_id = call_id
        self.audio = audio
        self.keys: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self.frames = 0
        self.first_frame = asyncio.Event()
        # Subscribe now, before the user can press anything: each loop gets keys from then on.
        subscription = aiter(audio.dtmf)
        self.listening = asyncio.create_task(self._listen(subscription))
        self.reading = asyncio.create_task(self._read())
        self.playing = asyncio.create_task(audio.play(tone(BOT_HZ)))

    async def _listen(self, subscription: AsyncIterator[DtmfKey]) -> None:
        async for key in subscription:
            self.keys.put_nowait((key.digit, time.perf_counter()))

    async def _read(self) -> None:
        async for _ in self.audio.frames():
            self.frames += 1
            self.first_frame.set()

    async def close(self) -> None:
        self.audio.interrupt()
        await self.audio.close()
        for task in (self.listening, self.reading, self.playing):
            task.cancel()
        await asyncio.gather(self.listening, self.reading, self.playing, return_exceptions=True)


@contextlib.contextmanager
def first_packet_stamps() -> Iterator[list[float] | None]:
    """Stamps (`perf_counter`) of every key's first event packet as the sender writes it: a
    wrapper around `_dtmf_rtp.Outbound.rewrite` in this process, undone on exit. Yields the list
    of stamps, or None when the method is not there (the split is then not shown)."""
    from d360_calling import _dtmf_rtp

    outbound = getattr(_dtmf_rtp, "Outbound", None)
    original: Callable[[Any, bytes], bytes] | None = getattr(outbound, "rewrite", None)
    if outbound is None or original is None:
        yield None
        return
    stamps: list[float] = []

    def rewrite(self: Any, data: bytes) -> bytes:
        out = original(self, data)
        if out is not data and len(out) > 1 and out[1] & 0x80:  # marker: a tone's first packet
            stamps.append(time.perf_counter())
        return out

    outbound.rewrite = rewrite
    try:
        yield stamps
    finally:
        outbound.rewrite = original


async def run_key_latency(
    calls: int, keys: int, tone_ms: int = 500, gap_ms: int = 100
) -> dict[str, Any]:
    """`keys` single-key presses spread over `calls` sequential calls, each timed from just
    before `sandbox.press(call_id, key)` to the key's arrival at the bot's `audio.dtmf`."""
    guard = DatagramGuard()
    guard.install()
    router = Router()
    receiver = Receiver(router, secret=SECRET)
    answered: asyncio.Queue[KeyCall | str] = asyncio.Queue()

    @router.on_connect
    async def on_connect(call: IncomingCall) -> None:
        try:
            audio = await call.answer_with_audio(loopback=True)
        except Exception as exc:
            await answered.put(f"answer_with_audio: {type(exc).__name__}: {exc}")
            return
        await answered.put(KeyCall(call.call_id, audio))

    per_call = [keys // calls + (i < keys % calls) for i in range(calls)]
    samples: list[dict[str, Any]] = []
    hearing: list[tuple[float, float]] = []
    errors: list[str] = []
    runner, url = await serve(receiver)
    try:
        with first_packet_stamps() as stamps:
            async with (
                Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET) as sandbox,
                Client("k", base_url=sandbox.base_url) as client,
            ):
                receiver.client = client
                for index, count in enumerate(per_call):
                    if not count:
                        continue
                    try:
                        got, heard = await _key_call(
                            sandbox, answered, index, count, tone_ms, gap_ms, stamps
                        )
                        samples += got
                        hearing.append(heard)
                    except Exception as exc:  # one bad call is a reported error, not a crash
                        errors.append(f"call {index}: {type(exc).__name__}: {exc}")
                await receiver.aclose()
                await router.aclose()
    finally:
        await runner.cleanup()
        guard.uninstall()
    if guard.elsewhere:
        errors.append(f"datagrams sent off loopback: {guard.elsewhere}")
    arrived = [s for s in samples if s["digit"] is not None]
    wrong = [s for s in arrived if s["digit"] != s["pressed"]]
    lost = len(samples) - len(arrived)
    if lost or wrong or len(samples) != keys:
        errors.append(
            f"keys: {keys} asked, {len(samples)} pressed, {lost} lost, {len(wrong)} wrong "
            f"or out of order"
        )
    split = [s for s in arrived if s["slot_ms"] is not None]
    rows: list[dict[str, Any]] = [
        {"metric": "sandbox.press → key at the bot's audio.dtmf", "key": "latency_ms"},
        {"metric": "of which: press → first event packet written", "key": "slot_ms"},
        {"metric": "of which: first event packet → key at the bot", "key": "wire_ms"},
    ]
    for row in rows:
        values = [s[row["key"]] for s in (arrived if row["key"] == "latency_ms" else split)]
        row.update(n=len(values), **spread_ms(values))
    return {
        "calls": calls,
        "keys": keys,
        "tone_ms": tone_ms,
        "gap_ms": gap_ms,
        "pressed": len(samples),
        "arrived": len(arrived),
        "in_order": not wrong and lost == 0,
        "rows": rows,
        "samples": samples,
        "bot_hears_during_keys_ratio": min(h[0] for h in hearing) / FRAMES_PER_SECOND
        if hearing
        else None,
        "bot_hears_after_keys_ratio": min(h[1] for h in hearing) / FRAMES_PER_SECOND
        if hearing
        else None,
        "split_measured": stamps is not None,
        "errors": errors,
    }


async def _key_call(
    sandbox: Sandbox,
    answered: asyncio.Queue[KeyCall | str],
    index: int,
    count: int,
    tone_ms: int,
    gap_ms: int,
    stamps: list[float] | None,
) -> tuple[list[dict[str, Any]], tuple[float, float]]:
    """One call: connect, then `count` single-key presses; the samples, and the frames per second
    the bot heard while the keys were pressed and in the second after."""
    async with asyncio.timeout(CALL_BOUND):
        call_id = await sandbox.ring(wa_id(index), media=True, tone_hz=USER_HZ)
        seen = await answered.get()
    if isinstance(seen, str):
        raise RuntimeError(seen)
    peer = sandbox.voice(call_id)
    samples: list[dict[str, Any]] = []
    try:
        if seen.call_id != call_id:
            raise RuntimeError(f"connect for {seen.call_id}, expected {call_id}")
        async with asyncio.timeout(CALL_BOUND):
            await seen.audio.wait_connected()
            await peer.wait_connected(CALL_BOUND)
            await seen.first_frame.wait()
        frames0, started = seen.frames, time.perf_counter()
        pauses = random.Random(index)
        for k in range(count):
            pressed = KEYS[(index + k) % len(KEYS)]
            await asyncio.sleep(pauses.uniform(*PAUSE))
            if stamps is not None:
                stamps.clear()
            t0 = time.perf_counter()
            press = asyncio.create_task(
                sandbox.press(call_id, pressed, tone_ms=tone_ms, gap_ms=gap_ms)
            )
            try:
                async with asyncio.timeout(KEY_BOUND):
                    digit, t1 = await seen.keys.get()
            except TimeoutError:
                digit, t1 = None, None
            await press  # returns once the tone and its gap have been sent
            first = stamps[0] if stamps else None
            ms = 1000.0
            samples.append(
                {
                    "pressed": pressed,
                    "digit": digit,
                    "latency_ms": None if t1 is None else (t1 - t0) * ms,
                    "slot_ms": None if first is None or t1 is None else (first - t0) * ms,
                    "wire_ms": None if first is None or t1 is None else (t1 - first) * ms,
                }
            )
        during = (seen.frames - frames0) / (time.perf_counter() - started)
        frames1, started = seen.frames, time.perf_counter()
        await asyncio.sleep(AFTER)
        after = (seen.frames - frames1) / (time.perf_counter() - started)
    finally:
        with contextlib.suppress(Exception):
            await sandbox.user_hangs_up(call_id)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await seen.audio.wait_ended()
        await seen.close()
        await peer.close()
    return samples, (during, after)


async def run_hook_cpu(calls: int, seconds: float, rounds: int, pin: bool) -> dict[str, Any]:
    """The bot's CPU per call, `calls` concurrent calls for `seconds`, with the keypress hook
    and without it (`--no-keys-hook`), the two interleaved over `rounds` rounds."""
    variants = (("with the hook", ()), ("without the hook", NO_HOOK))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    errors: list[str] = []
    for round_index in range(rounds):
        for name, bot_args in harness.rotated(variants, round_index):
            row = await run_level(calls, seconds, pin, bot_args=bot_args)
            row["round"] = round_index
            runs[name].append(row)
            want_hook = not bot_args
            if row["error"] is not None:
                errors.append(f"{name}, round {round_index + 1}: {row['error']}")
            elif row.get("keys_hook") is not want_hook:
                errors.append(f"{name}: the bot's aiortc hook was {row.get('keys_hook')}")
            elif (row.get("keys_negotiated") == calls) is not want_hook:
                errors.append(f"{name}: telephone-event negotiated on {row['keys_negotiated']}")
    summary: list[dict[str, Any]] = []
    for name, _ in variants:
        good = [r for r in runs[name] if r["error"] is None]
        per_call = [r["bot_cpu_pct_per_call"] for r in good]
        summary.append(
            {
                "variant": name,
                "runs": len(good),
                "bot_cpu_pct_per_call": statistics.median(per_call) if per_call else None,
                "bot_cpu_pct_per_call_best": min(per_call) if per_call else None,
                "bot_cpu_pct_per_call_each": per_call,
                "bot_cpu_pct": statistics.median(r["bot_cpu_pct"] for r in good) if good else None,
                "bot_worst_ratio": _median(r["bot_worst_ratio"] for r in good),
                "user_worst_ratio": _median(r["user_worst_ratio"] for r in good),
                "bot_lag_p99_ms": _median(r["bot_lag"]["p99_ms"] or 0.0 for r in good),
                "bot_lag_p99_ms_each": [r["bot_lag"]["p99_ms"] for r in good],
                "keys_negotiated": [r.get("keys_negotiated") for r in runs[name]],
            }
        )
    with_hook, without = (s["bot_cpu_pct_per_call"] for s in summary)
    best_with, best_without = (s["bot_cpu_pct_per_call_best"] for s in summary)
    return {
        "calls": calls,
        "seconds": seconds,
        "rounds": rounds,
        "pinned": all(r["pinned"] for rs in runs.values() for r in rs),
        "rows": summary,
        "ratio": with_hook / without if with_hook and without else None,
        "ratio_best": best_with / best_without if best_with and best_without else None,
        "runs": runs,
        "errors": errors,
    }


def key_latency_table(keys: dict[str, Any]) -> str:
    rows = [r for r in keys["rows"] if r["key"] == "latency_ms" or keys["split_measured"]]
    return spread_table("keypress", "keys", rows)


def hook_cpu_table(cpu: dict[str, Any]) -> str:
    lines = []
    for row in cpu["rows"]:
        each = " / ".join(num(v, ".2f") for v in row["bot_cpu_pct_per_call_each"])
        lines.append(
            [
                row["variant"],
                str(row["runs"]),
                num(row["bot_cpu_pct_per_call"], ".2f"),
                num(row["bot_cpu_pct_per_call_best"], ".2f"),
                each or harness.DASH,
                num(row["bot_cpu_pct"], ".0f"),
                num(_pct(row["bot_worst_ratio"]), ".1f"),
                num(_pct(row["user_worst_ratio"]), ".1f"),
                num(row["bot_lag_p99_ms"], ".1f"),
            ]
        )
    header = [
        f"bot ({cpu['calls']} calls, {cpu['seconds']:g} s window)",
        "runs",
        "bot CPU % per call (median)",
        "best run",
        "per run",
        "bot CPU % (1 core)",
        "worst call, bot hears %",
        "worst call, user hears %",
        "bot loop lag p99 ms",
    ]
    return table(header, lines)


def hook_cpu_line(cpu: dict[str, Any]) -> str:
    ratio, best = cpu["ratio"], cpu["ratio_best"]
    if ratio is None:
        return "CPU with ÷ without the hook: not measured."
    return (
        f"CPU per call with ÷ without the hook: {ratio:.3f}{harness.TIMES} (medians), "
        f"{num(best, '.3f')}{harness.TIMES} (best runs)."
    )


def _median(values: Iterable[float]) -> float | None:
    listed = list(values)
    return statistics.median(listed) if listed else None


def _pct(ratio: float | None) -> float | None:
    return None if ratio is None else ratio * 100


def summary_lines(keys: dict[str, Any] | None, cpu: dict[str, Any] | None) -> list[str]:
    """The keypress section of the report."""
    parts: list[str] = []
    if keys is not None:
        during = _pct(keys["bot_hears_during_keys_ratio"])
        after = _pct(keys["bot_hears_after_keys_ratio"])
        parts += [
            f"Keypresses: {keys['arrived']}/{keys['keys']} keys at the bot, "
            f"{'in order' if keys['in_order'] else 'NOT all in order'}, over {keys['calls']} "
            f"sequential calls (one `sandbox.press(call_id, key)` each, {keys['tone_ms']} ms "
            f"tones, {keys['gap_ms']} ms gaps; Opus both ways). The worst call's bot got "
            f"{num(during, '.1f')} % of 50 frames/s while its keys were pressed (event packets "
            f"take the place of the user's Opus packets while a tone plays) and "
            f"{num(after, '.1f')} % in the {AFTER:g} s after:",
            "",
            key_latency_table(keys),
        ]
    if cpu is not None:
        parts += [
            "",
            "The bot's CPU per call with the keypress hook and without it (`--no-keys-hook`: "
            f"aiortc left unpatched), {cpu['rounds']} interleaved rounds, "
            f"{'bot pinned to one CPU' if cpu['pinned'] else 'bot not pinned'}; calls carrying "
            "audio, no keys; the last three columns are medians over runs:",
            "",
            hook_cpu_table(cpu),
            "",
            hook_cpu_line(cpu),
        ]
    return parts
