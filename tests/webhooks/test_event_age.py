"""Every timestamped event older than `max_event_age` (by default the dedupe window) is dropped
with a log line, so a signed delivery replayed after dedupe forgot it runs nothing."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from d360_calling import ValidationError
from d360_calling.shared_state import LocalState
from d360_calling.webhooks import PermissionReply, Receiver, Router, sign

from ..support.webhooks import envelope

SECRET = "age-secret"
HOUR = 3600


def permission_accept(timestamp: int) -> bytes:
    """A user's "accept" of a call-permission request, signed at `timestamp`."""
    message = {
        "from": "16315551234",
        "id": f"wamid.reply-{timestamp}",
        "timestamp": str(timestamp),
        "type": "interactive",
        "interactive": {
            "type": "call_permission_reply",
            "call_permission_reply": {"response": "accept", "is_permanent": True},
        },
    }
    return envelope("messages", {"messaging_product": "whatsapp", "messages": [message]})


def counting_receiver(**options: Any) -> tuple[Receiver, Counter[str]]:
    router, seen = Router(), Counter[str]()

    @router.on_permission_reply
    async def granted(event: PermissionReply) -> None:
        seen[event.from_ or ""] += 1

    return Receiver(router, secret=SECRET, **options), seen


async def deliver(receiver: Receiver, body: bytes) -> int:
    return (await receiver.receive(body, sign(body, SECRET))).status


async def settle(receiver: Receiver) -> None:
    await receiver.aclose()  # waits for the handlers


async def test_a_replay_after_a_restart_is_dropped_by_its_age(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A captured reply from two hours ago, replayed on a fresh in-process state (dedupe has
    forgotten it) to a receiver with a one-hour window: answered 200, handled never."""
    receiver, seen = counting_receiver(dedupe_ttl=HOUR, shared_state=LocalState())
    assert await deliver(receiver, permission_accept(int(time.time()) - 2 * HOUR)) == 200
    await settle(receiver)
    assert seen == {}
    assert receiver.stats["expired"] == 1
    assert "older than max_event_age" in caplog.text


async def test_an_event_within_the_window_is_handled() -> None:
    receiver, seen = counting_receiver(dedupe_ttl=HOUR)
    assert await deliver(receiver, permission_accept(int(time.time()) - HOUR // 2)) == 200
    await settle(receiver)
    assert seen == {"16315551234": 1}
    assert receiver.stats["expired"] == 0


async def test_max_event_age_below_the_window_drops_sooner() -> None:
    receiver, seen = counting_receiver(max_event_age=60)
    assert await deliver(receiver, permission_accept(int(time.time()) - 120)) == 200
    assert await deliver(receiver, permission_accept(int(time.time()) - 5)) == 200
    await settle(receiver)
    assert seen == {"16315551234": 1}
    assert receiver.stats["expired"] == 1


async def test_the_default_window_is_the_dedupe_window() -> None:
    receiver, seen = counting_receiver()  # dedupe_ttl: a day, as the platform retries
    assert await deliver(receiver, permission_accept(int(time.time()) - 23 * HOUR)) == 200
    assert await deliver(receiver, permission_accept(int(time.time()) - 25 * HOUR)) == 200
    await settle(receiver)
    assert sum(seen.values()) == 1
    assert receiver.stats["expired"] == 1


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_event_age": 2 * HOUR, "dedupe_ttl": HOUR}, "max_event_age"),
        ({"max_event_age": 0}, "max_event_age"),
        ({"max_event_age": float("nan")}, "max_event_age"),
        ({"dedupe_ttl": -1}, "dedupe_ttl"),
    ],
)
def test_an_age_bound_past_the_dedupe_window_is_refused(
    options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Receiver(Router(), secret=SECRET, **options)
    assert refused.value.field == field


async def test_expired_events_do_not_touch_the_shared_state() -> None:
    receiver, _ = counting_receiver(dedupe_ttl=HOUR)
    assert isinstance(receiver.shared_state, LocalState)
    await deliver(receiver, permission_accept(int(time.time()) - 2 * HOUR))
    await settle(receiver)
    assert receiver.shared_state.dedupe_size() == 0
