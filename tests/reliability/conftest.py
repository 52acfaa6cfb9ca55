"""Fixtures of the reliability suite, and the hook that prints its one-line summaries."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from d360_calling.sandbox import Sandbox

from ..support.reliability import SUMMARY_LINES
from ..support.samples import API_KEY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the load test measured, one line each, with pytest's default output."""
    for line in SUMMARY_LINES:
        terminalreporter.write_line(line)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A fresh sandbox (no webhook URL: webhooks are recorded) keyed with the test API key."""
    async with Sandbox(api_key=API_KEY) as running:
        yield running


class _AsyncioErrors(logging.Handler):
    """Collects what asyncio reports about lost tasks and futures."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True, scope="module")
def no_lost_tasks() -> Iterator[None]:
    """Fail a module whose tests left a task pending at destruction or an exception never
    retrieved (asyncio only says so in a log record, when the object is collected; the record
    names the coroutine). One full collection per module keeps it cheap."""
    handler = _AsyncioErrors()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
        gc.collect()
    finally:
        logger.removeHandler(handler)
    assert handler.messages == [], handler.messages


@pytest.fixture(autouse=True)
def quiet_gc() -> Iterator[None]:
    """Keep the session's heap (tens of MB by now) out of the collector during each test.

    A full collection of it stalls the loop for ~100 ms at random, which the timing checks here
    (deadline + 100 ms, prompt cancellation) would misread as the SDK hanging. What a test
    allocates itself is still collected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
