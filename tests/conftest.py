"""Shared fixtures: a scripted server, a client bound to it, and aioresponses made to work
with aiohttp 3.14."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses as Aioresponses
from hypothesis import settings

from d360_calling import Client, jsonutil

from .support.backends import Backend, MockBackend, ServerBackend, calling_default
from .support.clients import make_client
from .support.samples import API_KEY, DEFAULT_BASE_URL
from .support.server import ScriptedServer

__all__ = ["API_KEY"]


JSON_BACKEND = os.environ.get("D360_JSON_BACKEND", jsonutil.BACKEND)
"""Which JSON backend the suite runs on: the installed default, or `D360_JSON_BACKEND=json` to
run without the `speedups` extra's orjson (CI runs the JSON-heavy tests both ways)."""


settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
"""Hypothesis profiles: `ci` (the default, and what `.ci/run` sets) draws the same examples on
every run, with no example database and no per-example time limit, so a run repeats exactly;
`HYPOTHESIS_PROFILE=explore` draws fresh random examples, ten times as many, for local hunting."""


STDLIB_WAIT_FOR = asyncio.wait_for
"""`asyncio.wait_for` before any test module ran: importing pipecat (tests/pipecat, the README's
pipecat block) replaces it process-wide with `wait_for2.wait_for` on Python < 3.12."""


@pytest.fixture(autouse=True)
def asyncio_wait_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test outside tests/pipecat runs on the standard library's `wait_for`, as a user
    without pipecat does, whatever modules the session imported (tests/pipecat overrides it)."""
    monkeypatch.setattr(asyncio, "wait_for", STDLIB_WAIT_FOR)


@pytest.fixture(autouse=True)
def json_backend(monkeypatch: pytest.MonkeyPatch) -> str:
    dumps, loads = jsonutil.BACKENDS[JSON_BACKEND]
    monkeypatch.setattr(jsonutil, "dumps", dumps)
    monkeypatch.setattr(jsonutil, "loads", loads)
    return JSON_BACKEND


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    """A running `ScriptedServer` whose fallback answers every documented endpoint."""
    async with ScriptedServer(default=calling_default) as running:
        yield running


@pytest.fixture
async def client(server: ScriptedServer) -> AsyncIterator[Client]:
    """A client bound to `server`, closed after the test."""
    bound = make_client(server.base_url)
    try:
        yield bound
    finally:
        await bound.aclose()


def patched_aioresponses() -> Aioresponses:
    """aioresponses for aiohttp 3.14: the one place that knows the workaround.

    aioresponses 0.7.9 builds `ClientResponse` without the `stream_writer` argument aiohttp
    3.14 requires (upstream issue 289); `None` would fail later on `.output_size`, so every
    mocked response gets a stub writer with `output_size = 0`.
    """

    class StreamWriterStub:
        output_size = 0

    class PatchedResponse(aiohttp.ClientResponse):
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", StreamWriterStub())
            super().__init__(method, url, **kwargs)

    class PatchedAioresponses(Aioresponses):
        def add(self, url: Any, method: str = "GET", *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("response_class", PatchedResponse)
            super().add(url, method, *args, **kwargs)

    return PatchedAioresponses()


@pytest.fixture
def aioresponses() -> Iterator[Aioresponses]:
    """aioresponses (patched for aiohttp 3.14) active for the test."""
    with patched_aioresponses() as mock:
        yield mock


@pytest.fixture(params=["server", "aioresponses"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The API stood in for by the scripted server, then by aioresponses."""
    if request.param == "server":
        async with ScriptedServer(default=calling_default) as running:
            bound = make_client(running.base_url)
            try:
                yield ServerBackend(running, bound)
            finally:
                await bound.aclose()
    else:
        with patched_aioresponses() as mock:
            bound = make_client(DEFAULT_BASE_URL)
            try:
                yield MockBackend(mock, bound, DEFAULT_BASE_URL)
            finally:
                await bound.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session for posting at servers the test runs on loopback."""
    async with aiohttp.ClientSession() as session:
        yield session
