"""The clients under test: the same two operations through raw aiohttp, the SDK and pywa_async.

Each scenario owns one client, kept across rounds (so its pool stays warm) and exposes the
operations it can run as coroutine functions; a scenario that cannot run an operation leaves
it out, and one whose operation fails on the first probe is reported, not hidden.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final

import aiohttp

from benchmarks import payloads
from d360_calling import Client, SessionDescription, jsonutil
from d360_calling.models.calls import CallActionResult
from d360_calling.models.permissions import CallPermissions

Operation = Callable[[], Awaitable[object]]
ACCEPT: Final = "calls.accept"
PERMISSIONS: Final = "permissions.get"
OPERATIONS: Final = (ACCEPT, PERMISSIONS)

RAW: Final = "raw aiohttp"
SDK_DEFAULT: Final = "SDK default chain"
SDK_BARE: Final = "SDK middleware off"
SDK_REDIS: Final = "SDK default chain, Redis state"
SDK_REDIS_CLUSTER: Final = "SDK default chain, Redis Cluster state"
SDK_STDLIB: Final = "SDK default chain, stdlib json"
"""The default chain without the `speedups` extra (its JSON backend switched to the standard
library in the same process, as `jsonutil` selects it when orjson is not installed)."""

PYWA: Final = "pywa_async"
PYWA_API: Final = "pywa_async .api"
"""pywa's lower layer, called directly: the workaround for its broken `get_call_permissions`."""


@contextlib.contextmanager
def json_backend(name: str) -> Iterator[None]:
    """The SDK on this JSON backend while the block runs ("json" is what installing it without
    the `speedups` extra selects)."""
    before = jsonutil.dumps, jsonutil.loads
    jsonutil.dumps, jsonutil.loads = jsonutil.BACKENDS[name]
    try:
        yield
    finally:
        jsonutil.dumps, jsonutil.loads = before


class Scenario:
    """A named client and the operations it runs; `start()` inside the loop, then `aclose()`."""

    name: str = ""
    note: str = ""
    json_backend: str = jsonutil.BACKEND
    """The SDK's JSON backend while this scenario runs (the installed default, or "json")."""
    requests_factor: int = 1
    """Multiplies the run's requests (rows that send nothing take longer to measure well)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.operations: dict[str, Operation] = {}

    def backend(self) -> contextlib.AbstractContextManager[None]:
        """The SDK on this scenario's JSON backend while the block runs."""
        return json_backend(self.json_backend)

    async def start(self) -> None:
        """Make the client (inside the running loop)."""

    async def aclose(self) -> None:
        """Close what `start()` opened."""


class RawAiohttp(Scenario):
    """The floor: one `aiohttp.ClientSession`, `json.dumps` out and `json.loads` back."""

    name = RAW

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self._http: aiohttp.ClientSession | None = None
        self._accept_url = base_url + "/calling/calls"
        self._permissions_url = f"{base_url}/calling/permissions/{payloads.WA_ID}"
        self._headers = {"D360-API-KEY": payloads.API_KEY}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        self.operations = {ACCEPT: self.accept, PERMISSIONS: self.permissions}

    async def accept(self) -> Any:
        assert self._http is not None
        data = json.dumps(payloads.ACCEPT_BODY, separators=(",", ":")).encode()
        async with self._http.post(self._accept_url, data=data, headers=self._json_headers) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
        return json.loads(body)

    async def permissions(self) -> Any:
        assert self._http is not None
        async with self._http.get(self._permissions_url, headers=self._headers) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
        return json.loads(body)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()


class Sdk(Scenario):
    """`d360_calling.Client` with the given options (the default chain, or middleware off)."""

    def __init__(
        self, base_url: str, name: str, *, json_backend: str | None = None, **options: Any
    ) -> None:
        super().__init__(base_url)
        self.name = name
        if json_backend is not None:
            self.json_backend = json_backend
        self._options = options
        self._client: Client | None = None
        self._answer = SessionDescription.answer(payloads.SDP)

    async def start(self) -> None:
        self._client = Client(payloads.API_KEY, base_url=self.base_url, **self._options)
        self.operations = {ACCEPT: self.accept, PERMISSIONS: self.permissions}

    async def accept(self) -> CallActionResult:
        assert self._client is not None
        return await self._client.calls.accept(payloads.CALL_ID, self._answer)

    async def permissions(self) -> CallPermissions:
        assert self._client is not None
        return await self._client.permissions.get(payloads.WA_ID)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class SdkRedis(Sdk):
    """The default chain with its gate and retry budget in a `RedisState` (a local redis-server)."""

    def __init__(self, base_url: str, redis_url: str) -> None:
        super().__init__(base_url, SDK_REDIS)
        self._redis_url = redis_url
        self._redis: Any = None
        self._state: Any = None

    def _connect(self) -> Any:
        from redis.asyncio import Redis

        return Redis.from_url(self._redis_url)

    async def start(self) -> None:
        from d360_calling import RedisState

        self._redis = self._connect()
        self._state = RedisState(self._redis, prefix="bench")
        self._options = {"shared_state": self._state}
        await super().start()

    async def aclose(self) -> None:
        await super().aclose()
        if self._state is not None:
            await self._state.aclose()
            await self._redis.aclose()


