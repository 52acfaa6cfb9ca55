"""The ring storm's processes, driven from `benchmarks.ringstorm`: the bot
(`benchmarks.storm_bot`, fresh for every storm, commanded over its stdin), the sender
(`benchmarks.storm_sender`, once per storm) and the API server (`benchmarks.server --record`,
one for the whole run, whose arrival stamps `arrivals()` reads)."""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final
from urllib.request import urlopen

from benchmarks import procs
from benchmarks.procs import ROOT, ServerProcess
from benchmarks.storm_report import Kind

READY_TIMEOUT: Final = 30.0
SENDER_TIMEOUT: Final = 120.0
REPORT_TIMEOUT: Final = 180.0
"""Longer than the bot's own wait for its calls (`storm_bot.REPORT_TIMEOUT`)."""


def read_line(stream: IO[str], timeout: float) -> str:
    """One line from a child's stdout, or `TimeoutError` after `timeout` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no line within {timeout:g} s")
    line = stream.readline()
    if not line:
        raise RuntimeError("the process exited")
    return line


class Bot:
    """A `benchmarks.storm_bot` process, driven over its stdin."""

    def __init__(
        self,
        kind: Kind,
        api: str,
        secret: str,
        profile: Path | None,
        cpu: int | None,
        gc_mode: str = "default",
    ) -> None:
        self.command = [sys.executable, "-m", "benchmarks.storm_bot", "--kind", kind.bot]
        self.command += ["--json-backend", kind.backend, "--api", api, "--secret", secret]
        if profile is not None:
            self.command += ["--profile", str(profile)]
        if cpu is not None:
            self.command += ["--cpu", str(cpu)]
        self.command += ["--gc", gc_mode]
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Bot:
        self._process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            line = self._line(READY_TIMEOUT)
            self.url = next(w for w in line.split() if w.startswith("http://"))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _line(self, timeout: float) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        return read_line(self._process.stdout, timeout)

    def send(self, command: str) -> None:
        assert self._process is not None
        _write(self._process, command)

    def report(self, prefix: str, calls: int) -> dict[str, Any]:
        self.send(f"report {prefix} {calls}")
        result: dict[str, Any] = json.loads(self._line(REPORT_TIMEOUT))
        return result

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            _write(process, "quit")
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _write(process: subprocess.Popen[str], command: str) -> None:
    assert process.stdin is not None
    process.stdin.write(command + "\n")
    process.stdin.flush()


def send_storm(url: str, secret: str, prefix: str, calls: int) -> dict[str, Any]:
    """Run the sender process once; its JSON result."""
    command = [sys.executable, "-m", "benchmarks.storm_sender", "--url", url]
    command += ["--secret", secret, "--prefix", prefix, "--calls", str(calls)]
    return procs.run_json(command, "sender", SENDER_TIMEOUT)


def arrivals(server: ServerProcess, *, reset: bool) -> dict[str, dict[str, float]]:
    """The API server's stamps per call id (`GET /_arrivals`)."""
    query = "?reset=1" if reset else ""
    with urlopen(f"{server.base_url}/_arrivals{query}", timeout=30) as response:  # local only
        document: dict[str, Any] = json.loads(response.read())
    calls: dict[str, dict[str, float]] = document["calls"]
    return calls


@contextlib.contextmanager
def api_server() -> Iterator[ServerProcess]:
    command = [sys.executable, "-m", "benchmarks.server", "--port", "0", "--record"]
    with ServerProcess(command, "serving") as server:
        yield server
