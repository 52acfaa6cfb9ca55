"""µs per request in each layer of the SDK, aiohttp stubbed out: `python -m benchmarks.layers`.

Each layer is timed on its own inside a running loop (best of `repeat`, `time.perf_counter`),
on the `Request` the endpoint really builds and the canned answer the load server sends:

- **build + validate the request**: the endpoint's own work (input checks, the JSON body, the
  `Request`), derived as the endpoint with `Session.dispatch` stubbed minus the stub, the
  decoding and the structuring;
- **Session.dispatch**: the deadline, per-call options and entry into the composed chain, with
  no middleware in it;
- **each middleware** of the default chain: `await middleware(request, next)` minus
  `await next(request)`, where `next` returns the canned `Response` at once;
- **the send**: the terminal handler's own work (headers, the attempt's timeout, the sent mark,
  the `Response`), aiohttp replaced by `benchmarks.stub.StubHttp`; the body's encoding and the
  reading are shown on their own lines and the stub's own cost is left out;
- **reading**: the body under the size cap (`Session._read` on the stub's answer, minus the
  stub's `read()`);
- **decoding** (`jsonutil.loads`) and **structuring** (the converter's structure function for
  the model, as the endpoint calls it).

The last lines set the sum of the layers against the whole call measured end to end with the
stub (which includes the stub's own cost and the frames between layers).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import attrs

from benchmarks import payloads
from benchmarks.harness import DASH, best_of, best_of_sync, table
from benchmarks.scenarios import ACCEPT, PERMISSIONS, json_backend
from benchmarks.stub import StubHttp
from d360_calling import Client, SessionDescription, jsonutil
from d360_calling.models.calls import CallActionResult
from d360_calling.models.converter import converter
from d360_calling.models.permissions import CallPermissions
from d360_calling.session import Request, Response, Session

BUILD: Final = "build + validate the request"
SEND_ENTRY: Final = "Session.dispatch (deadline, options, chain entry)"
ENCODE: Final = "send: encode the body"
TERMINAL: Final = "send: terminal handler (headers, timeout, Response)"
READ: Final = "read the body (size cap)"
DECODE: Final = "decode the answer (jsonutil.loads)"
STRUCTURE: Final = "structure the answer (cattrs)"
SUM: Final = "sum of the layers"
WHOLE: Final = "whole call, aiohttp stubbed (measured)"
STUB: Final = "of which the aiohttp stub itself"


@attrs.frozen
class Layer:
    """µs per request of one layer, for one operation and JSON backend."""

    layer: str
    operation: str
    backend: str
    us: float


Timed = Callable[[], Awaitable[object]]


def _bare(session: Session, terminal: Callable[[Request], Awaitable[Response]]) -> Session:
    """A copy of `session` with no middleware at all and `terminal` as its send."""
    copy = session.derive()
    copy._sdk = ()
    copy._inner = ()
    copy._send = terminal  # type: ignore[method-assign]
    copy._set_chain((), ())
    return copy


Primaries = dict[str, float]
"""Raw timings of one operation and backend, µs, before the layers are derived from them."""


async def measure_operation(operation: str, backend: str, number: int, repeat: int) -> Primaries:
    """Every timing of one operation on one backend (see `derive`)."""
    http = StubHttp()
    client = Client(payloads.API_KEY, base_url="http://stub.invalid", session=http)  # type: ignore[arg-type]
    session = client._session
    answer = SessionDescription.answer(payloads.SDP)
    model: type = CallActionResult if operation == ACCEPT else CallPermissions
    method = "POST" if operation == ACCEPT else "GET"
    raw_answer = http.request(method, "")
    body = await raw_answer.read()
    canned = Response(200, raw_answer.headers, body, 1)

    def endpoint(on: Client) -> Timed:
        if operation == ACCEPT:
            return lambda: on.calls.accept(payloads.CALL_ID, answer)
        return lambda: on.permissions.get(payloads.WA_ID)

    captured: list[Request] = []

    async def capture(request: Request) -> Response:
        captured.append(request)
        return canned

    async def canned_send(request: Request) -> Response:
        return canned

    async def nothing() -> None:
        return None

    out: Primaries = {}
    with json_backend(backend):
        # The request exactly as the endpoint builds it.
        spy = client.with_options()
        spy._session.dispatch = capture  # type: ignore[method-assign]
        await endpoint(spy)()
        request = captured[0]
        payload = jsonutil.loads(body)

        loop_cost = await best_of(nothing, number, repeat)

        async def timed(work: Timed) -> float:
            return max(0.0, await best_of(work, number, repeat) - loop_cost)

        stubbed = client.with_options()
        stubbed._session.dispatch = canned_send  # type: ignore[method-assign]
        out["endpoint"] = await timed(endpoint(stubbed))
        out["canned"] = await timed(lambda: canned_send(request))
        out["decode"] = best_of_sync(lambda: jsonutil.loads(body), number, repeat)
        hook = converter.get_structure_hook(model)  # what the endpoint calls, looked up once
        out["structure"] = best_of_sync(lambda: hook(payload, model), number, repeat)
        bare = _bare(session, canned_send)
        out["dispatch"] = await timed(lambda: bare.dispatch(request))
        for middleware in (*session._sdk, *session._inner):
            bound = middleware.bind(canned_send)  # type: ignore[attr-defined]
            out[f"{type(middleware).__name__} (default policy)"] = await timed(
                lambda b=bound: b(request)
            )
        out["stub"] = await timed(lambda: _stub_round_trip(http, method))
        out["encode"] = (
            best_of_sync(lambda: jsonutil.dumps(request.json), number, repeat)
            if request.json is not None
            else 0.0
        )
        read_raw = http.request(method, "")
        out["raw_read"] = await timed(read_raw.read)
        out["read"] = await timed(lambda: session._read(read_raw, request))  # type: ignore[arg-type]
        out["terminal"] = await timed(lambda: session._send(request))
        out["whole"] = await timed(endpoint(client))
    await client.aclose()
    return out


def derive(operation: str, backend: str, p: Primaries) -> list[Layer]:
    """The layers from the timings: each middleware less the `next` it calls, the send less
    the stub, the encoding and the reading, and so on."""

    def layer(name: str, us: float) -> Layer:
        return Layer(name, operation, backend, max(0.0, us))

    read = p["read"] - p["raw_read"]
    layers = [
        layer(BUILD, p["endpoint"] - p["canned"] - p["decode"] - p["structure"]),
        layer(SEND_ENTRY, p["dispatch"] - p["canned"]),
    ]
    layers += [layer(name, p[name] - p["canned"]) for name in p if name.endswith("policy)")]
    layers += [
        layer(ENCODE, p["encode"]),
        layer(TERMINAL, p["terminal"] - p["stub"] - p["encode"] - max(0.0, read)),
        layer(READ, read),
        layer(DECODE, p["decode"]),
        layer(STRUCTURE, p["structure"]),
    ]
    total = sum(item.us for item in layers)
    return [*layers, layer(SUM, total), layer(WHOLE, p["whole"]), layer(STUB, p["stub"])]


async def _stub_round_trip(http: StubHttp, method: str) -> None:
    async with http.request(method, "") as raw:
        await raw.read()


def backends() -> tuple[str, ...]:
    """The JSON backends installed: stdlib json always, orjson with the `speedups` extra."""
    return tuple(jsonutil.BACKENDS)


def run_layers(*, number: int = 10_000, repeat: int = 3, rounds: int = 3) -> list[Layer]:
    """Every layer of `calls.accept` and `permissions.get` on every installed backend: each
    timing is the best of `repeat` runs of `number` calls, and the best again over `rounds`
    rounds that take the operations and backends in turn (so a burst of other load on the
    machine spoils one round of a timing, not the table)."""
    cases = [(op, backend) for op in (ACCEPT, PERMISSIONS) for backend in backends()]

    async def run() -> list[Layer]:
        best: dict[tuple[str, str], Primaries] = {}
        for _ in range(rounds):
            for case in cases:
                timings = await measure_operation(*case, number, repeat)
                kept = best.setdefault(case, timings)
                for name, value in timings.items():
                    kept[name] = min(kept[name], value)
        return [layer for case in cases for layer in derive(*case, best[case])]

    gc.collect()
    return asyncio.run(run())


def layers_table(
    layers: Sequence[Layer], raw_cpu_us: dict[str, float] | None = None, concurrency: int = 64
) -> str:
    """One line per layer, one column per operation and backend (µs per request); with
    `raw_cpu_us` (per operation), a last line with raw aiohttp's whole request for scale."""
    columns = list(dict.fromkeys((layer.operation, layer.backend) for layer in layers))
    names = list(dict.fromkeys(layer.layer for layer in layers))
    value = {(layer.layer, layer.operation, layer.backend): layer.us for layer in layers}
    header = ["layer", *(f"{op} ({backend})" for op, backend in columns)]
    lines = []
    for name in names:
        cells = [value.get((name, op, backend)) for op, backend in columns]
        text = [DASH if cell is None else f"{cell:.2f}" for cell in cells]
        if name in (SUM, WHOLE):
            lines.append([f"**{name}**", *(f"**{t}**" for t in text)])
        else:
            lines.append([name, *text])
    if raw_cpu_us:
        lines.append(
            [
                f"raw aiohttp, its whole request (client CPU at c={concurrency}, the load run)",
                *(f"{raw_cpu_us[op]:.0f}" if op in raw_cpu_us else DASH for op, _ in columns),
            ]
        )
    return table(header, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layers", description=__doc__)
    parser.add_argument("--number", "-n", type=int, default=10_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per round (3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    args = parser.parse_args(argv)
    layers = run_layers(number=args.number, repeat=args.repeat, rounds=args.rounds)
    print(layers_table(layers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
