"""Webhook signing, ordering and duplication switches, and delivery failures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

import aiohttp
import pytest

from d360_calling.sandbox import Sandbox, WebhookDelivery
from tests.sandbox.conftest import SECRET
from tests.support.sandbox import KEY, USER, Receiver, calls_value, connect_body


def hexdigest(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_360dialog_signature_is_bare_hex_of_the_raw_body(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    await sandbox.ring(USER)
    [item] = receiver.received
    signature = item.headers["x-360dialog-signature"]
    assert signature == hexdigest(item.body)
    assert signature == signature.lower()
    assert len(signature) == 64
    assert "X-Hub-Signature-256" not in item.headers
    assert item.headers["Content-Type"] == "application/json"


async def test_meta_signature_is_prefixed(receiver: Receiver) -> None:
    async with Sandbox(
        webhook_url=receiver.url, webhook_secret="app-secret", signature="meta"
    ) as box:
        await box.ring(USER)
    [item] = receiver.received
    assert item.headers["X-Hub-Signature-256"] == "sha256=" + hexdigest(item.body, "app-secret")
    assert "x-360dialog-signature" not in item.headers


async def test_no_secret_no_signature(receiver: Receiver) -> None:
    async with Sandbox(webhook_url=receiver.url) as box:
        await box.ring(USER)
    [item] = receiver.received
    assert "x-360dialog-signature" not in item.headers
    assert "X-Hub-Signature-256" not in item.headers


def test_unknown_signature_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="signature"):
        Sandbox(signature="sha1")  # type: ignore[arg-type]


async def test_shuffle_releases_pending_deliveries_in_a_seeded_order() -> None:
    users = [f"1415555000{n}" for n in range(8)]

    async def order(seed: int) -> list[str]:
        async with Sandbox(delivery=WebhookDelivery(shuffle=True, seed=seed)) as box:
            await asyncio.gather(*(box.ring(user) for user in users))
            return [calls_value(p)["calls"][0]["from"] for p in box.webhooks]

    first, again = await order(3), await order(3)
    assert first == again
    assert sorted(first) == users
    assert first != users


async def test_without_shuffle_deliveries_keep_their_order() -> None:
    users = [f"1415555000{n}" for n in range(8)]
    async with Sandbox() as box:
        await asyncio.gather(*(box.ring(user) for user in users))
        assert [calls_value(p)["calls"][0]["from"] for p in box.webhooks] == users


async def test_duplicate_delivers_each_payload_twice(receiver: Receiver) -> None:
    delivery = WebhookDelivery(duplicate=True)
    async with Sandbox(webhook_url=receiver.url, delivery=delivery) as box:
        call_id = await box.ring(USER)
        await box.user_hangs_up(call_id)
    assert receiver.events() == ["connect", "connect", "terminate", "terminate"]
    assert receiver.received[0].body == receiver.received[1].body
    assert receiver.received[2].body == receiver.received[3].body
    assert len(box.webhooks) == 4


async def test_failed_deliveries_are_recorded_not_raised(receiver: Receiver) -> None:
    receiver.status = 500
    async with Sandbox(webhook_url=receiver.url) as box:
        call_id = await box.ring(USER)
        assert box.calls[call_id].state == "ringing"
        [failure] = box.webhook_failures
        assert failure.error == "HTTP 500"
        assert failure.payload == box.webhooks[0]


async def test_unreachable_webhook_url_is_recorded(receiver: Receiver) -> None:
    url = receiver.url
    await receiver.close()
    async with Sandbox(webhook_url=url) as box:
        await box.ring(USER)
        [failure] = box.webhook_failures
        assert "Connect" in failure.error


async def test_api_answers_do_not_wait_for_webhook_delivery(receiver: Receiver) -> None:
    receiver.delay = 0.3
    async with (
        Sandbox(webhook_url=receiver.url) as box,
        aiohttp.ClientSession(base_url=box.base_url, headers={"D360-API-KEY": KEY}) as http,
    ):
        box.set_permission(USER, "temporary")
        started = time.perf_counter()
        async with http.post("/calling/calls", json=connect_body()) as response:
            assert response.status == 200
        assert time.perf_counter() - started < 0.2
        assert receiver.received == []
        await box.webhooks_idle()
        assert receiver.events() == ["RINGING"]


async def test_without_url_webhooks_are_only_recorded() -> None:
    async with Sandbox() as box:
        call_id = await box.ring(USER)
        assert box.webhooks[0]["entry"][0]["changes"][0]["value"]["calls"][0]["id"] == call_id
        assert box.webhook_failures == []
