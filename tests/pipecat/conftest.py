"""pipecat pipelines over sandbox calls with real audio on 127.0.0.1, and no AI service: each
module skips only where pipecat (the `[pipecat]` extra) is not installed; CI installs it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("aiortc")
pytest.importorskip("pipecat")

from tests.media.conftest import loopback_guard, no_leaks  # noqa: F401 - the same guards
from tests.support.bots import Bot, running_bot


@pytest.fixture(autouse=True)
def asyncio_wait_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """pipecat's own `wait_for` (it installs `wait_for2.wait_for` on Python < 3.12 when imported,
    and relies on it), for its tests only; the rest of the suite runs on the standard one."""
    import asyncio

    import pipecat  # noqa: F401 - importing it is what installs its wait_for

    if sys.version_info < (3, 12):
        import wait_for2

        monkeypatch.setattr(asyncio, "wait_for", wait_for2.wait_for)


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """A receiver, a sandbox and a client on loopback (`tests/support/bots.py`)."""
    async with running_bot() as running:
        yield running
