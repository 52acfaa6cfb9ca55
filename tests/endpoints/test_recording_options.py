"""Recording and transcription on `connect` and `accept` (API reference §11.1, issue 24 item 1).

The exact JSON sent, each refusal before a byte is sent (requests counted), the refusal of the
options on the other actions, and `IncomingCall.accept` / `answer_with_audio` passing them on;
against the scripted server and aioresponses (`backend`), and against the package's sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import d360_calling.media
from d360_calling import (
    Client,
    MediaFeature,
    Recording,
    SessionDescription,
    Transcription,
    ValidationError,
)
from d360_calling.models.calls import ANNOUNCEMENT_LANGUAGES, MAX_PURPOSE
from d360_calling.sandbox import ANSWER_SDP as SANDBOX_ANSWER
from d360_calling.sandbox import OFFER_SDP as SANDBOX_OFFER
from d360_calling.sandbox import Sandbox
from d360_calling.session import Request, Response
from d360_calling.webhooks import CallConnect, IncomingCall, Router

from ..support.backends import Backend
from ..support.samples import ANSWER_SDP, CALL_ID, OFFER_SDP, WA_ID

OFFER = SessionDescription.offer(OFFER_SDP)
ANSWER = SessionDescription.answer(ANSWER_SDP)
RECORDING = Recording("Quality assurance and training", "pt")
TRANSCRIPTION = Transcription("Call notes for your ticket")
RECORDING_JSON = {
    "status": "ENABLED",
    "purpose": "Quality assurance and training",
    "announcement_language": "pt",
}
TRANSCRIPTION_JSON = {
    "status": "ENABLED",
    "purpose": "Call notes for your ticket",
    "announcement_language": "en",
}


def calls_answer(backend: Backend) -> None:
    backend.respond(
        "POST",
        "/calling/calls",
        json={"messaging_product": "whatsapp", "success": True, "calls": [{"id": CALL_ID}]},
    )


# --- what goes on the wire -------------------------------------------------------------------


async def test_connect_sends_both_objects_beside_the_session(backend: Backend) -> None:
    calls_answer(backend)
    await backend.client.calls.connect(
        WA_ID, OFFER, recording=RECORDING, transcription=TRANSCRIPTION
    )
    (seen,) = backend.seen()
    assert seen.json == {
        "messaging_product": "whatsapp",
        "action": "connect",
        "to": WA_ID,
        "session": {"sdp_type": "offer", "sdp": OFFER_SDP},
        "recording": RECORDING_JSON,
        "transcription": TRANSCRIPTION_JSON,
    }


async def test_accept_sends_them_and_the_wire_form_is_still_taken(backend: Backend) -> None:
    calls_answer(backend)
    await backend.client.calls.accept(
        CALL_ID,
        ANSWER,
        biz_opaque_callback_data="t-42",
        recording=RECORDING,
        transcription=MediaFeature("DISABLED"),
    )
    await backend.client.calls.accept(
        CALL_ID, ANSWER, transcription=MediaFeature("ENABLED", "Notes", "es_ES")
    )
    first, second = (seen.json for seen in backend.seen())
    assert first == {
        "messaging_product": "whatsapp",
        "action": "accept",
        "call_id": CALL_ID,
        "session": {"sdp_type": "answer", "sdp": ANSWER_SDP},
        "biz_opaque_callback_data": "t-42",
        "recording": RECORDING_JSON,
        "transcription": {"status": "DISABLED"},
    }
    assert second["transcription"] == {
        "status": "ENABLED",
        "purpose": "Notes",
        "announcement_language": "es_ES",
    }
    assert "recording" not in second


async def test_left_out_means_not_recorded(backend: Backend) -> None:
    calls_answer(backend)
    await backend.client.calls.connect(WA_ID, OFFER)
    await backend.client.calls.accept(CALL_ID, ANSWER)
    for seen in backend.seen():
        assert "recording" not in seen.json
        assert "transcription" not in seen.json


# --- refused before sending ------------------------------------------------------------------


def bypassed(option: Recording | Transcription, **values: Any) -> Any:
    """`option` with checked fields overwritten past its constructor (the endpoint checks
    again: a frozen object can still be changed with `object.__setattr__`)."""
    for name, value in values.items():
        object.__setattr__(option, name, value)
    return option


REFUSED: list[tuple[str, Callable[[], Any], str, str]] = [
    ("recording", lambda: MediaFeature("ENABLED"), "recording.purpose", "is required"),
    ("recording", lambda: MediaFeature("ENABLED", "   ", "en"), "recording.purpose", "required"),
    (
        "recording",
        lambda: MediaFeature("ENABLED", "x" * (MAX_PURPOSE + 1), "en"),
        "recording.purpose",
        "at most 250 characters, got 251",
    ),
    (
        "transcription",
        lambda: MediaFeature("ENABLED", "Notes", "pt_BR"),
        "transcription.announcement_language",
        "got 'pt_BR'",
    ),
    (
        "transcription",
        lambda: MediaFeature("ENABLED", "Notes"),
        "transcription.announcement_language",
        "must be one of en, en_US",
    ),
    ("recording", lambda: MediaFeature("SOMETIMES"), "recording.status", "'SOMETIMES'"),
    ("recording", lambda: TRANSCRIPTION, "recording", "got Transcription; pass it as transcr"),
    ("transcription", lambda: RECORDING, "transcription", "got Recording; pass it as recording="),
    ("recording", lambda: "ENABLED", "recording", "Recording, MediaFeature or None, got str"),
    ("transcription", lambda: {"status": "ENABLED"}, "transcription", "got dict"),
    (
        "recording",
        lambda: bypassed(Recording("ok"), purpose=""),
        "recording.purpose",
        "is required",
    ),
    (
        "transcription",
        lambda: bypassed(Transcription("ok"), announcement_language="xx"),
        "transcription.announcement_language",
        "got 'xx'",
    ),
]


@pytest.mark.parametrize(
    ("argument", "value", "field", "problem"),
    REFUSED,
    ids=[f"{case[0]}-{case[2]}-{index}" for index, case in enumerate(REFUSED)],
)
async def test_bad_options_are_refused_naming_the_field_and_nothing_is_sent(
    backend: Backend, argument: str, value: Callable[[], Any], field: str, problem: str
) -> None:
    calls_answer(backend)
    attempts: list[Callable[[], Awaitable[Any]]] = [
        lambda: backend.client.calls.connect(WA_ID, OFFER, **{argument: value()}),
        lambda: backend.client.calls.accept(CALL_ID, ANSWER, **{argument: value()}),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError) as refused:
            await attempt()
        assert refused.value.field == field
        assert problem in refused.value.problem
        assert field in str(refused.value)
    assert backend.seen() == []


@pytest.mark.parametrize("argument", ["recording", "transcription", "biz_opaque_callback_data"])
@pytest.mark.parametrize("action", ["pre_accept", "reject", "terminate"])
async def test_other_actions_refuse_them_saying_who_takes_them(
    backend: Backend, action: str, argument: str
) -> None:
    calls_answer(backend)
    value = {"recording": RECORDING, "transcription": TRANSCRIPTION}.get(argument, "t-42")
    method = getattr(backend.client.calls, action)
    args = (CALL_ID, ANSWER) if action == "pre_accept" else (CALL_ID,)
    with pytest.raises(ValidationError) as refused:
        await method(*args, **{argument: value})
    assert refused.value.field == argument
    assert refused.value.problem == "only calls.connect and calls.accept take it"
    assert backend.seen() == []


# --- checked when made -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Recording, Transcription])
def test_the_models_refuse_bad_values_when_made(cls: type[Recording | Transcription]) -> None:
    name = cls.__name__.lower()
    cases: list[tuple[tuple[Any, ...], str, str]] = [
        (("",), f"{name}.purpose", "is required"),
        ((" \t\n",), f"{name}.purpose", "is required"),
        (("x" * (MAX_PURPOSE + 1),), f"{name}.purpose", "at most 250 characters, got 251"),
        (("a\x00b",), f"{name}.purpose", "must not contain NUL"),
        (("ok", "EN"), f"{name}.announcement_language", "got 'EN'"),
        (("ok", "pt_BR"), f"{name}.announcement_language", "got 'pt_BR'"),
    ]
    for args, field, problem in cases:
        with pytest.raises(ValidationError) as refused:
            cls(*args)
        assert (refused.value.field, problem in refused.value.problem) == (field, True)
    longest = cls("x" * MAX_PURPOSE, "es_ES")
    assert (len(longest.purpose), longest.announcement_language) == (MAX_PURPOSE, "es_ES")
    assert [cls("ok", lang).announcement_language for lang in ANNOUNCEMENT_LANGUAGES] == list(
        ANNOUNCEMENT_LANGUAGES
    )
    assert len(ANNOUNCEMENT_LANGUAGES) == 18


# --- the webhook side: IncomingCall ----------------------------------------------------------


def incoming(client: Client, router: Router) -> IncomingCall:
    event = CallConnect(
        call_id=CALL_ID,
        timestamp=datetime.now(UTC),
        session=OFFER,
    )
    return IncomingCall(event, client, router)


async def test_incoming_call_accept_passes_them_on(backend: Backend) -> None:
    calls_answer(backend)
    call = incoming(backend.client, Router())
    await call.accept(ANSWER_SDP, recording=RECORDING, transcription=TRANSCRIPTION)
    with pytest.raises(ValidationError) as refused:
        await call.accept(ANSWER_SDP, recording=TRANSCRIPTION)  # type: ignore[arg-type]
    assert refused.value.field == "recording"
    (seen,) = backend.seen()
    assert seen.json == {
        "messaging_product": "whatsapp",
        "action": "accept",
        "call_id": CALL_ID,
        "session": {"sdp_type": "answer", "sdp": ANSWER_SDP},
        "recording": RECORDING_JSON,
        "transcription": TRANSCRIPTION_JSON,
    }


class FakeAudio:
    """Stands in for `CallAudio`: its SDP, and closing."""

    sdp = ANSWER_SDP

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def wait_ended(self) -> BaseException | None:
        await self.closed.wait()
        return None

    async def close(self) -> None:
        self.closed.set()


async def test_answer_with_audio_gives_them_to_accept_only(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls_answer(backend)
    made: list[FakeAudio] = []

    async def answer(offer: SessionDescription | None, **options: Any) -> FakeAudio:
        assert offer == OFFER
        made.append(FakeAudio())
        return made[-1]

    monkeypatch.setattr(d360_calling.media.CallAudio, "answer", answer)
    router = Router()
    call = incoming(backend.client, router)
    with pytest.raises(ValidationError) as refused:
        await call.answer_with_audio(recording=MediaFeature("ENABLED"))
    assert refused.value.field == "recording.purpose"
    assert (made, backend.seen()) == ([], [])  # checked before the media or a request

    audio = await call.answer_with_audio(recording=RECORDING, transcription=TRANSCRIPTION)
    assert audio is made[0]
    pre_accept, accept = (seen.json for seen in backend.seen())
    assert pre_accept["action"] == "pre_accept"
    assert "recording" not in pre_accept
    assert "transcription" not in pre_accept
    assert (accept["action"], accept["recording"], accept["transcription"]) == (
        "accept",
        RECORDING_JSON,
        TRANSCRIPTION_JSON,
    )
    await router.aclose()
    assert made[0].closed.is_set()


# --- against the package's sandbox -----------------------------------------------------------


class Capture:
    """A middleware keeping each request's JSON body, as sent to the sandbox."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        self.bodies.append(request.json)
        return await call_next(request)


