"""Whether a request left is kept on the call itself, so a user middleware that runs the rest
of the chain in another task (`wait_for`, `shield`, `create_task`) cannot hide it.

Against a real loopback server: it records the `connect`, then stalls the answer past the
call's deadline. A caller who trusts `request_sent=False` would place the call again and ring
the user twice, so a `connect` the server saw must never be reported as not sent.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import pytest

from d360_calling import (
    Client,
    OutcomeUnknownError,
    RequestTimeoutError,
    SessionDescription,
    Timeout,
    TransportError,
)
from d360_calling import session as session_module
from d360_calling.session import Handler, Request, Response

from ..support.backends import calling_default
from ..support.samples import API_KEY, OFFER_SDP, WA_ID
from ..support.server import ScriptedServer, delay

OFFER = SessionDescription.offer(OFFER_SDP)
SHORT = Timeout(total=0.3)
SHAPES = ["wait_for", "shield", "create_task", "create_task+wait"]


class Detached:
    """A user middleware that runs the rest of the chain in another task, as `shape` does,
    after waiting `before` seconds (inside that task) in front of `call_next`.

    `create_task` awaits the task (a cancel reaches it); `create_task+wait` waits with
    `asyncio.wait` (as when racing it against a shutdown event), so, as with `shield`, the
    task runs on after the caller's deadline.
    """

    def __init__(self, shape: str, before: float = 0.0) -> None:
        self.shape = shape
        self.before = before
        self.tasks: list[asyncio.Future[Response]] = []

    async def _inner(self, request: Request, call_next: Handler) -> Response:
        if self.before:
            await asyncio.sleep(self.before)
        return await call_next(request)

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        inner = asyncio.ensure_future(self._inner(request, call_next))
        self.tasks.append(inner)
        if self.shape == "wait_for":
            return await asyncio.wait_for(inner, timeout=60)
        if self.shape == "shield":
            return await asyncio.shield(inner)
        if self.shape == "create_task+wait":
            await asyncio.wait([inner])
            return inner.result()
        return await inner

    async def settle(self) -> None:
        """Let detached tasks (a shielded one outlives the caller) finish before teardown."""
        await asyncio.gather(*self.tasks, return_exceptions=True)


class BlockBefore:
    """A user middleware that waits `seconds` before passing the request on."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        await asyncio.sleep(self.seconds)
        return await call_next(request)


@pytest.fixture
async def stalling() -> AsyncIterator[ScriptedServer]:
    """Records every request, then holds each answer for 5 s (well past the deadline)."""
    async with ScriptedServer(default=lambda seen: delay(5.0, calling_default(seen))) as server:
        yield server


async def outcome(client: Client, call: Callable[[Client], Awaitable[object]]) -> BaseException:
    with pytest.raises(TransportError) as info:
        await call(client)
    return info.value


def connect(client: Client) -> Awaitable[object]:
    return client.calls.connect(WA_ID, OFFER)


def get(client: Client) -> Awaitable[object]:
    return client.permissions.get(WA_ID)


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_connect_the_server_saw_is_never_reported_unsent(
    stalling: ScriptedServer, shape: str
) -> None:
    middleware = Detached(shape)
    async with Client(
        API_KEY, base_url=stalling.base_url, middlewares=[middleware], timeout=SHORT
    ) as client:
        error = await outcome(client, connect)
        await middleware.settle()
    assert stalling.count("/calling/calls") == 1
    assert isinstance(error, OutcomeUnknownError), repr(error)
    assert error.request_sent is True


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_get_the_server_saw_reports_sent(stalling: ScriptedServer, shape: str) -> None:
    middleware = Detached(shape)
    async with Client(
        API_KEY, base_url=stalling.base_url, middlewares=[middleware], timeout=SHORT
    ) as client:
        error = await outcome(client, get)
        await middleware.settle()
    assert stalling.count() == 1
    assert isinstance(error, RequestTimeoutError), repr(error)
    assert error.request_sent is True


@pytest.mark.parametrize("call", [get, connect], ids=["permissions.get", "calls.connect"])
async def test_a_request_held_before_send_reports_not_sent(
    stalling: ScriptedServer, call: Callable[[Client], Awaitable[object]]
) -> None:
    async with Client(
        API_KEY, base_url=stalling.base_url, middlewares=[BlockBefore(10.0)], timeout=SHORT
    ) as client:
        error = await outcome(client, call)
    assert stalling.count() == 0
    assert type(error) is RequestTimeoutError
    assert error.request_sent is False


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_request_held_before_send_in_another_task_reports_not_sent(
    stalling: ScriptedServer, shape: str
) -> None:
    middleware = Detached(shape, before=10.0)
    async with Client(
        API_KEY, base_url=stalling.base_url, middlewares=[middleware], timeout=SHORT
    ) as client:
        error = await outcome(client, get)
        for task in middleware.tasks:
            task.cancel()  # a shielded task would otherwise sleep on
        await middleware.settle()
    assert stalling.count() == 0
    assert type(error) is RequestTimeoutError
    assert error.request_sent is False


LAYER = "d360_calling.session"


def test_no_context_variable_holds_the_sent_flag() -> None:
    """The sent flag rides on the request (`SentRecord`), in no module of the session layer."""
    layer = Path(session_module.__file__).parent
    modules = [
        importlib.import_module(f"d360_calling.session.{p.stem}") for p in layer.glob("*.py")
    ]
    assert len(modules) > 3
    for module in modules:
        assert not hasattr(module, "SENT"), module.__name__
        flags = [v for v in vars(module).values() if isinstance(v, contextvars.ContextVar)]
        assert not flags, (module.__name__, flags)


def test_the_record_is_left_out_of_eq_hash_and_repr() -> None:
    first = Request("GET", "/calling/settings", "settings.get")
    second = attrs.evolve(first, sent_record=session_module.SentRecord())
    second.sent_record.sent = True
    assert first == second
    field = attrs.fields(Request).sent_record
    assert (field.eq, field.hash, field.repr) == (False, False, False)
    assert "sent" not in repr(second)
    assert attrs.evolve(first, attempt=2).sent_record is first.sent_record
