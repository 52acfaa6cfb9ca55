"""The examples served against a sandbox they did not start, as in "Talk to your bot": each runs
as the script a user runs, with `--base-url`, `--listen` and `--secret`, a sandbox call reaches
its handler, and SIGTERM stops it cleanly. Also the shared flags of `examples/_serve.py`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from d360_calling.sandbox import Sandbox
from examples import _serve

ROOT = Path(__file__).resolve().parents[2]
SECRET = "served-secret"


def free_port() -> int:
    """A loopback port free a moment ago: the bot must listen before the sandbox can post to
    it, and the sandbox's URL must be known before the bot starts, so one side is chosen."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    """The environment without the variables the flags fall back to."""
    names = (_serve.API_KEY_ENV, _serve.SECRET_ENV, _serve.BASE_URL_ENV)
    return {k: v for k, v in os.environ.items() if k not in names}


class Served:
    """An example running as a script, and the lines it printed."""

    def __init__(self, process: asyncio.subprocess.Process, errors: Path) -> None:
        self.process = process
        self.errors = errors
        self.lines: list[str] = []

    async def line_with(self, text: str, *, within: float = 60.0) -> str:
        """The next printed line containing `text` (fails at the end of output or `within`)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(within):
            while raw := await self.process.stdout.readline():
                self.lines.append(raw.decode().rstrip())
                if text in self.lines[-1]:
                    return self.lines[-1]
        raise AssertionError(f"no {text!r} in {self.lines}; stderr: {self.errors.read_text()}")


@asynccontextmanager
async def served(script: str, *args: str, errors: Path) -> AsyncIterator[Served]:
    """Run `examples/<script>` with `args`; SIGTERM it (then kill it, bounded) on the way out."""
    with errors.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            f"examples/{script}",
            *args,
            cwd=ROOT,
            env=clean_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        try:
            yield Served(process, errors)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def stop(example: Served) -> None:
    """SIGTERM, as a service manager stops it: the example says it stopped and exits 0."""
    example.process.send_signal(signal.SIGTERM)
    await example.line_with("stopped", within=30.0)
    async with asyncio.timeout(30.0):
        assert await example.process.wait() == 0, example.errors.read_text()


async def wait_accepted(sandbox: Sandbox, call_id: str) -> str:
    for _ in range(300):
        if sandbox.calls[call_id].state.value == "accepted":
            break
        await asyncio.sleep(0.05)
    return str(sandbox.calls[call_id].state.value)


@pytest.mark.parametrize(
    ("script", "path"), [("inbound_bot.py", "/webhook"), ("fastapi_bot.py", "/hooks/webhook")]
)
async def test_a_served_example_answers_a_call_from_a_sandbox_it_did_not_start(
    script: str, path: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    async with Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=SECRET) as box:
        flags = ["--base-url", box.base_url, "--listen", f"127.0.0.1:{port}", "--secret", SECRET]
        async with served(script, *flags, errors=tmp_path / "stderr") as example:
            started = await example.line_with("webhook receiver at")
            assert started.startswith(f"webhook receiver at {url}, calling {box.base_url}")
            call_id = await box.ring("14155550123")
            assert await wait_accepted(box, call_id) == "accepted"
            assert not box.webhook_failures  # signed with --secret, verified by the bot
            await box.user_hangs_up(call_id)
            await stop(example)


async def test_permission_then_call_served_calls_back_when_the_user_accepts(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhook"
    async with Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret=SECRET) as box:
        flags = ["--base-url", box.base_url, "--listen", f"127.0.0.1:{port}", "--secret", SECRET]
        flags += ["--ask", "14155550123"]
        async with served("permission_then_call.py", *flags, errors=tmp_path / "e") as example:
            assert "14155550123: requested" in await example.line_with("14155550123:")
            await box.user_answers_permission("14155550123", accept=True)
            called = await example.line_with("called back:")
            call_id = called.removeprefix("called back: ")
            call = box.calls[call_id]
            assert (call.wa_id, call.direction.value) == ("14155550123", "BUSINESS_INITIATED")
            await stop(example)


def test_without_base_url_or_sandbox_the_example_says_what_to_pass() -> None:
    parser = argparse.ArgumentParser()
    _serve.add_arguments(parser)
    with pytest.raises(SystemExit):
        _serve.target(parser, parser.parse_args([]))


@pytest.mark.parametrize(
    ("flags", "missing"),
    [
        (["--base-url", "https://waba-v2.360dialog.io", "--secret", "s"], "--api-key"),
        (["--base-url", "http://127.0.0.1:8360"], "--secret"),
        (["--base-url", "http://127.0.0.1:8360", "--listen", "8080", "--secret", "s"], "HOST:PORT"),
    ],
)
def test_a_missing_or_wrong_flag_is_named(
    flags: list[str],
    missing: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (_serve.API_KEY_ENV, _serve.SECRET_ENV, _serve.BASE_URL_ENV):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser()
    _serve.add_arguments(parser)
    with pytest.raises(SystemExit):
        _serve.target(parser, parser.parse_args(flags))
    assert missing in capsys.readouterr().err


def test_a_local_sandbox_gets_its_key_and_loopback_audio_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (_serve.API_KEY_ENV, _serve.SECRET_ENV, _serve.BASE_URL_ENV):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser()
    _serve.add_arguments(parser, media=True)
    local = _serve.target(
        parser, parser.parse_args(["--base-url", "http://localhost:8360/", "--secret", "s"])
    )
    assert (local.api_key, local.host, local.port, local.loopback) == (
        "sandbox-key",
        "127.0.0.1",
        8080,
        True,
    )
    monkeypatch.setenv(_serve.API_KEY_ENV, "real-key")
    monkeypatch.setenv(_serve.SECRET_ENV, "real-secret")
    real = _serve.target(
        parser,
        parser.parse_args(["--base-url", "https://waba-v2.360dialog.io", "--listen", "[::1]:9000"]),
    )
    assert (real.api_key, real.secret, real.host, real.port, real.loopback) == (
        "real-key",
        "real-secret",
        "::1",
        9000,
        False,
    )
    forced = parser.parse_args(["--base-url", "http://127.0.0.1:8360", "--no-loopback"])
    assert _serve.target(parser, forced).secret == "real-secret"
    assert _serve.target(parser, forced).loopback is False
    assert "real-key" not in repr(real)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8360", True),
        ("http://127.1.2.3", True),
        ("http://[::1]:8360", True),
        ("http://localhost", True),
        ("https://waba-v2.360dialog.io", False),
        ("http://10.0.0.1", False),
        ("not a url", False),
    ],
)
def test_is_loopback(url: str, local: bool) -> None:
    assert _serve.is_loopback(url) is local
