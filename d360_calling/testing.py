"""A pytest plugin (entry point `pytest11`): fixtures for a running sandbox and a client on it.

Installed with the package, so a user's test suite gets `d360_sandbox` and `d360_client`
without any import. The sandbox signs its webhooks with `d360_webhook_secret` and posts them to
`d360_webhook_url` (none by default: override that fixture with your receiver's URL). The
fixtures need pytest-asyncio; without it the plugin adds nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

from .client import Client
from .sandbox import Sandbox

SANDBOX_API_KEY = "sandbox-key"
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - a test value, not a secret

if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest
    import pytest_asyncio

    @pytest.fixture
    def d360_webhook_secret() -> str:
        """The secret the sandbox signs webhooks with; give it to your `Receiver(secret=...)`."""
        return SANDBOX_WEBHOOK_SECRET

    @pytest.fixture
    def d360_webhook_url() -> str | None:
        """Where the sandbox posts webhooks: override it with your receiver's URL."""
        return None

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
