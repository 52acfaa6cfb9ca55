"""The pytest plugin in a fresh project, as a user meets it: no configuration, pytest-asyncio in
its default strict mode, the plugin loaded by its entry point in a pytest subprocess. The
README's example passes as written, `d360_receiver` serves the user's router without a fixture
loop, and coroutine tests that use no `d360_*` fixture are left to the user's configuration."""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

README_EXAMPLE = """
async def test_my_bot(d360_sandbox, d360_client):
    d360_sandbox.set_permission("14155550123", "permanent")
    perms = await d360_client.permissions.get("14155550123")
    assert perms.can_start_call
"""

README_RECEIVER_EXAMPLE = """
import pytest

from d360_calling.sandbox import ANSWER_SDP, CallState
from d360_calling.webhooks import IncomingCall, Router


def build_router() -> Router:  # your bot's router
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        await call.pre_accept(ANSWER_SDP)  # your media stack's answer
        await call.accept(ANSWER_SDP)

    return router


@pytest.fixture
def d360_router() -> Router:  # in your conftest.py: a fresh router for each test
    return build_router()


async def test_my_bot_answers(d360_sandbox, d360_receiver):
    call_id = await d360_sandbox.ring("14155550123")
    await d360_sandbox.webhooks_idle()  # the connect was delivered
    await d360_receiver.aclose()  # and your handlers have finished
    assert d360_sandbox.calls[call_id].state is CallState.ACCEPTED
"""

RECEIVER_EXAMPLE = """
import asyncio

import pytest

from d360_calling.sandbox import ANSWER_SDP
from d360_calling.webhooks import IncomingCall, Router

answered = []


def build_router():
    router = Router()

    @router.on_connect
    async def answer(call: IncomingCall) -> None:
        await call.pre_accept(ANSWER_SDP)
        await call.accept(ANSWER_SDP)
        answered.append(call.call_id)

    return router


@pytest.fixture
def d360_router():
    return build_router()


async def test_the_users_handler_answers(d360_sandbox, d360_receiver):
    call_id = await d360_sandbox.ring("14155550123")
    for _ in range(250):
        if d360_sandbox.calls[call_id].state.value == "accepted":
            break
        await asyncio.sleep(0.02)
    assert d360_sandbox.calls[call_id].state.value == "accepted"
    assert answered == [call_id]
    assert d360_receiver.stats["bad_signature"] == 0


async def test_a_second_test_gets_a_fresh_receiver(d360_sandbox, d360_receiver):
    call_id = await d360_sandbox.ring("14155550124")
    for _ in range(250):
        if d360_sandbox.calls[call_id].state.value == "accepted":
            break
        await asyncio.sleep(0.02)
    assert d360_sandbox.calls[call_id].state.value == "accepted"
"""

OTHER_TESTS = """
import pytest


@pytest.fixture
def bot(d360_client):  # a user's fixture over ours: its tests are marked too
    return d360_client


async def test_through_the_users_fixture(bot):
    assert (await bot.settings.get()) is not None


@pytest.mark.asyncio
async def test_already_marked(d360_client):
    assert (await d360_client.settings.get()) is not None


def test_sync_and_untouched(d360_webhook_secret):
    assert d360_webhook_secret == "sandbox-webhook-secret"


async def test_coroutine_without_our_fixtures():
    pass  # strict mode and no marker: pytest-asyncio leaves it, so pytest fails it
"""

OVERRIDES = """
import asyncio

import pytest_asyncio
from aiohttp import web

posted = []


async def record(request):
    posted.append(await request.read())
    return web.Response()


@pytest_asyncio.fixture
async def d360_webhook_url():  # the user serves their own receiver
    app = web.Application()
    app.router.add_post("/mine", record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/mine"
    await runner.cleanup()


async def test_the_override_reaches_the_sandbox(d360_sandbox):
    await d360_sandbox.ring("14155550123")
    for _ in range(250):
        if posted:
            break
        await asyncio.sleep(0.02)
    assert b"14155550123" in posted[0]


async def test_a_receiver_with_an_overridden_url_is_refused(d360_receiver):
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A fresh project: no ini file, no conftest; plugins load from their entry points."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(
        test_readme=README_EXAMPLE,
        test_readme_receiver=README_RECEIVER_EXAMPLE,
        test_receiver=RECEIVER_EXAMPLE,
        test_other=OTHER_TESTS,
        test_overrides=OVERRIDES,
    )
    return pytester


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Each test's outcome, from `-rA`'s short summary (`PASSED test_x.py::test_y`)."""
    found = re.findall(r"^(PASSED|FAILED|ERROR) (\S+?)(?: - .*)?$", result.stdout.str(), re.M)
    return {test: outcome for outcome, test in found}


def test_a_fresh_strict_project_runs_the_readme_example_and_the_receiver(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest_subprocess("-rA", "-p", "no:cacheprovider")
    header = result.stdout.str()
    assert "mode=Mode.STRICT" in header  # what a project with no configuration gets
    assert re.search(r"plugins:.*d360-calling", header)  # loaded by the entry point
    assert outcomes(result) == {
        "test_readme.py::test_my_bot": "PASSED",
        "test_readme_receiver.py::test_my_bot_answers": "PASSED",
        "test_receiver.py::test_the_users_handler_answers": "PASSED",
        "test_receiver.py::test_a_second_test_gets_a_fresh_receiver": "PASSED",
        "test_other.py::test_through_the_users_fixture": "PASSED",
        "test_other.py::test_already_marked": "PASSED",
        "test_other.py::test_sync_and_untouched": "PASSED",
        "test_other.py::test_coroutine_without_our_fixtures": "FAILED",
        "test_overrides.py::test_the_override_reaches_the_sandbox": "PASSED",
        "test_overrides.py::test_a_receiver_with_an_overridden_url_is_refused": "ERROR",
    }
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
    result.stdout.fnmatch_lines(["*d360_receiver serves http://127.0.0.1:*/webhook, but*"])


def test_in_auto_mode_the_marks_change_nothing(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-rA", "-p", "no:cacheprovider", "--asyncio-mode=auto")
    assert "mode=Mode.AUTO" in result.stdout.str()
    seen = outcomes(result)
    assert seen.pop("test_other.py::test_coroutine_without_our_fixtures") == "PASSED"
    assert seen.pop("test_overrides.py::test_a_receiver_with_an_overridden_url_is_refused") == (
        "ERROR"
    )
    assert set(seen.values()) == {"PASSED"}
    assert len(seen) == 8
