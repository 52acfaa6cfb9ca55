"""Every limit the sandbox enforces, hit from a plain client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from d360_calling.sandbox import Limits, Sandbox
from tests.support.sandbox import KEY, USER, connect_body, permission_request_body

DAY = 24 * 3600


@pytest.fixture
async def small() -> AsyncIterator[tuple[Sandbox, aiohttp.ClientSession]]:
    limits = Limits(connected_calls_per_day=2, concurrent_calls=2)
    async with (
        Sandbox(limits=limits) as box,
        aiohttp.ClientSession(base_url=box.base_url, headers={"D360-API-KEY": KEY}) as http,
    ):
        yield box, http


async def call(http: aiohttp.ClientSession, path: str, body: Any = None) -> tuple[int, Any]:
    method = http.get if body is None else http.post
    async with method(path, json=body) as response:
        return response.status, await response.json()


def assert_calling_error(body: dict[str, Any], code: int, message: str) -> str:
    error = body["error"]
    assert error["code"] == code
    assert error["message"] == f"(#{code}) {message}"
    assert error["type"] == "OAuthException"
    return str(error["error_data"]["details"])


async def test_connect_without_permission_is_138006(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, "/calling/calls", connect_body())
    assert status == 401
    assert_calling_error(body, 138006, "No approved call permission found")
    assert sandbox.stats.effects["calls.connect"] == 0


async def test_uncallable_user_is_138001(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.set_permission(USER, "permanent")
    sandbox.set_uncallable(USER)
    status, body = await call(http, "/calling/calls", connect_body())
    assert status == 400
    assert_calling_error(body, 138001, "Receiver is uncallable")


async def test_connected_call_limit_is_138012_with_next_allowed_time(
    small: tuple[Sandbox, aiohttp.ClientSession],
) -> None:
    box, http = small
    box.set_permission(USER, "permanent")
    first_connected = None
    for _ in range(2):
        status, body = await call(http, "/calling/calls", connect_body())
        assert status == 200
        call_id = body["calls"][0]["id"]
        await box.user_answers(call_id)
        first_connected = first_connected or box.calls[call_id].start_time
        await box.user_hangs_up(call_id)
        box.clock.advance(60)
    assert first_connected is not None
    allowed_at = int(first_connected + DAY)

    status, body = await call(http, "/calling/calls", connect_body())
    assert status == 400
    details = assert_calling_error(body, 138012, "Business-initiated call limit hit")
    iso = datetime.fromtimestamp(allowed_at, UTC).isoformat().replace("+00:00", "Z")
    assert f"next call allowed at {iso} ({allowed_at})" in details

    status, body = await call(http, f"/calling/permissions/{USER}")
    start_call = body["actions"][1]
    assert start_call == {
        "action_name": "start_call",
        "can_perform_action": False,
        "limits": [
            {
                "time_period": "PT24H",
                "max_allowed": 2,
                "current_usage": 2,
                "limit_expiration_time": allowed_at,
            }
        ],
    }
    box.clock.advance(allowed_at - box.clock.now() + 1)
    status, _ = await call(http, "/calling/calls", connect_body())
    assert status == 200


async def test_second_permission_request_in_24h_is_138009(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, _ = await call(http, "/messages", permission_request_body())
    assert status == 200
    first = sandbox.clock.now()
    status, body = await call(http, "/messages", permission_request_body())
    assert status == 400
    details = assert_calling_error(body, 138009, "Call permission request limit hit")
    assert "per 24 hours" in details
    _, perms = await call(http, f"/calling/permissions/{USER}")
    request = perms["actions"][0]
    assert request["can_perform_action"] is False
    assert request["limits"][0] == {
        "time_period": "PT24H",
        "max_allowed": 1,
        "current_usage": 1,
        "limit_expiration_time": int(first + DAY),
    }
    assert request["limits"][1] == {"time_period": "P7D", "max_allowed": 2, "current_usage": 1}

    sandbox.clock.advance(DAY + 1)
    status, _ = await call(http, "/messages", permission_request_body())
    assert status == 200
    sandbox.clock.advance(DAY + 1)
    status, body = await call(http, "/messages", permission_request_body())
    assert status == 400
    assert "per 7 days" in assert_calling_error(body, 138009, "Call permission request limit hit")
    assert sandbox.stats.effects["messages.send"] == 2


async def test_connected_call_resets_permission_request_limits(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    assert (await call(http, "/messages", permission_request_body()))[0] == 200
    sandbox.set_permission(USER, "temporary")
    _, body = await call(http, "/calling/calls", connect_body())
    await sandbox.user_answers(body["calls"][0]["id"])
    assert (await call(http, "/messages", permission_request_body()))[0] == 200


async def test_request_with_permanent_permission_is_138017(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "permanent")
    status, body = await call(http, "/messages", permission_request_body())
    assert status == 400
    assert_calling_error(
        body, 138017, "Permission request not sent: permanent permission already exists"
    )


async def test_duplicate_ongoing_call_is_138003(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "temporary")
    assert (await call(http, "/calling/calls", connect_body()))[0] == 200
    status, body = await call(http, "/calling/calls", connect_body())
    assert status == 400
    assert_calling_error(body, 138003, "A call with this receiver is already ongoing")
    assert sandbox.stats.requests["calls.connect"] == 2
    assert sandbox.stats.effects["calls.connect"] == 1
    assert len(sandbox.calls) == 1


async def test_concurrent_call_limit_is_138002(
    small: tuple[Sandbox, aiohttp.ClientSession],
) -> None:
    box, http = small
    users = ["14155550001", "14155550002", "14155550003"]
    for user in users:
        box.set_permission(user, "temporary")
    assert (await call(http, "/calling/calls", connect_body(users[0])))[0] == 200
    await box.ring("14155550009")
    status, body = await call(http, "/calling/calls", connect_body(users[1]))
    assert status == 429
    assert_calling_error(body, 138002, "Concurrent calls limit reached")
    box.clock.advance(60)  # the inbound call rings out and frees its slot
    assert (await call(http, "/calling/calls", connect_body(users[1])))[0] == 200


async def test_temporary_permission_expires_after_seven_days(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "temporary")
    sandbox.clock.advance(7 * DAY - 5)
    _, body = await call(http, f"/calling/permissions/{USER}")
    assert body["permission"]["status"] == "temporary"
    sandbox.clock.advance(10)
    _, body = await call(http, f"/calling/permissions/{USER}")
    assert body["permission"] == {"status": "no_permission"}
    assert body["actions"][1]["can_perform_action"] is False
    status, body = await call(http, "/calling/calls", connect_body())
    assert status == 401
    assert body["error"]["code"] == 138006


def test_limits_reject_negative_values() -> None:
    with pytest.raises(ValueError, match="concurrent_calls"):
        Limits(concurrent_calls=-1)
