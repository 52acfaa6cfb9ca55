"""The SDK against its embedded sandbox: every endpoint, each calling error path, both flows.

Uses the package's own pytest plugin fixtures (`d360_sandbox`, `d360_client`), as users do.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from d360_calling import (
    AuthenticationError,
    BadRequestError,
    BusinessInitiatedCallsLimitError,
    CallHours,
    CallingNotEnabledError,
    CallingSettings,
    CallPermissionNotFoundError,
    Client,
    ConcurrentCallsLimitError,
    DuplicateCallError,
    FeatureStatus,
    OperatingHours,
    PermissionStatus,
    RateLimitError,
    ReceiverUncallableError,
    SessionDescription,
    SipServer,
    SipSettings,
    Weekday,
)
from d360_calling.sandbox import ANSWER_SDP, OFFER_SDP, Fault, Limits, Sandbox
from d360_calling.webhooks import (
    CallConnect,
    CallStatus,
    CallTerminate,
    Event,
    IncomingCall,
    Receiver,
    Router,
)

USER = "14155550123"
OFFER = SessionDescription.offer(OFFER_SDP)
ANSWER = SessionDescription.answer(ANSWER_SDP)
SECRET = "hook-secret"


async def test_every_endpoint(d360_sandbox: Sandbox, d360_client: Client) -> None:
    hours = CallHours(
        status=FeatureStatus.ENABLED,
        timezone_id="America/Manaus",
        weekly_operating_hours=(OperatingHours(Weekday.MONDAY, "0400", "1020"),),
    )
    sip = SipSettings(status=FeatureStatus.DISABLED, servers=(SipServer("sip.example.com"),))
    updated = await d360_client.settings.update(
        CallingSettings(status=FeatureStatus.ENABLED, call_hours=hours, sip=sip)
    )
    assert updated.success is True
    plain = await d360_client.settings.get()
    assert plain.calling.call_hours == hours
    assert plain.calling.sip is not None
    assert plain.calling.sip.servers is not None
    assert plain.calling.sip.servers[0].sip_user_password is None
    with_secret = await d360_client.settings.get(include_sip_credentials=True)
    assert with_secret.calling.sip is not None
    assert with_secret.calling.sip.servers is not None
    password = with_secret.calling.sip.servers[0].sip_user_password
    assert password
    assert password not in repr(with_secret)

    perms = await d360_client.permissions.get(USER)
    assert perms.status is PermissionStatus.NO_PERMISSION
    assert not perms.can_start_call
    assert perms.can_request_permission

    d360_sandbox.set_permission(USER, "permanent")
    placed = await d360_client.calls.connect(USER, OFFER)
    assert placed.call_id.startswith("wacid.")
    assert (await d360_client.calls.terminate(placed.call_id)).success

    inbound = await d360_sandbox.ring("4915112345678")
    assert (await d360_client.calls.pre_accept(inbound, ANSWER)).success
    assert (await d360_client.calls.accept(inbound, ANSWER)).success
    assert (await d360_client.calls.terminate(inbound)).success
    rejected = await d360_sandbox.ring("4915112345679")
    assert (await d360_client.calls.reject(rejected)).success
    assert d360_sandbox.stats.effects["calls.connect"] == 1
    assert d360_sandbox.stats.effects["calls.accept"] == 1


async def test_wrong_key_is_authentication_error(d360_sandbox: Sandbox) -> None:
    async with Client("wrong-key", base_url=d360_sandbox.base_url) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.permissions.get(USER)
    assert caught.value.status == 401
    assert "wrong-key" not in str(caught.value)


async def test_calling_error_paths(d360_sandbox: Sandbox, d360_client: Client) -> None:
    with pytest.raises(CallPermissionNotFoundError) as no_permission:
        await d360_client.calls.connect(USER, OFFER)
    assert (no_permission.value.status, no_permission.value.code) == (401, 138006)

    d360_sandbox.set_uncallable("4915100000000")
    d360_sandbox.set_permission("4915100000000", "permanent")
    with pytest.raises(ReceiverUncallableError):
        await d360_client.calls.connect("4915100000000", OFFER)

    d360_sandbox.set_permission(USER, "permanent")
    first = await d360_client.calls.connect(USER, OFFER)
    with pytest.raises(DuplicateCallError):
        await d360_client.calls.connect(USER, OFFER)
    await d360_client.calls.terminate(first.call_id)

    with pytest.raises(BadRequestError) as bad_state:
        await d360_client.calls.accept(first.call_id, ANSWER)
    assert bad_state.value.code == 100

    await d360_client.settings.update(CallingSettings(status=FeatureStatus.DISABLED))
    with pytest.raises(CallingNotEnabledError) as disabled:
        await d360_client.calls.connect(USER, OFFER)
    assert disabled.value.status == 401
    assert d360_sandbox.stats.effects["calls.connect"] == 1


async def test_concurrent_calls_limit() -> None:
    async with (
        Sandbox(api_key="k", limits=Limits(concurrent_calls=2)) as sandbox,
        Client("k", base_url=sandbox.base_url, retry=None) as client,
    ):
        for user in ("4915100000001", "4915100000002", "4915100000003"):
            sandbox.set_permission(user, "permanent")
        await client.calls.connect("4915100000001", OFFER)
        await client.calls.connect("4915100000002", OFFER)
        with pytest.raises(ConcurrentCallsLimitError) as caught:
            await client.calls.connect("4915100000003", OFFER)
    assert isinstance(caught.value, RateLimitError)
    assert caught.value.code == 138002


async def test_connected_call_limit_says_when_the_next_is_allowed() -> None:
    async with (
        Sandbox(api_key="k", limits=Limits(connected_calls_per_day=2)) as sandbox,
        Client("k", base_url=sandbox.base_url) as client,
    ):
        sandbox.set_permission(USER, "permanent")
        for _ in range(2):
            placed = await client.calls.connect(USER, OFFER)
            await sandbox.user_answers(placed.call_id)
            await client.calls.terminate(placed.call_id)
        perms = await client.permissions.get(USER)
        assert not perms.can_start_call
        next_allowed = perms.next_call_allowed_at
        assert next_allowed is not None
        expected = datetime.fromtimestamp(sandbox.clock.now(), UTC) + timedelta(days=1)
        assert abs((next_allowed - expected).total_seconds()) < 5
        with pytest.raises(BusinessInitiatedCallsLimitError) as caught:
            await client.calls.connect(USER, OFFER)
        assert caught.value.code == 138012
        assert caught.value.details is not None
        assert str(int(next_allowed.timestamp())) in caught.value.details
        sandbox.clock.advance(24 * 3600 + 1)
        assert (await client.permissions.get(USER)).can_start_call


async def test_temporary_permission_expires_after_seven_days(
    d360_sandbox: Sandbox, d360_client: Client
) -> None:
    await d360_sandbox.user_answers_permission(USER, accept=True, permanent=False)
    granted = await d360_client.permissions.get(USER)
    assert granted.status is PermissionStatus.TEMPORARY
    assert granted.expires_at is not None
    d360_sandbox.clock.advance(7 * 24 * 3600 + 1)
    expired = await d360_client.permissions.get(USER)
    assert expired.status is PermissionStatus.NO_PERMISSION


async def test_sandbox_faults_are_ridden_through(d360_sandbox: Sandbox) -> None:
    d360_sandbox.faults.script(
        "permissions.get", Fault.status(429, retry_after=0.05), Fault.status(503), Fault.throttle()
    )
    async with Client("sandbox-key", base_url=d360_sandbox.base_url) as client:
        perms = await client.permissions.get(USER)
    assert perms.status is PermissionStatus.NO_PERMISSION
    assert d360_sandbox.stats.requests["permissions.get"] == 4


class Recorder:
    """A webhook receiver on loopback that answers connects and records every event."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.outbound_connects = 0
        self.router = Router()
        self.router.on_connect(self.on_connect)
        self.router.on_status(self.events.put)
        self.router.on_terminate(self.events.put)

    async def on_connect(self, call: IncomingCall) -> None:
        await self.events.put(call.event)
        self.outbound_connects += not call.inbound
        if call.inbound:
            await call.pre_accept(ANSWER_SDP)
            await call.accept(ANSWER_SDP)

    async def next(self) -> Event:
        async with asyncio.timeout(5):
            return await self.events.get()


