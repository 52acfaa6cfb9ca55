"""Every fault kind as a plain client sees it, the spec parser, and the stats they leave."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import aiohttp
import pytest

from d360_calling.sandbox import Fault, FaultKind, FaultPlan, Sandbox
from tests.support.sandbox import USER, Receiver, connect_body


async def connect(http: aiohttp.ClientSession) -> tuple[int, bytes, dict[str, str]]:
    async with http.post("/calling/calls", json=connect_body()) as response:
        return response.status, await response.read(), dict(response.headers)


@pytest.fixture(autouse=True)
def permitted(sandbox: Sandbox) -> None:
    sandbox.set_permission(USER, "temporary")


async def test_scripted_statuses_apply_in_order_then_stop(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.faults.script("calls.connect", Fault.status(503), Fault.status(429, retry_after="1"))
    status, body, headers = await connect(http)
    assert status == 503
    error = json.loads(body)["error"]
    assert error["code"] == 2
    assert error["message"] == "(#2) Service temporarily unavailable"
    assert "Retry-After" not in headers

    status, body, headers = await connect(http)
    assert status == 429
    assert json.loads(body)["error"]["code"] == 4
    assert headers["Retry-After"] == "1"

    status, body, _ = await connect(http)
    assert status == 200
    assert json.loads(body)["calls"][0]["id"].startswith("wacid.")
    assert sandbox.stats.requests["calls.connect"] == 3
    assert sandbox.stats.effects["calls.connect"] == 1
    assert sandbox.stats.faults == {"status_503": 1, "status_429": 1}
    assert len(sandbox.calls) == 1


async def test_retry_after_forms(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    sandbox.faults.script(
        None,
        Fault.status(429, retry_after=when),
        Fault.status(429, retry_after=2.5, retry_after_ms=2500),
    )
    _, _, headers = await connect(http)
    assert headers["Retry-After"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    _, _, headers = await connect(http)
    assert headers["Retry-After"] == "2.5"
    assert headers["retry-after-ms"] == "2500"


async def test_360dialog_throttle_and_body(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.faults.script("calls.connect", Fault.throttle(), Fault.status(502, body="360dialog"))
    status, body, _ = await connect(http)
    assert status == 400
    assert json.loads(body) == {
        "meta": {
            "success": False,
            "http_code": 400,
            "developer_message": "You have exceeded the endpoint rate limit.",
        }
    }
    status, body, _ = await connect(http)
    assert status == 502
    assert json.loads(body)["meta"]["developer_message"] == "Bad Gateway"
    assert sandbox.stats.faults == {"status_400": 1, "status_502": 1}


async def test_latency_delays_a_normal_answer(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.faults.script("calls.connect", Fault.latency(0.15))
    started = time.perf_counter()
    status, _, _ = await connect(http)
    assert time.perf_counter() - started >= 0.15
    assert status == 200
    assert sandbox.stats.effects["calls.connect"] == 1
    assert sandbox.stats.faults["latency"] == 1


async def test_reset_before_applies_nothing(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.faults.script("calls.connect", Fault.reset_before())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await connect(http)
    await sandbox.webhooks_idle()
    assert sandbox.calls == {}
    assert sandbox.webhooks == []
    assert sandbox.stats.requests["calls.connect"] == 1
    assert sandbox.stats.effects["calls.connect"] == 0
    assert sandbox.stats.faults["reset_before"] == 1


async def test_reset_after_applies_the_connect(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    sandbox.faults.script("calls.connect", Fault.reset_after())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await connect(http)
    await sandbox.webhooks_idle()
    [call] = sandbox.calls.values()
    assert call.state == "ringing"
    assert receiver.events() == ["RINGING"]
    assert sandbox.stats.effects["calls.connect"] == 1
    assert sandbox.stats.faults["reset_after"] == 1


async def test_truncated_body(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.faults.script("calls.connect", Fault.truncated())
    with pytest.raises(aiohttp.ClientPayloadError):
        await connect(http)
    assert sandbox.stats.effects["calls.connect"] == 1
    assert len(sandbox.calls) == 1


async def test_non_json_edge_page(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.faults.script("calls.connect", Fault.non_json())
    status, body, headers = await connect(http)
    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert body.startswith(b"<html><head><title>503 Service Temporarily Unavailable")
    assert sandbox.stats.effects["calls.connect"] == 0


async def test_huge_body(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.faults.script("settings.get", Fault.huge(2_000_000))
    async with http.get("/calling/settings") as response:
        body = await response.read()
    assert response.status == 200
    assert 1_999_000 <= len(body) <= 2_000_000
    assert json.loads(body)["messaging_product"] == "whatsapp"
    assert sandbox.stats.faults["huge"] == 1


async def test_deeply_nested_body(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    sandbox.faults.script("permissions.get", Fault.nested(50_000))
    async with http.get(f"/calling/permissions/{USER}") as response:
        body = await response.read()
    assert response.status == 200
    assert body == b"[" * 50_000 + b"]" * 50_000
    with pytest.raises(RecursionError):
        json.loads(body)


async def test_slow_body_trips_a_read_timeout_but_is_whole(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.faults.script("settings.get", Fault.slow_body(0.3), Fault.slow_body(0.2))
    with pytest.raises(TimeoutError):
        async with http.get(
            "/calling/settings", timeout=aiohttp.ClientTimeout(sock_read=0.02)
        ) as response:
            await response.read()
    started = time.perf_counter()
    async with http.get("/calling/settings") as response:
        body = await response.json()
    assert time.perf_counter() - started >= 0.2
    assert body["calling"]["status"] == "ENABLED"
    assert sandbox.stats.faults["slow_body"] == 2


async def test_any_operation_queue_and_operation_queue(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.faults.script(None, Fault.status(500))
    sandbox.faults.script("settings.get", Fault.status(503))
    async with http.get("/calling/settings") as response:
        assert response.status == 503  # the operation's own queue comes first
    async with http.get(f"/calling/permissions/{USER}") as response:
        assert response.status == 500
        assert (await response.json())["error"]["code"] == 131000
    assert sandbox.faults.pending() == 0
    assert sandbox.faults.pending("settings.get") == 0


def test_script_refuses_unknown_operations() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        FaultPlan().script("calls.dial", Fault.status(500))
    with pytest.raises(ValueError, match="4xx or 5xx"):
        Fault.status(302)


def test_random_faults_repeat_with_the_seed() -> None:
    def draws(seed: int) -> list[str | None]:
        plan = FaultPlan(seed=seed, rates={"status_429": 0.3, Fault.reset_after(): 0.2})
        return [
            None if f is None else f.label for f in (plan.draw("calls.accept") for _ in range(400))
        ]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    assert 80 <= first.count("status_429") <= 160
    assert 40 <= first.count("reset_after") <= 120
    assert 140 <= first.count(None) <= 260


def test_spec_parser() -> None:
    plan = FaultPlan.parse("seed=7,429:0.05,503:0.05,reset_after:0.02,latency=200ms:0.1")
    assert [(f.kind, f.status_code, f.seconds, rate) for f, rate in plan.rates] == [
        (FaultKind.STATUS, 429, 0.0, 0.05),
        (FaultKind.STATUS, 503, 0.0, 0.05),
        (FaultKind.RESET_AFTER, 200, 0.0, 0.02),
        (FaultKind.LATENCY, 200, 0.2, 0.1),
    ]
    assert [
        f.label
        for f in (
            FaultPlan.parse(s).rates[0][0]
            for s in (
                "status_500:1",
                "throttle:1",
                "reset_before:1",
                "truncated:1",
                "non_json:1",
                "huge:1",
                "nested:1",
                "slow_body=2s:1",
                "slow_body:1",
            )
        )
    ] == [
        "status_500",
        "status_400",
        "reset_before",
        "truncated",
        "non_json",
        "huge",
        "nested",
        "slow_body",
        "slow_body",
    ]
    assert FaultPlan.parse("seed=1,slow_body=2s:0.5").rates[0][0].seconds == 2.0
    assert FaultPlan.parse("").rates == ()


@pytest.mark.parametrize(
    "spec", ["429", "429:2", "teapot:0.1", "latency:0.1", "latency=fast:0.1", "429:0.6,503:0.6"]
)
def test_spec_parser_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match=r"fault|rate|duration"):
        FaultPlan.parse(spec)


async def test_sandbox_with_a_seeded_plan_counts_every_fault() -> None:
    plan = FaultPlan.parse("seed=3,503:0.5")
    async with (
        Sandbox(faults=plan) as box,
        aiohttp.ClientSession(
            base_url=box.base_url, headers={"D360-API-KEY": "sandbox-key"}
        ) as http,
    ):
        statuses = []
        for _ in range(40):
            async with http.get("/calling/settings") as response:
                statuses.append(response.status)
        assert set(statuses) == {200, 503}
        assert box.stats.faults["status_503"] == statuses.count(503)
        assert box.stats.effects["settings.get"] == statuses.count(200)
        assert box.stats.requests["settings.get"] == 40
        box.stats.reset()
        assert box.stats.requests == {}
