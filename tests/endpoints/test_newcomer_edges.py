"""Issue 26, the library's side: terminating an ended call is settled, phone numbers are taken
as people type them, and a timeout given as a string is a `ValidationError` naming it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d360_calling import (
    BadRequestError,
    CallActionResult,
    CallingNotEnabledError,
    Client,
    SessionDescription,
    ValidationError,
    validation,
)
from d360_calling.sandbox import ANSWER_SDP, OFFER_SDP, Sandbox
from d360_calling.session import Timeout
from d360_calling.webhooks import IncomingCall

from ..support.backends import Backend
from ..support.bots import running_bot
from ..support.samples import CALL_ID, CONNECT_RESPONSE, PERMISSIONS, SUCCESS

USER = "14155550123"
TYPED = "+1 (415) 555-0123"
FORM = "must be digits only, with the country code, e.g. 14155550123"


@pytest.fixture
async def sandboxed() -> AsyncIterator[tuple[Sandbox, Client]]:
    """A sandbox on 127.0.0.1 without webhooks, and a client on it."""
    async with Sandbox(api_key="sandbox-key") as sandbox:
        async with Client("sandbox-key", base_url=sandbox.base_url) as client:
            yield sandbox, client


# --- item 4: terminating a call that already ended -------------------------------------


async def test_terminate_after_the_user_hung_up_is_settled(
    sandboxed: tuple[Sandbox, Client], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, client = sandboxed
    call_id = await sandbox.ring(USER)
    await client.calls.pre_accept(call_id, SessionDescription.answer(ANSWER_SDP))
    await sandbox.user_hangs_up(call_id)
    assert sandbox.calls[call_id].state == "terminated"
    with caplog.at_level(logging.DEBUG, logger="d360_calling"):
        result = await client.calls.terminate(call_id)
    assert result == CallActionResult(success=True)
    assert any("had already ended" in r.getMessage() for r in caplog.records)
    assert sandbox.stats.requests["calls.terminate"] == 1  # it was asked, and answered 400


async def test_incoming_call_terminate_after_the_caller_hung_up() -> None:
    async with asyncio.timeout(10), running_bot() as bot:
        calls: asyncio.Queue[IncomingCall] = asyncio.Queue()

        @bot.router.on_connect
        async def answer(call: IncomingCall) -> None:
            await call.pre_accept(ANSWER_SDP)
            await calls.put(call)

        call_id = await bot.sandbox.ring(USER)
        call = await calls.get()
        assert call.call_id == call_id
        await bot.sandbox.user_hangs_up(call_id)
        assert (await bot.ended.get()).call_id == call_id
        assert await call.terminate() == CallActionResult(success=True)


async def test_terminate_twice_and_after_a_rejection_are_settled(
    sandboxed: tuple[Sandbox, Client],
) -> None:
    sandbox, client = sandboxed
    call_id = await sandbox.ring(USER)
    assert (await client.calls.terminate(call_id)).success
    assert (await client.calls.terminate(call_id)).success  # ours, again
    sandbox.set_permission(USER, "permanent")
    placed = await client.calls.connect(USER, SessionDescription.offer(OFFER_SDP))
    await sandbox.user_rejects(placed.call_id)
    assert (await client.calls.terminate(placed.call_id)).success


async def test_terminate_of_an_unknown_call_still_raises(
    sandboxed: tuple[Sandbox, Client],
) -> None:
    _, client = sandboxed
    with pytest.raises(BadRequestError, match="no call with id"):
        await client.calls.terminate("wacid.NOT-A-CALL")


async def test_other_actions_on_an_ended_call_still_raise(
    sandboxed: tuple[Sandbox, Client],
) -> None:
    sandbox, client = sandboxed
    call_id = await sandbox.ring(USER)
    await sandbox.user_hangs_up(call_id)
    with pytest.raises(BadRequestError, match="cannot reject"):
        await client.calls.reject(call_id)


def meta_error(code: int, message: str, details: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"(#{code}) {message}", "type": "OAuthException"}
    error["code"] = code
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


@pytest.mark.parametrize(
    "body",
    [
        meta_error(100, "Invalid parameter", "call_id: cannot terminate a call that is rejected"),
        meta_error(100, "Invalid parameter", "Call has already been terminated"),
        meta_error(100, "Invalid parameter. The call was already ended"),
    ],
)
async def test_api_saying_the_call_ended_settles_terminate(
    backend: Backend, body: dict[str, Any]
) -> None:
    backend.respond("POST", "/calling/calls", status=400, json=body)
    assert await backend.client.calls.terminate(CALL_ID) == CallActionResult(success=True)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, meta_error(100, "Invalid parameter", "call_id: malformed"), BadRequestError),
        (400, meta_error(100, "Invalid parameter"), BadRequestError),
        (400, meta_error(131009, "Not valid", "call already ended"), BadRequestError),
        (401, meta_error(138000, "Not enabled", "call already ended"), CallingNotEnabledError),
    ],
)
async def test_other_refusals_of_terminate_still_raise(
    backend: Backend, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    backend.respond("POST", "/calling/calls", status=status, json=body)
    with pytest.raises(error):
        await backend.client.calls.terminate(CALL_ID)


async def test_success_answer_of_terminate_is_unchanged(backend: Backend) -> None:
    backend.respond("POST", "/calling/calls", json=SUCCESS)
    result = await backend.client.calls.terminate(CALL_ID)
    assert result == CallActionResult(success=True, messaging_product="whatsapp")


# --- item 6: phone numbers as people type them -----------------------------------------


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("+14155550123", USER),
        (TYPED, USER),
        ("1-415-555-0123", USER),
        (" +1 415.555.0123 ", USER),
        ("+44 20 7946 0958", "442079460958"),
        ("+49\u00a0151\u201112345678", "4915112345678"),  # a pasted no-break space and hyphen
        ("0" + USER, "0" + USER),  # plain digits pass unchanged, as always
    ],
)
def test_typed_numbers_become_digits(typed: str, digits: str) -> None:
    assert validation.wa_id(typed) == digits


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "no digits"),
        ("+", "no digits"),
        ("1+415 555 0123", "a + only at the start"),
        ("+1 415 CALL-NOW", "'C' is not part of a number"),
        ("1415\n5550123", "is not part of a number"),
        ("+1 (415 555 0123", "parentheses do not match"),
        ("+1 415 555 0123-", "separators go between digits"),
        ("+" + "1" * 21, "21 digits, at most 20"),
        ("00 1 415 555 0123", "no country code starts with 0"),
        ("+0 415 555 0123", "no country code starts with 0"),
        ("\u0661\u0662\u0663", "is not part of a number"),  # Arabic-Indic digits
    ],
)
def test_wrong_numbers_show_the_expected_form(typed: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validation.wa_id(typed, "to")
    assert refused.value.field == "to"
    assert f"invalid to: {FORM}; got {typed!r}" in str(refused.value)
    assert reason in str(refused.value)


def test_a_number_that_is_no_string_names_its_type() -> None:
    with pytest.raises(ValidationError, match=rf"{FORM}, as a str; got int 14155550123"):
        validation.wa_id(14155550123)


async def test_every_endpoint_taking_a_number_sends_its_digits(backend: Backend) -> None:
    sent = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.X"}]}
    backend.respond("POST", "/calling/calls", json=CONNECT_RESPONSE)
    backend.respond("GET", f"/calling/permissions/{USER}", json=PERMISSIONS)
    for _ in range(3):
        backend.respond("POST", "/messages", json=sent)
    backend.respond("GET", f"/calling/permissions/{USER}", json=PERMISSIONS)
    client = backend.client
    await client.calls.connect(TYPED, SessionDescription.offer(OFFER_SDP))
    await client.permissions.get(TYPED)
    await client.permissions.request(TYPED)
    await client.permissions.request_by_template(TYPED, "ask", "en")
    await client.messages.send_call_button(TYPED, "Call us")
    ensured = await client.permissions.ensure(TYPED)  # a grant already: only reads it
    assert ensured.permissions.has_permission
    seen = backend.seen()  # grouped by URL with aioresponses
    assert sorted(s.path for s in seen) == sorted(
        ["/calling/calls", *[f"/calling/permissions/{USER}"] * 2, *["/messages"] * 3]
    )
    assert [s.json["to"] for s in seen if s.method == "POST"] == [USER] * 4


async def test_a_wrong_number_sends_nothing(backend: Backend) -> None:
    with pytest.raises(ValidationError, match=re.escape(FORM)) as refused:
        await backend.client.calls.connect("+1 415 CALL-NOW", SessionDescription.offer(OFFER_SDP))
    assert refused.value.field == "to"
    with pytest.raises(ValidationError) as refused:
        await backend.client.permissions.ensure("1+4155550123")
    assert refused.value.field == "wa_id"
    assert backend.seen() == []


SEPARATOR = st.sampled_from([" ", "-", ".", "\u00a0", "\u2011", " - "])


@st.composite
def typed_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A number with its country code (first digit 1-9), written the way people do."""
    digits = draw(st.from_regex(r"[1-9][0-9]{0,19}", fullmatch=True))
    parts = [digits[0]]
    for digit in digits[1:]:
        if draw(st.booleans()):
            parts.append(draw(SEPARATOR))
        parts.append(digit)
    text = "".join(parts)
    if len(digits) > 4 and draw(st.booleans()):
        text = f"{text[:1]} ({text[1:-2]}) {text[-2:]}".replace("( ", "(").replace(" )", ")")
    return draw(st.sampled_from(["", "+", "+ ", " +"])) + text, digits