async def test_the_sandbox_takes_what_the_sdk_sends(
    d360_sandbox: Sandbox, d360_client: Client
) -> None:
    offer = SessionDescription.offer(SANDBOX_OFFER)
    answer = SessionDescription.answer(SANDBOX_ANSWER)
    capture = Capture()
    client = d360_client.with_options(middlewares=[capture])
    d360_sandbox.set_permission(WA_ID, "permanent")
    placed = await client.calls.connect(
        WA_ID, offer, recording=RECORDING, transcription=TRANSCRIPTION
    )
    assert placed.call_id.startswith("wacid.")
    await client.calls.terminate(placed.call_id)

    inbound = await d360_sandbox.ring("4915112345678")
    assert (await client.calls.pre_accept(inbound, answer)).success
    accepted = await client.calls.accept(
        inbound, answer, recording=Recording("Training", "de"), transcription=TRANSCRIPTION
    )
    assert accepted.success
    assert d360_sandbox.stats.effects["calls.connect"] == 1
    assert d360_sandbox.stats.effects["calls.accept"] == 1
    assert capture.bodies[0]["recording"] == RECORDING_JSON
    assert capture.bodies[0]["transcription"] == TRANSCRIPTION_JSON
    assert capture.bodies[-1]["recording"] == {
        "status": "ENABLED",
        "purpose": "Training",
        "announcement_language": "de",
    }

    before = sum(d360_sandbox.stats.requests.values())
    refusals: list[Awaitable[Any]] = [
        client.calls.connect(WA_ID, offer, recording=MediaFeature("ENABLED", "", "en")),
        client.calls.accept(inbound, answer, transcription=RECORDING),  # type: ignore[arg-type]
        client.calls.terminate(inbound, recording=RECORDING),  # type: ignore[call-arg]
    ]
    for refusal in refusals:
        with pytest.raises(ValidationError):
            await refusal
    assert sum(d360_sandbox.stats.requests.values()) == before  # none reached the sandbox
