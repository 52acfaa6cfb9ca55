"""Where the shared-state tests keep their state: one real `redis-server` on a free loopback port
per test, or a real three-node Redis Cluster started once per session; the `store` fixture runs
each test on both (skipped only when redis-server is not installed)."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis, RedisCluster

from .cluster import REDIS_CLI, REDIS_SERVER, Cluster, connect, free_port, start_server, stop_server


class RedisServer:
    """Starts and stops one redis-server process; `url` stays the same across restarts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = start_server(self.port, self.folder)

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)
            self.process = None


class Store:
    """One topology as the tests see it: a URL for worker processes, clients, and a way to stop
    the node that holds a prefix's keys (the whole server when there is one) and start it."""

    def __init__(self, topology: str, server: RedisServer | None, cluster: Cluster | None):
        self.topology = topology
        self._server = server
        self._cluster = cluster

    @property
    def url(self) -> str:
        if self._cluster is not None:
            return self._cluster.url
        assert self._server is not None
        return self._server.url

    def client(self) -> Redis | RedisCluster:
        return connect(self.url)

    def calls(self, command: str) -> int:
        """How often `command` ran, summed over the nodes (scripts' own calls included)."""
        assert REDIS_CLI is not None
        ports = self._cluster.ports if self._cluster is not None else [self._server_port]
        total = 0
        for port in ports:
            stats = subprocess.run(
                [REDIS_CLI, "-p", str(port), "info", "commandstats"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            for line in stats.splitlines():
                if line.startswith(f"cmdstat_{command}:"):
                    total += int(line.split("calls=", 1)[1].split(",", 1)[0])
        return total

    @property
    def _server_port(self) -> int:
        assert self._server is not None
        return self._server.port

    def stop(self, prefix: str) -> None:
        """Stop the node holding the keys of `RedisState(prefix=prefix)`."""
        if self._cluster is not None:
            self._cluster.stop_node(self._cluster.owner("{" + prefix + "}"))
        else:
            assert self._server is not None
            self._server.stop()

    def start(self) -> None:
        """Start what `stop` stopped (a cluster node rejoins with its slots, its data gone)."""
        if self._cluster is not None:
            self._cluster.restart_stopped()
        else:
            assert self._server is not None
            self._server.start()


def _need_redis() -> None:
    if REDIS_SERVER is None or REDIS_CLI is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One three-node cluster for the whole session (tests flush it and restart what they
    stopped), so it costs its start-up once."""
    _need_redis()
    if not hasattr(RedisCluster, "pubsub"):
        pytest.skip("RedisState on a cluster needs redis-py 8 or later (pub/sub)")
    cluster = Cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["single", "cluster"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    _need_redis()
    if request.param == "cluster":
        cluster: Cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        try:
            yield Store("cluster", None, cluster)
        finally:
            cluster.sweep()
            cluster.restart_stopped()
        return
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield Store("single", server, None)
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """One real redis-server on its own (for tests that put a proxy in front of it)."""
    _need_redis()
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_client(store: Store) -> AsyncIterator[Redis | RedisCluster]:
    client = store.client()
    try:
        yield client
    finally:
        await client.aclose()
