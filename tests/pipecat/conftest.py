"""pipecat pipelines over sandbox calls with real audio on 127.0.0.1, and no AI service: each
module skips only where pipecat (the `[pipecat]` extra) is not installed; CI installs it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

pytest.importorskip("aiortc")
pytest.importorskip("pipecat")

from tests.media.conftest import loopback_guard, no_leaks  # noqa: F401 - the same guards
from tests.support.bots import Bot, running_bot


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """A receiver, a sandbox and a client on loopback (`tests/support/bots.py`)."""
    async with running_bot() as running:
        yield running
