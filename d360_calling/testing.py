"""A pytest plugin (entry point `pytest11`): fixtures for a running sandbox, a client on it, and
your router served as the sandbox's webhook receiver.

Installed with the package, so a user's test suite gets the `d360_*` fixtures without any
import or configuration. A coroutine test that uses one of them (directly or through its own
fixtures) is run by pytest-asyncio even in its default strict mode, so
`async def test_x(d360_client): ...` needs no marker; other tests are left alone.

`d360_sandbox` and `d360_client` are a sandbox and a client on it. `d360_receiver` serves the
router that `d360_router` returns (override it), answering through `d360_client`; it listens
before the sandbox starts (`d360_served_receiver`), so there is no fixture loop. The sandbox
signs its webhooks with `d360_webhook_secret` and posts them to `d360_webhook_url`: the
receiver's URL when the test uses `d360_receiver`, else none (or your override). The fixtures
need pytest-asyncio; without it the plugin adds nothing.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import AsyncIterator, Generator
from typing import NamedTuple

from .client import Client
from .sandbox import Sandbox
from .webhooks import Receiver, Router

SANDBOX_API_KEY = "sandbox-key"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - a test value, not a secret
FIXTURE_PREFIX = "d360_"


class ServedReceiver(NamedTuple):
    """A receiver serving on a free loopback port, and the URL the sandbox posts to."""

    receiver: Receiver
    url: str


def wants_asyncio_mark(item: object) -> bool:
    """Whether a collected test is a coroutine using a `d360_*` fixture with no async marker."""
    import pytest

    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
        return False
    if any(item.get_closest_marker(name) for name in ("asyncio", "anyio", "trio")):
        return False
    return any(name.startswith(FIXTURE_PREFIX) for name in item.fixturenames)


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pluggy
    import pytest
    import pytest_asyncio
    from aiohttp import web

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_pycollect_makeitem(
        collector: pytest.Module | pytest.Class, name: str, obj: object
    ) -> Generator[None, pluggy.Result[object], None]:
        """Mark coroutine tests using our fixtures `asyncio`, so strict mode runs them.

        The innermost wrapper: the marks land before pytest-asyncio's own wrapper turns marked
        coroutines into its items (it reads them when pytest's collection returns)."""
        outcome = yield
        made = outcome.get_result()
        for item in made if isinstance(made, list) else [made]:
            if wants_asyncio_mark(item):
                assert isinstance(item, pytest.Function)
                item.add_marker(pytest.mark.asyncio)

    @pytest.fixture
    def d360_webhook_secret() -> str:
        """The secret the sandbox signs webhooks with; give it to your `Receiver(secret=...)`."""
        return SANDBOX_WEBHOOK_SECRET

    @pytest.fixture
    def d360_router() -> Router:
        """The router `d360_receiver` serves: override it to return a fresh one of yours."""
        return Router()

    @pytest_asyncio.fixture
    async def d360_served_receiver(
        d360_router: Router, d360_webhook_secret: str
    ) -> AsyncIterator[ServedReceiver]:
        """`d360_router` in a `Receiver` served on a free loopback port, with no client yet:
        it must be listening before the sandbox starts, and the client needs the sandbox."""
        receiver = Receiver(d360_router, secret=d360_webhook_secret)
        runner = web.AppRunner(receiver.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            port = runner.addresses[0][1]
            yield ServedReceiver(receiver, f"http://127.0.0.1:{port}{receiver.path}")
        finally:
            await receiver.aclose()  # idempotent: `d360_receiver` has usually closed it
            await runner.cleanup()

    @pytest.fixture
    def d360_webhook_url(request: pytest.FixtureRequest) -> str | None:
        """Where the sandbox posts webhooks: `d360_receiver`'s URL when the test uses it, else
        none. Override it with your own receiver's URL if you serve one yourself."""
        if "d360_receiver" not in request.fixturenames:
            return None
        served: ServedReceiver = request.getfixturevalue("d360_served_receiver")
        return served.url

    @pytest_asyncio.fixture
    async def d360_sandbox(
        d360_webhook_url: str | None, d360_webhook_secret: str
    ) -> AsyncIterator[Sandbox]:
        """A sandbox of the Calling API on a free loopback port, stopped after the test."""
        async with Sandbox(
            api_key=SANDBOX_API_KEY,
            webhook_url=d360_webhook_url,
            webhook_secret=d360_webhook_secret,
        ) as sandbox:
            yield sandbox

    @pytest_asyncio.fixture
    async def d360_client(d360_sandbox: Sandbox) -> AsyncIterator[Client]:
        """A `Client` bound to `d360_sandbox`, closed after the test."""
        async with Client(SANDBOX_API_KEY, base_url=d360_sandbox.base_url) as client:
            yield client

    @pytest_asyncio.fixture
    async def d360_receiver(
        d360_served_receiver: ServedReceiver,
        d360_webhook_url: str | None,
        d360_client: Client,
    ) -> AsyncIterator[Receiver]:
        """A `Receiver` for `d360_router`, answering through `d360_client`, that the sandbox
        posts its webhooks to; closed (handlers finished, media closed) before the client."""
        receiver, url = d360_served_receiver
        if d360_webhook_url != url:
            pytest.fail(
                f"d360_receiver serves {url}, but d360_webhook_url is overridden to "
                f"{d360_webhook_url!r}: drop the override, or serve your own receiver there",
                pytrace=False,
            )
        receiver.client = d360_client
        try:
            yield receiver
        finally:
            await receiver.aclose()
