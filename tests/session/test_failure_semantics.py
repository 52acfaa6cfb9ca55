"""What a failure means for the caller: settled resends, budget accounting, gate scope,
deadlines around user middlewares, per-call options and a user session's settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from d360_calling import (
    AuthenticationError,
    BadRequestError,
    Client,
    ConcurrentCallsLimitError,
    LocalState,
    OutcomeUnknownError,
    RateLimitError,
    RateLimitPolicy,
    RequestTimeoutError,
    RetryPolicy,
    SessionDescription,
    ValidationError,
)
from d360_calling.session import Handler, Request, Response
from d360_calling.shared_state import BudgetLimits

from ..support.backends import calling_default
from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, OFFER_SDP
from ..support.server import Reply, ScriptedServer, delay, reply

ANSWER = SessionDescription.answer(ANSWER_SDP)
OFFER = SessionDescription.offer(OFFER_SDP)
UNAVAILABLE = reply(503, {"error": {"message": "(#131016) Service unavailable", "code": 131016}})
WRONG_STATE = reply(400, {"error": {"message": "(#100) Invalid parameter", "code": 100}})
BAD_KEY = reply(401, {"error": {"message": "(#190) Invalid OAuth access token", "code": 190}})


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def client_for(server: ScriptedServer, **options: Any) -> Client:
    options.setdefault("retry", RetryPolicy(sleep=no_sleep))
    return Client(API_KEY, base_url=server.base_url, **options)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(default=calling_default) as running:
        yield running


BARE_500 = reply(500, body=b"Internal Server Error", content_type="text/plain")
"""A 500 without a JSON error body: no code, so only the status says the API may have acted."""


@pytest.mark.parametrize("lost", [UNAVAILABLE, BARE_500], ids=["503", "bare-500"])
async def test_refused_resend_of_terminate_is_done(server: ScriptedServer, lost: Reply) -> None:
    server.script(lost, WRONG_STATE)
    async with client_for(server) as client:
        result = await client.calls.terminate(CALL_ID)
    assert result.success is True
    assert server.count() == 2


async def test_refused_resend_of_accept_is_outcome_unknown_and_not_retried(
    server: ScriptedServer,
) -> None:
    server.script(UNAVAILABLE, WRONG_STATE, WRONG_STATE, WRONG_STATE)
    async with client_for(server) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.calls.accept(CALL_ID, ANSWER)
    assert server.count() == 2


@pytest.mark.parametrize("operation", ["terminate", "permissions"])
async def test_an_auth_refusal_after_a_lost_answer_stays_an_auth_error(
    server: ScriptedServer, operation: str
) -> None:
    server.script(UNAVAILABLE, BAD_KEY)
    async with client_for(server) as client:
        with pytest.raises(AuthenticationError):
            if operation == "terminate":
                await client.calls.terminate(CALL_ID)
            else:
                await client.permissions.get("14155550123")
    assert server.count() == 2


async def test_a_plain_400_on_a_read_is_not_settled(server: ScriptedServer) -> None:
    server.script(UNAVAILABLE, WRONG_STATE)
    async with client_for(server) as client:
        with pytest.raises(BadRequestError):
            await client.settings.get()


async def test_local_gate_refusals_do_not_spend_the_budget(server: ScriptedServer) -> None:
    state = LocalState()
    server.script(
        reply(429, {"error": {"message": "(#4) limit", "code": 4}}, headers={"Retry-After": "20"})
    )
    async with client_for(server, shared_state=state) as client:
        with pytest.raises(RateLimitError):
            await client.calls.terminate(CALL_ID, retry=None)
        for _ in range(8):
            with pytest.raises(RateLimitError):
                await client.calls.terminate(CALL_ID, timeout=1.0)
    assert server.count() == 1
    assert state.budget(BudgetLimits()).tokens == 10.0


async def test_the_last_attempt_spends_no_token(server: ScriptedServer) -> None:
    state = LocalState()
    server.script(UNAVAILABLE, UNAVAILABLE)
    policy = RetryPolicy(sleep=no_sleep, max_attempts=2)
    async with client_for(server, shared_state=state, retry=policy) as client:
        with pytest.raises(Exception, match="HTTP 503"):
            await client.calls.terminate(CALL_ID)
    assert server.count() == 2
    assert state.budget(BudgetLimits()).tokens == 9.0


async def test_call_limits_do_not_close_the_account_gate(server: ScriptedServer) -> None:
    state = LocalState()
    limit = {"error": {"message": "(#138002) Concurrent calls limit", "code": 138002}}
    server.script(reply(429, limit, headers={"Retry-After": "30"}))
    async with client_for(server, shared_state=state) as client:
        with pytest.raises(ConcurrentCallsLimitError):
            await client.calls.connect("14155550123", OFFER)
        assert state.gate_wait() == 0.0
        assert (await client.calls.terminate(CALL_ID)).success


class Pass:
    """A user middleware that only passes requests on."""

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await call_next(request)


async def test_deadline_while_queued_behind_user_middleware_says_never_sent(
    server: ScriptedServer,
) -> None:
    server.default = lambda seen: delay(2.0, Reply(json={"calls": [{"id": "wacid.1"}]}))
    limits = RateLimitPolicy(max_in_flight=1)
    async with client_for(server, middlewares=[Pass()], rate_limit=limits) as client:
        first = asyncio.ensure_future(client.calls.connect("14155550123", OFFER, timeout=5.0))
        await asyncio.sleep(0.2)
        with pytest.raises(RequestTimeoutError) as caught:
            await client.calls.connect("14155550124", OFFER, timeout=0.5)
        assert caught.value.request_sent is False
        await first
    assert server.count() == 1


async def test_a_users_raise_for_status_session_still_gets_typed_errors(
    server: ScriptedServer,
) -> None:
    server.script(WRONG_STATE)
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        client_for(server, session=http) as client,
    ):
        with pytest.raises(BadRequestError) as caught:
            await client.calls.connect("14155550123", OFFER)
    assert caught.value.code == 100
    assert server.count() == 1


async def test_unknown_and_unsupported_call_options_are_refused(server: ScriptedServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(ValidationError) as unknown:
            await client.calls.terminate(CALL_ID, retries=None)  # type: ignore[call-arg]
        assert unknown.value.field == "retries"
        # A per-call policy is an option now (issue 15); a value of the wrong kind is not.
        with pytest.raises(ValidationError) as policy:
            await client.calls.terminate(CALL_ID, rate_limit="fast")  # type: ignore[typeddict-item]
        assert policy.value.field == "rate_limit"
    assert server.count() == 0
