"""`permissions.ensure` decides from the actions the API reports (`start_call`,
`send_call_permission_request`), whatever the status word (`granted`, Meta's OpenAPI word,
included); a word never grants on its own, nothing is sent unless the API says a request may be
sent now, and a request carries exactly the body text given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from d360_calling import (
    CallPermissions,
    Client,
    EnsureOutcome,
    EnsureResult,
    PermissionStatus,
    SessionDescription,
)
from d360_calling.endpoints.permissions import decide
from d360_calling.models.converter import converter
from d360_calling.sandbox import OFFER_SDP, Limits, Sandbox

from ..support.backends import Backend

USER = "14155550123"
MESSAGE_ID = "wamid.HBgLMTQxNTU1NTAxMjMVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
MESSAGE_RESPONSE = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": USER, "wa_id": USER}],
    "messages": [{"id": MESSAGE_ID}],
}
CALL_LIMIT_FREES_AT = 1767225600  # 2026-01-01T00:00:00Z


def action(name: str, allowed: Any, *, exhausted: bool = False) -> dict[str, Any]:
    limit: dict[str, Any] = {"time_period": "PT24H", "max_allowed": 5, "current_usage": 1}
    if exhausted:
        limit.update(current_usage=5, limit_expiration_time=CALL_LIMIT_FREES_AT)
    return {"action_name": name, "can_perform_action": allowed, "limits": [limit]}


def body(status: str, *, start: Any, request: Any, start_exhausted: bool = False) -> dict[str, Any]:
    """A permissions answer; `start` / `request` of `None` leave that action out."""
    actions = []
    if request is not None:
        actions.append(action("send_call_permission_request", request))
    if start is not None:
        actions.append(action("start_call", start, exhausted=start_exhausted))
    return {"messaging_product": "whatsapp", "permission": {"status": status}, "actions": actions}


# (id, answer, expected outcome, messages sent)
CASES = [
    # Other status words (Meta's OpenAPI spec has granted, pending, denied, expired): the
    # actions decide; a word never grants on its own.
    ("expired-may-ask", body("expired", start=False, request=True), "REQUESTED", 1),
    ("expired-may-not-ask", body("expired", start=False, request=False), "NOT_ALLOWED", 0),
    ("denied", body("denied", start=False, request=False), "NOT_ALLOWED", 0),
    ("denied-may-ask", body("denied", start=False, request=True), "REQUESTED", 1),
    ("pending", body("pending", start=False, request=False), "NOT_ALLOWED", 0),
    ("granted-start-true", body("granted", start=True, request=False), "ALREADY_GRANTED", 0),
    ("granted-start-false", body("granted", start=False, request=True), "CALLS_LIMITED", 0),
    ("granted-no-actions", body("granted", start=None, request=None), "CALLS_LIMITED", 0),
    ("pending-start-true", body("pending", start=True, request=False), "ALREADY_GRANTED", 0),
    ("future-start-true", body("future_status", start=True, request=True), "ALREADY_GRANTED", 0),
    ("future-no-actions", body("future_status", start=None, request=None), "NOT_ALLOWED", 0),
    # Granted, but a limit forbids calls now: not granted, and asking again would not help.
    (
        "temporary-24h-exhausted",
        body("temporary", start=False, request=True, start_exhausted=True),
        "CALLS_LIMITED",
        0,
    ),
    (
        "permanent-24h-exhausted",
        body("permanent", start=False, request=False, start_exhausted=True),
        "CALLS_LIMITED",
        0,
    ),
    ("permanent-no-actions", body("permanent", start=None, request=None), "CALLS_LIMITED", 0),
    # A string "false" is false (item 6), so it must not read as a grant either.
    (
        "permanent-start-string-false",
        body("permanent", start="false", request=False),
        "CALLS_LIMITED",
        0,
    ),
    # The normal cases.
    ("permanent", body("permanent", start=True, request=False), "ALREADY_GRANTED", 0),
    ("temporary", body("temporary", start=True, request=True), "ALREADY_GRANTED", 0),
    ("temporary-upper-case", body("TEMPORARY", start=True, request=False), "ALREADY_GRANTED", 0),
    ("no-permission-may-ask", body("no_permission", start=False, request=True), "REQUESTED", 1),
    (
        "no-permission-may-not-ask",
        body("no_permission", start=False, request=False),
        "NOT_ALLOWED",
        0,
    ),
    # The API's start_call is what allows a call, whatever the word says.
    (
        "no-permission-start-true",
        body("no_permission", start=True, request=False),
        "ALREADY_GRANTED",
        0,
    ),
    ("no-permission-no-actions", body("no_permission", start=None, request=None), "NOT_ALLOWED", 0),
]


@pytest.mark.parametrize(
    ("answer", "expected", "sent"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
async def test_ensure_decides_from_the_reported_actions(
    backend: Backend, answer: dict[str, Any], expected: str, sent: int
) -> None:
    backend.respond("GET", f"/calling/permissions/{USER}", json=answer)
    backend.respond("POST", "/messages", json=MESSAGE_RESPONSE)
    result = await backend.client.permissions.ensure(USER)
    assert result.granted is (expected == "ALREADY_GRANTED")
    assert result.granted <= result.permissions.can_start_call
    posts = [seen for seen in backend.seen() if seen.path == "/messages"]
    assert len(posts) == sent
    assert result.message_id == (MESSAGE_ID if sent else None)
    assert result.outcome is EnsureOutcome[expected]
    limits = [limit for each in answer["actions"] for limit in each["limits"]]
    if any("limit_expiration_time" in limit for limit in limits):
        assert result.next_call_allowed_at == datetime(2026, 1, 1, tzinfo=UTC)


def permissions(answer: dict[str, Any]) -> CallPermissions:
    return converter.structure(answer, CallPermissions)


@pytest.mark.parametrize("status", ["expired", "denied", "pending", "", "temporary "])
def test_unknown_status_is_never_a_grant_on_its_own(status: str) -> None:
    read = permissions(body(status, start=None, request=None))
    assert read.status.is_known is False
    assert read.has_permission is False
    assert decide(read) is EnsureOutcome.NOT_ALLOWED
    allowed = permissions(body(status, start=True, request=True))
    assert allowed.can_start_call is True  # what the API said, reported as is
    assert decide(allowed) is EnsureOutcome.ALREADY_GRANTED  # the actions decide


def test_granted_needs_the_outcome_and_the_api_saying_yes() -> None:
    limited = permissions(body("permanent", start=False, request=False, start_exhausted=True))
    crafted = EnsureResult(EnsureOutcome.ALREADY_GRANTED, limited)
    assert crafted.granted is False  # a hand-built result cannot claim what the API denied
    silent = permissions(body("permanent", start=None, request=None))
    assert EnsureResult(EnsureOutcome.ALREADY_GRANTED, silent).granted is False
    allowed = permissions(body("temporary", start=True, request=False))
    assert EnsureResult(EnsureOutcome.ALREADY_GRANTED, allowed).granted is True
    assert EnsureResult(EnsureOutcome.CALLS_LIMITED, allowed).granted is False


def test_permission_status_grants_calls() -> None:
    assert PermissionStatus.TEMPORARY.grants_calls
    assert PermissionStatus.PERMANENT.grants_calls
    assert PermissionStatus("Permanent").grants_calls  # known values match in any case
    assert not PermissionStatus.NO_PERMISSION.grants_calls
    assert PermissionStatus.GRANTED.grants_calls  # Meta's OpenAPI word
    assert PermissionStatus("GRANTED") is PermissionStatus.GRANTED
    for unknown in ("expired", "denied", "pending"):
        assert not PermissionStatus(unknown).grants_calls


async def test_ensure_sends_exactly_the_body_text_given(backend: Backend) -> None:
    text = "  Darf Zoë Sie anrufen? Bestellung #4471 ✓\nAntworten Sie hier.  "
    backend.respond(
        "GET", f"/calling/permissions/{USER}", json=body("no_permission", start=False, request=True)
    )
    backend.respond("POST", "/messages", json=MESSAGE_RESPONSE)
    result = await backend.client.permissions.ensure(USER, text)
    assert result.outcome is EnsureOutcome.REQUESTED
    (post,) = [seen for seen in backend.seen() if seen.path == "/messages"]
    interactive = post.json["interactive"]
    assert interactive["type"] == "call_permission_request"
    assert interactive["body"] == {"text": text}
    assert post.json["to"] == USER


# --- against the sandbox --------------------------------------------------------------------


async def test_ensure_against_the_sandbox(d360_sandbox: Sandbox, d360_client: Client) -> None:
    first = await d360_client.permissions.ensure(USER, "May we call you?")
    assert first.outcome is EnsureOutcome.REQUESTED
    assert first.granted is False
    assert first.message_id is not None
    assert d360_sandbox.stats.effects["messages.send"] == 1

    d360_sandbox.set_permission(USER, "permanent")
    granted = await d360_client.permissions.ensure(USER)
    assert granted.outcome is EnsureOutcome.ALREADY_GRANTED
    assert granted.granted is True
    assert d360_sandbox.stats.requests["messages.send"] == 1


async def test_ensure_when_the_daily_call_limit_is_used_up() -> None:
    async with (
        Sandbox(api_key="k", limits=Limits(connected_calls_per_day=1)) as sandbox,
        Client("k", base_url=sandbox.base_url, retry=None) as client,
    ):
        sandbox.set_permission(USER, "permanent")
        placed = await client.calls.connect(USER, SessionDescription.offer(OFFER_SDP))
        await sandbox.user_answers(placed.call_id)
        await client.calls.terminate(placed.call_id)

        result = await client.permissions.ensure(USER)
        assert result.permissions.status is PermissionStatus.PERMANENT
        assert result.permissions.can_start_call is False
        assert result.granted is False
        assert result.outcome is EnsureOutcome.CALLS_LIMITED
        assert result.next_call_allowed_at is not None
        assert result.next_call_allowed_at > datetime.fromtimestamp(sandbox.clock.now(), UTC)
        assert sandbox.stats.requests["messages.send"] == 0

        sandbox.clock.advance(24 * 3600 + 1)
        again = await client.permissions.ensure(USER)
        assert again.outcome is EnsureOutcome.ALREADY_GRANTED
        assert again.granted is True
        assert sandbox.stats.requests["messages.send"] == 0
