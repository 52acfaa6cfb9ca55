"""The ring storm's sender, in its own process: N signed `connect` webhooks posted at once.

    python -m benchmarks.storm_sender --url URL --secret S --prefix wacid.storm-1-sdk --calls N

Every delivery is built and signed before the first is sent (one documented envelope per call,
ids `PREFIX-n`, a timestamp of now, the sandbox's SDP offer), then all N are posted
concurrently, each on its own connection (`TCPConnector(limit=0, force_close=True)`, as the
platform delivers), with an `x-storm-call` header naming the call for the bot's stamps. Prints
one JSON line: statuses, errors, how long building and the answers took, and per call when its
request headers were written to the socket (`sent`, `CLOCK_MONOTONIC`, as the other processes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from typing import Any, Final

import aiohttp

from benchmarks.harness import raise_fd_limit
from d360_calling.sandbox.sdp import OFFER_SDP
from d360_calling.webhooks import sign

STORM_HEADER: Final = "x-storm-call"
WABA_ID: Final = "200000000000001"
PHONE_NUMBER_ID: Final = "100000000000001"
BUSINESS_NUMBER: Final = "15550001234"
USER_NUMBER: Final = "14155550123"
POST_TIMEOUT: Final = 60.0
"""Per delivery; the whole storm is bounded by it too (every post runs at once)."""


def connect_body(call_id: str, timestamp: int) -> bytes:
    """A `connect` webhook as the API reference documents it (one call per delivery)."""
    call = {
        "id": call_id,
        "from": USER_NUMBER,
        "to": BUSINESS_NUMBER,
        "event": "connect",
        "timestamp": str(timestamp),
        "direction": "USER_INITIATED",
        "session": {"sdp_type": "offer", "sdp": OFFER_SDP},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Storm User"}, "wa_id": USER_NUMBER}],
        "calls": [call],
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "calls", "value": value}]}],
    }
    return json.dumps(envelope).encode()


def deliveries(prefix: str, calls: int, secret: str) -> list[tuple[bytes, dict[str, str]]]:
    stamp = int(time.time())
    built = []
    for number in range(calls):
        call_id = f"{prefix}-{number}"
        body = connect_body(call_id, stamp)
        headers = {"Content-Type": "application/json", STORM_HEADER: call_id, **sign(body, secret)}
        built.append((body, headers))
    return built


async def storm(url: str, built: list[tuple[bytes, dict[str, str]]]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    sent: dict[str, float] = {}

    async def headers_sent(
        _: aiohttp.ClientSession, __: Any, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        call_id = params.headers.get(STORM_HEADER)
        if call_id is not None:
            sent[call_id] = time.clock_gettime(time.CLOCK_MONOTONIC)

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    session = aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[trace])
    async with session as http:

        async def post(body: bytes, headers: dict[str, str]) -> None:
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                errors[f"{type(error).__name__}: {error}"[:200]] += 1

        started = time.perf_counter()
        async with asyncio.timeout(POST_TIMEOUT + 10):
            await asyncio.gather(*(post(body, headers) for body, headers in built))
        answered = time.perf_counter() - started
    return {
        "statuses": dict(statuses),
        "errors": dict(errors),
        "answered_s": answered,
        "sent": sent,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the bot's webhook URL")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--prefix", required=True, help="call ids are PREFIX-0 ... PREFIX-(N-1)")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)
    raise_fd_limit()
    started = time.perf_counter()
    built = deliveries(args.prefix, args.calls, args.secret)
    result = {"calls": args.calls, "build_s": time.perf_counter() - started}
    cpu = time.process_time()
    result |= asyncio.run(storm(args.url, built))
    result["cpu_s"] = time.process_time() - cpu
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
