"""Peak RSS per in-flight call: N `calls.accept` in one TaskGroup against a delayed server.

Run once per size in a fresh process (the runner does this), so one size's heap does not
become the next one's baseline:

    python -m benchmarks.memory --url http://127.0.0.1:PORT --calls 10000 --client sdk

RSS is read from `/proc/self/status`: `VmRSS` after the client is made and one request has
warmed it up is the baseline, then `VmHWM` (the kernel's high-water mark, reset beforehand
through `/proc/self/clear_refs` where the kernel allows) after all calls have returned.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import payloads
from benchmarks.harness import raise_fd_limit
from d360_calling import Client, SessionDescription
from d360_calling.middleware import RateLimitPolicy
from d360_calling.session import Timeout

CLIENTS = ("sdk", "sdk-default", "raw")
"""`sdk`: every call on its own connection; `sdk-default`: the default client (100 connections,
the rest queued in the SDK); `raw`: aiohttp with no pool limit, the floor for `sdk`."""
PATIENT = Timeout(total=300.0, attempt=240.0, connect=240.0)
"""The memory test measures memory: a connect storm on two cores must not turn into retries."""

STATUS = Path("/proc/self/status")


def read_status_kib(field: str) -> int:
    """A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`)."""
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset `VmHWM` to the current RSS (Linux >= 4.0); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _sdk_calls(
    base_url: str, *, unlimited: bool
) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Any]]:
    if unlimited:  # no in-flight cap and no pool limit: all N calls on the wire at once
        client = Client(
            payloads.API_KEY,
            base_url=base_url,
            timeout=PATIENT,
            rate_limit=RateLimitPolicy(max_in_flight=None),
            connection_limit=None,
        )
    else:
        client = Client(payloads.API_KEY, base_url=base_url, timeout=PATIENT)
    answer = SessionDescription.answer(payloads.SDP)

    async def accept() -> Any:
        return await client.calls.accept(payloads.CALL_ID, answer)

    return accept, client.aclose


async def _raw_calls(base_url: str) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Any]]:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    url = base_url + "/calling/calls"
    headers = {"D360-API-KEY": payloads.API_KEY, "Content-Type": "application/json"}

    async def accept() -> Any:
        data = json.dumps(payloads.ACCEPT_BODY, separators=(",", ":")).encode()
        async with http.post(url, data=data, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
        return json.loads(body)

    return accept, http.close


async def measure(base_url: str, calls: int, client: str, hold: float | None) -> dict[str, Any]:
    """Peak RSS over N concurrent accepts; with `hold`, stop (cancel the rest) after that long."""
    if client == "raw":
        accept, close = await _raw_calls(base_url)
    else:
        accept, close = await _sdk_calls(base_url, unlimited=client == "sdk")

    async def guarded() -> str | None:
        try:
            await accept()
        except Exception as exc:
            return type(exc).__name__
        return None

    try:
        await accept()  # warm up: imports, first connection, hooks
        gc.collect()
        peak_reset = reset_peak()
        baseline = read_status_kib("VmRSS")
        started = time.perf_counter()
        tasks: list[asyncio.Task[str | None]] = []
        try:
            async with asyncio.timeout(hold), asyncio.TaskGroup() as group:
                tasks += (group.create_task(guarded()) for _ in range(calls))
        except TimeoutError:
            pass  # held long enough: the peak is behind us, the rest were cancelled
        elapsed = time.perf_counter() - started
        peak = read_status_kib("VmHWM")
        finished = [task for task in tasks if not task.cancelled()]
        failures = [error for task in finished if (error := task.result()) is not None]
    finally:
        await close()
    return {
        "client": client,
        "calls": calls,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "per_call_kib": (peak - baseline) / calls,
        "elapsed_s": elapsed,
        "completed": len(finished) - len(failures),
        "failed": len(failures),
        "first_failure": failures[0] if failures else None,
        "peak_reset": peak_reset,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--client", choices=CLIENTS, default="sdk")
    parser.add_argument("--hold", type=float, help="stop after this many seconds")
    args = parser.parse_args(argv)
    if not args.url.startswith("http://127.0.0.1:"):
        parser.error("benchmarks only talk to 127.0.0.1")
    raise_fd_limit()
    print(
        json.dumps(asyncio.run(measure(args.url, args.calls, args.client, args.hold))), flush=True
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
