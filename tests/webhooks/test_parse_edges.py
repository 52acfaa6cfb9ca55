"""Payload edges collected outside the project (issue 12): integral floats, millisecond times,
per-item isolation, the June 2026 fields, the exported enums, and typed router decorators."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from d360_calling import webhooks
from d360_calling.webhooks import (
    CallConnect,
    CallDirection,
    CallOutcome,
    CallTerminate,
    MalformedEvent,
    PermissionReply,
    PermissionResponse,
    WebhookError,
    parse,
    to_envelope,
)
from tests.support.typecheck import mypy_strict

STAMP = 1671644824
T0 = datetime.fromtimestamp(STAMP, tz=UTC)


def calls_envelope(*calls: Any, key: str = "calls") -> dict[str, Any]:
    value = {"messaging_product": "whatsapp", key: list(calls)}
    return {"entry": [{"id": "1", "changes": [{"field": "calls", "value": value}]}]}


def terminate(call_id: str = "wacid.t", **fields: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "from": "16315553602",
        "to": "16315553601",
        "event": "terminate",
        "timestamp": str(STAMP),
        "direction": "USER_INITIATED",
        "status": "COMPLETED",
        **fields,
    }


def connect(call_id: str = "wacid.c", **fields: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "from": "16315553602",
        "to": "16315553601",
        "event": "connect",
        "timestamp": str(STAMP),
        "direction": "USER_INITIATED",
        "session": {"sdp_type": "offer", "sdp": "v=0\r\n"},
        **fields,
    }


@pytest.mark.parametrize(("duration", "expected"), [(31.0, 31), ("20.0", 20), ("20", 20), (7, 7)])
def test_integral_floats_are_read_as_integers(duration: Any, expected: int) -> None:
    (event,) = parse(json.dumps(calls_envelope(terminate(duration=duration))), strict=True)
    assert isinstance(event, CallTerminate)
    assert event.duration == expected


@pytest.mark.parametrize("duration", [31.5, "2m", "1e3", float("inf"), True, "-3"])
def test_other_numbers_are_still_malformed(duration: Any) -> None:
    (event,) = parse(calls_envelope(terminate(duration=duration)))
    assert isinstance(event, MalformedEvent)
    assert event.path == "entry[0].changes[0].value.calls[0].duration"
    assert event.error.problem.startswith("expected an integer")


@pytest.mark.parametrize("stamp", [STAMP * 1000, str(STAMP * 1000), STAMP, str(STAMP)])
def test_millisecond_timestamps_are_read_as_milliseconds(stamp: Any) -> None:
    (event,) = parse(calls_envelope(terminate(timestamp=stamp, start_time=stamp)))
    assert isinstance(event, CallTerminate)
    assert event.timestamp == T0
    assert event.start_time == T0


def test_a_bad_item_costs_only_itself_in_every_list() -> None:
    body = calls_envelope(connect("wacid.1"), "junk", terminate("wacid.2", duration={}))
    status_body = calls_envelope(
        {"id": "wacid.3", "type": "call", "status": "RINGING", "timestamp": str(STAMP)},
        {"id": "wacid.4", "type": "call", "timestamp": str(STAMP)},
        key="statuses",
    )
    body["entry"][0]["changes"] += status_body["entry"][0]["changes"]
    body["entry"].append(7)
    events = parse(json.dumps(body))
    kinds = [type(event).__name__ for event in events]
    assert kinds == [
        "CallConnect",
        "MalformedEvent",
        "MalformedEvent",
        "CallStatus",
        "MalformedEvent",
        "MalformedEvent",
    ]
    paths = [event.path for event in events if isinstance(event, MalformedEvent)]
    assert paths == [
        "entry[0].changes[0].value.calls[1]",
        "entry[0].changes[0].value.calls[2].duration",
        "entry[0].changes[1].value.statuses[1].status",
        "entry[1]",
    ]
    keys = {event.dedupe_key for event in events}
    assert len(keys) == len(events)
    with pytest.raises(WebhookError, match=r"calls\[1\]: expected an object"):
        parse(json.dumps(body), strict=True)
    # A malformed part goes back where it came from, so a replay carries it too.
    again = parse(json.dumps(to_envelope(events)))
    assert [type(event) for event in again] == [type(event) for event in events]


def test_a_malformed_change_keeps_the_other_changes() -> None:
    good = calls_envelope(connect("wacid.ok"))["entry"][0]["changes"][0]
    body = {"entry": [{"id": "1", "changes": [{"field": "calls", "value": []}, good]}]}
    bad, ok = parse(body)
    assert isinstance(bad, MalformedEvent)
    assert bad.item_key == "changes"
    assert bad.field == "calls"
    assert isinstance(ok, CallConnect)
    assert ok.call_id == "wacid.ok"


# --- 8. documented fields that vanished ---------------------------------------------------


def test_from_parent_user_id_and_payloads_survive_parse_and_to_envelope() -> None:
    parent = "US.ENT.11815799212886844830"
    call_connect = connect(from_user_id="US.1", from_parent_user_id=parent)
    call_end = terminate(
        from_parent_user_id=parent, deeplink_payload="promo-2026", cta_payload="button-7"
    )
    reply = {
        "from": "16315553602",
        "from_user_id": "US.1",
        "from_parent_user_id": parent,
        "id": "wamid.r",
        "timestamp": str(STAMP),
        "type": "interactive",
        "interactive": {
            "type": "call_permission_reply",
            "call_permission_reply": {"response": "accept", "is_permanent": False},
        },
    }
    body = calls_envelope(call_connect, call_end)
    messages = {"messaging_product": "whatsapp", "messages": [reply]}
    body["entry"][0]["changes"].append({"field": "messages", "value": messages})
    first, second, third = parse(json.dumps(body), strict=True)
    assert isinstance(first, CallConnect)
    assert first.from_parent_user_id == parent
    assert isinstance(second, CallTerminate)
    assert second.from_parent_user_id == parent
    assert second.deeplink_payload == "promo-2026"
    assert second.cta_payload == "button-7"
    assert isinstance(third, PermissionReply)
    assert third.from_parent_user_id == parent
    rebuilt = to_envelope([first, second, third])
    assert rebuilt["entry"][0]["changes"][0]["value"]["calls"] == [call_connect, call_end]
    assert rebuilt["entry"][0]["changes"][1]["value"]["messages"] == [reply]


def test_webhook_value_types_are_exported_and_compare_as_members() -> None:
    for name in (
        "CallOutcome",
        "CallProgress",
        "PermissionResponse",
        "ResponseSource",
        "CallDirection",
        "Contact",
        "Metadata",
        "MalformedEvent",
    ):
        assert name in webhooks.__all__
        assert getattr(webhooks, name).__module__ == "d360_calling.webhooks.events"
    (event,) = parse(calls_envelope(terminate(status="Completed")))
    assert isinstance(event, CallTerminate)
    assert event.direction is CallDirection.USER_INITIATED
    assert event.status is CallOutcome.COMPLETED
    assert PermissionResponse("accept") is PermissionResponse.ACCEPT


# --- 9. handler typing ----------------------------------------------------------------------


def test_mypy_refuses_a_handler_of_the_wrong_event(tmp_path: Path) -> None:
    """`@router.on_connect` on a `CallTerminate` handler is a type error; the right kinds pass."""
    source = textwrap.dedent(
        """
        from d360_calling.webhooks import (
            CallStatus, CallTerminate, IncomingCall, MalformedEvent, PermissionReply, Router,
        )

        router = Router()

        @router.on_connect
        async def wrong(event: CallTerminate) -> None: ...

        @router.on_terminate
        async def also_wrong(call: IncomingCall) -> None: ...

        @router.on_connect
        async def answer(call: IncomingCall) -> None: ...

        @router.on_terminate
        async def ended(event: CallTerminate) -> None: ...

        @router.on_status
        async def progress(event: CallStatus) -> None: ...

        @router.on_permission_reply
        async def reply(event: PermissionReply) -> None: ...

        @router.on_malformed
        async def bad(event: MalformedEvent) -> None: ...

        reveal_type(answer)
        """
    )
    errors, output = mypy_strict(tmp_path, source)
    assert len(errors) == 2, output
    assert "handlers.py:8:" in errors[0]
    assert "on_connect" in errors[0]
    assert "handlers.py:11:" in errors[1]
    assert "on_terminate" in errors[1]
    assert 'Revealed type is "def (call: d360_calling.webhooks.router.IncomingCall)' in (output)
