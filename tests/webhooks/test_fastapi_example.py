"""The FastAPI example against the sandbox: the receiver mounted in a FastAPI app under uvicorn,
the client from the app's lifespan (on $D360_BASE_URL's API, else the real one), in process and
as the script a user runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from d360_calling import DEFAULT_BASE_URL, Client
from d360_calling.sandbox import Sandbox
from examples import fastapi_bot

ROOT = Path(__file__).resolve().parents[2]


async def test_fastapi_bot_answers_every_call_and_uses_its_client() -> None:
    assert await fastapi_bot.demo_with_sandbox(5) == (5, True)


def test_fastapi_bot_runs_as_a_script_against_the_sandbox() -> None:
    done = subprocess.run(
        [sys.executable, "examples/fastapi_bot.py", "--sandbox", "--calls", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "2 of 2 calls accepted; can_start_call=True" in done.stdout


async def test_create_app_takes_the_api_from_d360_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    async with Sandbox(api_key="sandbox-key") as sandbox:
        sandbox.set_permission("14155550123", "permanent")
        monkeypatch.setenv("D360_BASE_URL", sandbox.base_url)
        app = fastapi_bot.create_app(api_key="sandbox-key", secret="s")
        async with app.router.lifespan_context(app):
            client: Client = app.state.client
            assert (await client.permissions.get("14155550123")).can_start_call
        assert sandbox.stats.effects["permissions.get"] == 1


def test_create_app_points_at_the_real_api_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D360_BASE_URL", raising=False)
    assert fastapi_bot.create_app(api_key="k", secret="s").state.base_url == DEFAULT_BASE_URL
    given = fastapi_bot.create_app(api_key="k", base_url="http://127.0.0.1:8360", secret="s")
    assert given.state.base_url == "http://127.0.0.1:8360"