@pytest.fixture
async def flow() -> AsyncIterator[tuple[Sandbox, Client, Recorder]]:
    recorder = Recorder()
    receiver = Receiver(recorder.router, secret=SECRET)
    runner = web.AppRunner(receiver.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"
    try:
        async with (
            Sandbox(api_key="k", webhook_url=url, webhook_secret=SECRET) as sandbox,
            Client("k", base_url=sandbox.base_url) as client,
        ):
            receiver.client = client
            yield sandbox, client, recorder
    finally:
        await runner.cleanup()


async def test_full_inbound_call(flow: tuple[Sandbox, Client, Recorder]) -> None:
    sandbox, _client, recorder = flow
    call_id = await sandbox.ring(USER, cta_payload="order-1")
    connect = await recorder.next()
    assert isinstance(connect, CallConnect)
    assert (connect.call_id, connect.from_, connect.cta_payload) == (call_id, USER, "order-1")
    assert connect.session is not None
    assert connect.session.sdp_type == "offer"
    for _ in range(50):
        if sandbox.calls[call_id].state.value == "accepted":
            break
        await asyncio.sleep(0.02)
    assert sandbox.calls[call_id].state.value == "accepted"
    sandbox.clock.advance(65)
    await sandbox.user_hangs_up(call_id)
    ended = await recorder.next()
    assert isinstance(ended, CallTerminate)
    assert (ended.call_id, ended.duration, ended.status) == (call_id, 65, "COMPLETED")
    assert sandbox.stats.effects["calls.accept"] == 1


async def test_full_outbound_call(flow: tuple[Sandbox, Client, Recorder]) -> None:
    sandbox, client, recorder = flow
    sandbox.set_permission(USER, "temporary")
    placed = await client.calls.connect(USER, OFFER, biz_opaque_callback_data="camp-7")
    ringing = await recorder.next()
    assert isinstance(ringing, CallStatus)
    assert (ringing.call_id, ringing.status) == (placed.call_id, "RINGING")
    assert ringing.biz_opaque_callback_data == "camp-7"
    await sandbox.user_answers(placed.call_id)
    seen = [await recorder.next(), await recorder.next()]
    statuses = [e for e in seen if isinstance(e, CallStatus)]
    answers = [e for e in seen if isinstance(e, CallConnect)]
    assert [s.status for s in statuses] == ["ACCEPTED"]
    assert recorder.outbound_connects == 1
    assert answers[0].session is not None
    assert answers[0].session.sdp_type == "answer"
    sandbox.clock.advance(12)
    await client.calls.terminate(placed.call_id)
    ended = await recorder.next()
    assert isinstance(ended, CallTerminate)
    assert (ended.call_id, ended.duration) == (placed.call_id, 12)


def test_demo_passes() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("D360_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "d360_calling", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in (
        "[ok]   settings updated",
        "[ok]   connect webhook received",
        "[ok]   user hung up; terminate webhook received (duration 42 s)",
        "[ok]   answered with real audio (ICE + DTLS-SRTP on loopback)",
        "[ok]   the bot hears the caller's 440 Hz tone",
        "[ok]   the caller hears the bot's 660 Hz greeting",
        "[ok]   the bot hears the keys the user pressed (keys heard: 42)",
        "[ok]   user hung up; the call's media closed",
        "[ok]   recording and transcript webhooks received (audio/ogg; codecs=opus)",
        "[ok]   recording downloaded and its sha256 verified",
        "[ok]   transcript read, split by speaker (2 turns)",
        "[ok]   permission requested",
        "[ok]   customer accepted (permission reply webhook)",
        "[ok]   call placed and ringing",
        "[ok]   permissions read after a 429 and a 503 (3 requests)",
        "[ok]   connect resent after a 429, placed exactly once",
        "retry: permissions.get: attempt 1 failed",
    ):
        assert line in out, line
    assert "[FAIL]" not in out
    assert "Summary: " in out
    assert " 0 failed" in out