class SdkRedisCluster(SdkRedis):
    """The same on a three-node Redis Cluster (`redis.asyncio.RedisCluster`)."""

    def __init__(self, base_url: str, node: tuple[str, int]) -> None:
        super().__init__(base_url, "")
        self.name = SDK_REDIS_CLUSTER
        self._node = node

    def _connect(self) -> Any:
        from redis.asyncio import RedisCluster

        host, port = self._node
        return RedisCluster(host=host, port=port)


class Pywa(Scenario):
    """pywa_async's `WhatsApp` client (httpx), its base URL pointed at the canned server.

    pywa has no base-URL argument: `GraphAPI.__init__` sets the httpx client's `base_url` to
    `https://graph.facebook.com/v{api_version}`, so it is replaced after construction.
    With `via_api`, calls go to `wa.api` (pywa's lower layer) and the results are parsed with
    pywa's own types, as its public method would.
    """

    def __init__(self, base_url: str, *, via_api: bool = False) -> None:
        super().__init__(base_url)
        self.name = PYWA_API if via_api else PYWA
        self._via_api = via_api
        self._wa: Any = None
        self._http: Any = None

    async def start(self) -> None:
        import httpx
        from pywa.types.calls import CallPermissions as PywaPermissions
        from pywa.types.calls import SessionDescription as PywaSdp
        from pywa_async.client import WhatsApp

        self._http = httpx.AsyncClient(limits=httpx.Limits(max_connections=100))
        self._wa = WhatsApp(
            phone_id=payloads.PHONE_ID,
            token=payloads.API_KEY,
            session=self._http,
            api_version=payloads.GRAPH_VERSION,
        )
        self._http.base_url = f"{self.base_url}/v{payloads.GRAPH_VERSION}"
        sdp = PywaSdp(sdp_type="answer", sdp=payloads.SDP)
        wa = self._wa

        async def accept() -> object:
            return await wa.accept_call(payloads.CALL_ID, sdp)

        async def permissions() -> object:
            return await wa.get_call_permissions(payloads.WA_ID)

        async def permissions_via_api() -> object:
            raw = await wa.api.get_call_permissions(
                phone_id=payloads.PHONE_ID, user_wa_id=payloads.WA_ID, recipient=None
            )
            return PywaPermissions.from_dict(raw)

        if self._via_api:
            self.note = "permissions via wa.api.get_call_permissions(..., recipient=None)"
            self.operations = {PERMISSIONS: permissions_via_api}
        else:
            self.operations = {ACCEPT: accept, PERMISSIONS: permissions}

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def pywa_available() -> str | None:
    """`None` if pywa_async can be imported, else why not."""
    try:
        import httpx  # noqa: F401
        import pywa_async  # noqa: F401
    except ImportError as exc:
        return f"pywa_async is not importable ({exc}); install the extra: pip install '.[bench]'"
    return None


def make_scenarios(
    base_url: str,
    *,
    with_pywa: bool,
    redis_url: str | None = None,
    cluster_node: tuple[str, int] | None = None,
) -> list[Scenario]:
    """Every scenario of the run, the floor first."""
    default = Sdk(base_url, SDK_DEFAULT)
    default.note = f"JSON backend {jsonutil.BACKEND}" + (
        " (the speedups extra)" if jsonutil.BACKEND != "json" else " (speedups not installed)"
    )
    scenarios: list[Scenario] = [
        RawAiohttp(base_url),
        default,
        Sdk(base_url, SDK_BARE, retry=None, rate_limit=None),
    ]
    if jsonutil.BACKEND != "json":  # the speedups extra is installed: also measure without it
        scenarios.append(Sdk(base_url, SDK_STDLIB, json_backend="json"))

    if redis_url is not None:
        scenarios.append(SdkRedis(base_url, redis_url))
    if cluster_node is not None:
        scenarios.append(SdkRedisCluster(base_url, cluster_node))
    if with_pywa:
        scenarios += [Pywa(base_url), Pywa(base_url, via_api=True)]
    return scenarios
