"""Opening, sharing and closing the client; middleware order; many concurrent calls."""

from __future__ import annotations

import asyncio
import gc
import warnings

import aiohttp
import pytest

from d360_calling import CallingSettings, Client, D360Error, FeatureStatus, Request, Response
from d360_calling.session import Handler

from ..support import samples
from ..support.clients import make_client
from ..support.samples import API_KEY, WA_ID
from ..support.server import ScriptedServer

PERMISSIONS_PATH = f"/calling/permissions/{WA_ID}"


async def test_async_with_closes(server: ScriptedServer) -> None:
    async with make_client(server.base_url) as client:
        assert (await client.permissions.get(WA_ID)).can_start_call is False
    assert client._session.closed
    assert not client._session.owns_open_http
    with pytest.raises(D360Error) as info:
        await client.permissions.get(WA_ID)
    assert info.value.operation == "permissions.get"
    assert "closed" in str(info.value)
    assert server.count() == 1


async def test_aclose_is_idempotent_and_blocks_calls(server: ScriptedServer) -> None:
    client = make_client(server.base_url)
    await client.calls.reject(samples.CALL_ID)
    await client.aclose()
    await client.aclose()
    for call in (
        client.calls.reject(samples.CALL_ID),
        client.settings.get(),
        client.permissions.get(WA_ID),
    ):
        with pytest.raises(D360Error, match="closed"):
            await call
    assert server.count() == 1


async def test_closing_an_unused_client_is_fine() -> None:
    client = make_client("http://127.0.0.1:1")
    await client.aclose()
    assert client._session.closed


async def test_user_session_is_used_and_left_alone(server: ScriptedServer) -> None:
    async with aiohttp.ClientSession(headers={"X-From-User": "yes"}) as http:
        before = dict(http.headers)
        client = make_client(server.base_url, session=http)
        await client.permissions.get(WA_ID)
        await client.calls.terminate(samples.CALL_ID)
        await client.aclose()

        assert not http.closed
        assert dict(http.headers) == before == {"X-From-User": "yes"}
        # the session still works for its owner after the client is gone
        async with http.get(server.base_url + "/calling/settings") as raw:
            assert raw.status == 200

    assert server.count() == 3
    for seen in server.requests[:2]:
        assert seen.headers["X-From-User"] == "yes"
        assert seen.headers["D360-API-KEY"] == API_KEY
    assert "D360-API-KEY" not in server.requests[2].headers


async def test_client_collected_open_warns(server: ScriptedServer) -> None:
    client = make_client(server.base_url)
    await client.permissions.get(WA_ID)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    mine = [
        w
        for w in caught
        if issubclass(w.category, ResourceWarning) and "was not closed" in str(w.message)
    ]
    assert len(mine) == 1
    assert API_KEY not in str(mine[0].message)


async def test_closed_client_collected_does_not_warn(server: ScriptedServer) -> None:
    client = make_client(server.base_url)
    await client.permissions.get(WA_ID)
    await client.aclose()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_unused_client_collected_does_not_warn() -> None:
    client = Client(API_KEY, base_url="http://127.0.0.1:1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


class Recorder:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.log.append(f"{self.name}>{request.operation}")
        assert "D360-API-KEY" not in request.headers
        response = await call_next(request)
        self.log.append(f"{self.name}<{response.status}")
        return response


async def test_user_middlewares_outermost_first(server: ScriptedServer) -> None:
    log: list[str] = []
    client = make_client(
        server.base_url, middlewares=[Recorder("outer", log), Recorder("inner", log)]
    )
    try:
        await client.permissions.get(WA_ID)
        await client.settings.update(CallingSettings(status=FeatureStatus.ENABLED))
    finally:
        await client.aclose()
    assert log == [
        "outer>permissions.get",
        "inner>permissions.get",
        "inner<200",
        "outer<200",
        "outer>settings.update",
        "inner>settings.update",
        "inner<200",
        "outer<200",
    ]


async def test_middleware_can_short_circuit(server: ScriptedServer) -> None:
    async def canned(request: Request, call_next: Handler) -> Response:
        return Response(200, {}, b'{"success": true}')

    client = make_client(server.base_url, middlewares=[canned])
    try:
        result = await client.calls.terminate(samples.CALL_ID)
    finally:
        await client.aclose()
    assert result.success is True
    assert server.count() == 0


async def test_200_concurrent_calls(server: ScriptedServer) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = make_client(server.base_url)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(client.permissions.get(WA_ID)) for _ in range(200)]
        finally:
            await client.aclose()
        gc.collect()
    results = [task.result() for task in tasks]
    assert len(results) == 200
    assert all(r.next_call_allowed_at is not None and not r.can_start_call for r in results)
    assert server.count(PERMISSIONS_PATH) == 200
    assert [str(w.message) for w in caught if "nclosed" in str(w.message)] == []
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
