"""What only a Redis Cluster shows: an account's keys share one slot, and a stopped node costs only
the accounts whose slot it holds. (Every other shared-state test runs on the cluster too.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from d360_calling import RedisState, ValidationError
from d360_calling.shared_state.redis_state import default_prefix, hash_tagged

from .cluster import Cluster, connect


@pytest.fixture
def cluster(redis_cluster: Cluster) -> Iterator[Cluster]:
    redis_cluster.flush()
    try:
        yield redis_cluster
    finally:
        redis_cluster.sweep()
        redis_cluster.restart_stopped()


def test_prefixes_carry_one_hash_tag() -> None:
    assert hash_tagged("hooks") == "{hooks}"
    assert hash_tagged("tenant:{42}") == "tenant:{42}"
    assert hash_tagged("odd{}") == "{odd{}}"  # an empty tag is no tag
    prefix = default_prefix("some-api-key")
    assert prefix.startswith("d360:{")
    assert prefix.endswith("}")
    assert hash_tagged(prefix) == prefix


async def test_an_accounts_keys_share_one_slot(cluster: Cluster) -> None:
    client = connect(cluster.url)
    state = RedisState(client, api_key="some-api-key")
    await state.close_gate(0.5)
    await state.take_token(10.0, 5)
    await state.first_times([f"calls:wacid.{n}:status" for n in range(50)], 60)
    keys = [key async for key in client.scan_iter(match=f"{state.prefix}*")]
    assert len(keys) == 52  # the gate, the bucket, 50 dedupe entries
    assert {key_slot(key) for key in keys} == {key_slot(state.prefix.encode())}
    assert state.available
    await state.aclose()
    await client.aclose()


def prefixes_on_two_nodes(cluster: Cluster) -> tuple[str, str]:
    first = "tenant-0"
    for n in range(1, 100):
        other = f"tenant-{n}"
        if cluster.owner(hash_tagged(other)) != cluster.owner(hash_tagged(first)):
            return first, other
    raise AssertionError("every prefix hashed to one node")


async def test_a_stopped_node_costs_only_the_accounts_it_holds(cluster: Cluster) -> None:
    kept, lost = prefixes_on_two_nodes(cluster)
    # One client each, as two tenants' workers would have (a client shared with the account
    # on the stopped node refreshes its slot map after the error, which may cost one timeout).
    clients = {prefix: connect(cluster.url) for prefix in (kept, lost)}
    states = {prefix: RedisState(clients[prefix], prefix=prefix) for prefix in (kept, lost)}
    for state in states.values():
        assert await state.first_times(["a", "b"], 60) == [True, True]
    cluster.stop_node(cluster.owner(hash_tagged(lost)))
    # The account on the stopped node falls back to local state (fail-open); its local twin
    # never saw "a", so it is handled again rather than lost.
    assert await states[lost].first_times(["a", "c"], 60) == [True, True]
    assert not states[lost].available
    # The other account's keys are on a live node: still shared.
    assert await states[kept].first_times(["a", "c"], 60) == [False, True]
    assert states[kept].available
    for prefix, state in states.items():
        await state.aclose()
        await clients[prefix].aclose()


def test_a_cluster_client_without_pubsub_is_refused() -> None:
    """redis-py before 8 has no pub/sub on `redis.asyncio.RedisCluster`: say so up front."""

    class OldRedisCluster:
        def register_script(self, _: str) -> Any:
            return None

    with pytest.raises(ValidationError, match="redis-py 8"):
        RedisState(OldRedisCluster())  # type: ignore[arg-type]