@given(typed_numbers())
def test_any_typed_number_becomes_exactly_its_digits(case: tuple[str, str]) -> None:
    typed, digits = case
    assert validation.wa_id(typed) == digits


@given(st.text(max_size=30))
def test_whatever_is_accepted_is_its_own_digits(value: str) -> None:
    refused: ValidationError | None = None
    try:
        accepted = validation.wa_id(value)
    except ValidationError as error:
        refused = error
    if refused is not None:
        assert refused.field == "wa_id"
        assert FORM in refused.problem
        return
    assert re.fullmatch(r"[0-9]{1,20}", accepted)
    assert accepted == "".join(c for c in value if c in "0123456789")
    assert not re.search(r"[A-Za-z\x00-\x1f]", value)


# --- item 8: a timeout given as a string --------------------------------------------------


async def test_a_string_timeout_is_a_validation_error_per_call(backend: Backend) -> None:
    for call in (
        lambda: backend.client.permissions.get(USER, timeout="5"),  # type: ignore[arg-type]
        lambda: backend.client.calls.terminate(CALL_ID, timeout="5"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValidationError) as refused:
            await call()
        assert refused.value.field == "timeout"
        assert "timeout: must be a number of seconds, got str '5'" in str(refused.value)
    with pytest.raises(ValidationError, match="number of seconds, got str '5'"):
        backend.client.with_options(timeout="5")  # type: ignore[arg-type]
    assert backend.seen() == []


@pytest.mark.parametrize("value", ["5", b"5", None, [5], True, float("nan"), -1, 0])
def test_seconds_names_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        validation.seconds("connect_timeout", value)
    assert refused.value.field == "connect_timeout"
    assert "number of seconds" in refused.value.problem


def test_a_string_in_timeout_parts_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as refused:
        Timeout(total="5")  # type: ignore[arg-type]
    assert refused.value.field == "timeout"


def test_a_client_timeout_given_as_text_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="number of seconds, got str '5'"):
        Client("k", timeout="5")  # type: ignore[arg-type]
