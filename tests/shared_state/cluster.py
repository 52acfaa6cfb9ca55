"""A real three-node Redis Cluster on loopback (redis-server --cluster-enabled yes, then
redis-cli --cluster create), and `connect`, which opens a client for either topology by URL.

Node URLs are `redis://127.0.0.1:PORT/0`; a cluster's URL is `cluster://127.0.0.1:PORT` (any
node), so worker processes can be told which client to make.
"""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path

from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
CLUSTER_SCHEME = "cluster://"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def connect(url: str) -> Redis | RedisCluster:
    """A `Redis` for `redis://...`, a `RedisCluster` for `cluster://host:port`."""
    if url.startswith(CLUSTER_SCHEME):
        host, port = url.removeprefix(CLUSTER_SCHEME).split(":")
        return RedisCluster(host=host, port=int(port))
    return Redis.from_url(url)


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_server(port: int, folder: Path, *extra: str) -> subprocess.Popen[bytes]:
    """One redis-server on 127.0.0.1:`port`, nothing persisted, answering PING within 10 s."""
    assert REDIS_SERVER is not None
    folder.mkdir(parents=True, exist_ok=True)
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    command += ["--save", "", "--appendonly", "no", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if ping(port):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError(f"redis-server did not start on port {port}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Cluster:
    """Three masters, no replicas, each slot range on one node; nodes can be stopped and
    started again (a restarted node rejoins from its nodes.conf, its data gone)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = [free_port() for _ in range(3)]
        self.bus_ports = {port: free_port() for port in self.ports}
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.stopped_a_node = False

    @property
    def url(self) -> str:
        return f"{CLUSTER_SCHEME}127.0.0.1:{self.ports[0]}"

    def _start_node(self, port: int) -> None:
        self.processes[port] = start_server(
            port,
            self.folder / str(port),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",  # the default, port + 10000, may be taken or past 65535
            str(self.bus_ports[port]),
            # Long enough that a node stopped for a test is never voted out: the others keep
            # serving their slots, and it rejoins with its own when it comes back.
            "--cluster-node-timeout",
            "60000",
        )

    def start(self) -> None:
        assert REDIS_CLI is not None
        for port in self.ports:
            self._start_node(port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self.wait_ok()

    def cli(self, port: int, *args: str) -> str:
        assert REDIS_CLI is not None
        done = subprocess.run(
            [REDIS_CLI, "-p", str(port), *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout

    def wait_ok(self, timeout: float = 20.0) -> None:
        """Until every node says cluster_state:ok and agrees on who holds each slot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [self.cli(port, "cluster", "info") for port in self.ports]
            slots = {self.cli(port, "cluster", "slots") for port in self.ports}
            if all("cluster_state:ok" in info for info in infos) and len(slots) == 1:
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    def owner(self, key: str) -> int:
        """The port of the node that holds `key`'s slot."""
        slot = key_slot(key.encode())
        for line in self.cli(self.ports[0], "cluster", "nodes").splitlines():
            fields = line.split()
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if int(low) <= slot <= int(high or low):
                    return port
        raise LookupError(f"no node holds slot {slot}")

    def stop_node(self, port: int) -> None:
        """Stop one node. redis-py's asyncio cluster client then leaves connections open in the
        nodes it drops on its next topology refresh (redis/redis-py#3572, #4053), which warn
        when collected: ResourceWarning is ignored for the rest of this test phase, and
        `sweep()` collects them quietly at teardown, before they reach another test."""
        warnings.filterwarnings("ignore", category=ResourceWarning)
        self.stopped_a_node = True
        stop_server(self.processes.pop(port))

    def sweep(self) -> None:
        if self.stopped_a_node:
            self.stopped_a_node = False
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()

    def restart_stopped(self) -> None:
        for port in self.ports:
            if port not in self.processes:
                self._start_node(port)
        self.wait_ok()

    def flush(self) -> None:
        for port in self.ports:
            self.cli(port, "flushall")

    def stop(self) -> None:
        for process in self.processes.values():
            stop_server(process)
        self.processes.clear()
