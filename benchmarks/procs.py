"""Child processes: the server under load, one fresh process per memory measurement, Redis."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.request import urlopen

ROOT: Final = Path(__file__).resolve().parent.parent
READY_TIMEOUT: Final = 20.0


class ServerProcess:
    """A server started with `command` that prints a line holding `marker` and a URL."""

    def __init__(self, command: list[str], marker: str) -> None:
        self.command = command
        self.marker = marker
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        process = subprocess.Popen(
            self.command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self._process = process
        deadline = time.monotonic() + READY_TIMEOUT
        assert process.stdout is not None
        while time.monotonic() < deadline:  # bounded by READY_TIMEOUT
            line = process.stdout.readline()
            if not line:
                break
            if self.marker in line:
                self.base_url = next(w for w in line.split() if w.startswith("http://"))
                return self
        self.__exit__(None, None, None)
        raise RuntimeError(f"{' '.join(self.command)} did not print {self.marker!r}")

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """The canned server's counters (`GET /_stats`)."""
        query = "?reset=1" if reset else ""
        with urlopen(f"{self.base_url}/_stats{query}", timeout=10) as response:  # local only
            result: dict[str, Any] = json.loads(response.read())
        return result


def canned_server(delay: float = 0.0) -> ServerProcess:
    """The canned asyncio server of `benchmarks.server`."""
    command = [sys.executable, "-m", "benchmarks.server", "--port", "0", "--delay", str(delay)]
    return ServerProcess(command, "serving")


def sandbox_server(api_key: str) -> ServerProcess:
    """The SDK's emulator, faults off: `python -m d360_calling sandbox`."""
    command = [sys.executable, "-m", "d360_calling", "sandbox", "--port", "0"]
    return ServerProcess([*command, "--api-key", api_key], "serving")


def run_memory(
    base_url: str, calls: int, client: str, hold: float | None = None, timeout: float = 600.0
) -> dict[str, Any]:
    """One memory measurement in a fresh interpreter; its JSON result."""
    command = [sys.executable, "-m", "benchmarks.memory", "--url", base_url]
    command += ["--calls", str(calls), "--client", client]
    if hold is not None:
        command += ["--hold", str(hold)]
    return run_json(command, "memory run", timeout)


def run_json(command: list[str], what: str, timeout: float) -> dict[str, Any]:
    """Run a benchmark's child process to its end; the JSON object on its last line of output
    (`RuntimeError` naming `what` with the last line of its stderr, if it failed)."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{what} failed: {tail[0]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """A redis-server on a free loopback port in a temporary folder: its URL, or `None` when
    the binary is not installed (the Redis row is then skipped)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder]
        command += ["--save", "", "--appendonly", "no"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:  # bounded by READY_TIMEOUT
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)


@contextlib.contextmanager
def redis_cluster() -> Iterator[tuple[str, int] | None]:
    """Three cluster-enabled redis-servers on loopback joined by `redis-cli --cluster create`:
    a node's (host, port), or `None` when redis-server or redis-cli is missing."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        yield None
        return
    ports = []
    for _ in range(6):  # three client ports and three cluster-bus ports
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    processes = []
    with tempfile.TemporaryDirectory() as folder:
        try:
            for port, bus in zip(ports[:3], ports[3:], strict=True):
                command = [server, "--port", str(port), "--bind", "127.0.0.1"]
                command += ["--dir", folder, "--save", "", "--appendonly", "no"]
                command += ["--cluster-enabled", "yes", "--cluster-port", str(bus)]
                command += ["--cluster-config-file", f"nodes-{port}.conf"]
                processes.append(
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                )
                _wait_for_port(port)
            nodes = [f"127.0.0.1:{port}" for port in ports[:3]]
            create = [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0"]
            subprocess.run([*create, "--cluster-yes"], check=True, capture_output=True, timeout=30)
            deadline = time.monotonic() + READY_TIMEOUT
            while time.monotonic() < deadline:  # bounded: until every node says ok
                infos = [
                    subprocess.run(
                        [cli, "-p", str(port), "cluster", "info"],
                        capture_output=True,
                        text=True,
                        timeout=10,
                    ).stdout
                    for port in ports[:3]
                ]
                if all("cluster_state:ok" in info for info in infos):
                    break
                time.sleep(0.1)
            yield ("127.0.0.1", ports[0])
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
