"""The hot path's shortcuts (issue 17) give exactly what the long way gives.

Models structured from API JSON skip `__init__` (and so their construction checks) when the
converter's own output is all a check would see; requests and responses are built through
their slots; the in-flight cap takes a free slot without suspending. Each is checked here
against the path it replaces.
"""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_calling import Client, jsonutil, validation
from d360_calling.endpoints.calls import action_body
from d360_calling.errors import RequestTimeoutError, ValidationError
from d360_calling.middleware.ratelimit import _Slots
from d360_calling.models.calls import (
    CallAction,
    CallActionBody,
    CallActionResult,
    ConnectResult,
    MediaFeature,
    Recording,
    SdpType,
    SessionDescription,
    Transcription,
    as_media_feature,
)
from d360_calling.models.converter import _detailed_converter, converter
from d360_calling.models.fast import _fast_eligible
from d360_calling.models.permissions import (
    ActionLimit,
    CallPermissions,
    Permission,
    PermissionAction,
)
from d360_calling.models.settings import CallHours, PhoneNumberSettings, Restrictions, SipServer
from d360_calling.session import (
    DEFAULT_BASE_URL,
    Request,
    Response,
    SentRecord,
    new_request,
    new_response,
)
from d360_calling.session import transport as session_module

from ..conftest import patched_aioresponses
from ..support.backends import Backend
from ..support.samples import ANSWER_SDP, CALL_ID, PERMISSIONS, SETTINGS, WA_ID

PERMISSIONS_PAYLOADS: list[Any] = [
    PERMISSIONS,
    {"permission": {"status": "no_permission"}},
    {"permission": {"status": "temporary", "expiration": 1745343479}},  # the other spelling
    {"permission": {"status": "PERMANENT", "expiration_time": None}, "actions": None},
    {"permission": {"status": "expired"}, "actions": [], "unknown": {"x": 1}},
    {
        "permission": {"status": "temporary", "expiration_time": "1745343479"},
        "actions": [
            {
                "action_name": "start_call",
                "can_perform_action": "true",
                "limits": [
                    {"time_period": 24, "max_allowed": "5", "current_usage": 1.0},
                    {
                        "time_period": "P7D",
                        "max_allowed": 2,
                        "current_usage": True,
                        "limit_expiration_time": 1745622600.5,
                    },
                ],
            },
            {"action_name": "new_action", "can_perform_action": False, "limits": None},
        ],
        "messaging_product": 7,
    },
]
"""Shapes the API sends, and the kinds the converter turns into the model's types."""

REFUSED: list[Any] = [
    [],
    "permission",
    None,
    {},
    {"permission": None},
    {"permission": {"status": 5}},
    {"permission": {"status": "temporary", "expiration_time": True}},
    {"permission": {"status": "temporary"}, "actions": "start_call"},
    {"permission": {"status": "temporary"}, "actions": [{"action_name": "start_call"}]},
    {
        "permission": {"status": "temporary"},
        "actions": [{"action_name": "start_call", "can_perform_action": 1}],
    },
    {
        "permission": {"status": "temporary"},
        "actions": [
            {
                "action_name": "start_call",
                "can_perform_action": True,
                "limits": [{"time_period": "P1D", "max_allowed": "x", "current_usage": 0}],
            }
        ],
    },
    {"permission": {"status": "temporary", "expiration_time": 10**20}},
    # Kinds the inlined nested builders hand to the element's own function (not a dict).
    {"permission": "temporary"},
    {"permission": {"status": "temporary"}, "actions": [5]},
    {"permission": {"status": "temporary"}, "actions": [None]},
    {
        "permission": {"status": "temporary"},
        "actions": [{"action_name": "start_call", "can_perform_action": True, "limits": ["x"]}],
    },
]


def _outcome(structure: Any, payload: Any, model: type) -> Any:
    try:
        return ("ok", structure(copy.deepcopy(payload), model))
    except Exception:
        return ("refused", None)


def _slow(payload: Any, model: type) -> Any:
    """The long way: cattrs' generated functions and each model's `__init__` (with checks)."""
    return _detailed_converter().structure(payload, model)


@pytest.mark.parametrize("payload", PERMISSIONS_PAYLOADS + REFUSED)
def test_permissions_structure_as_the_long_way_does(payload: Any) -> None:
    fast = _outcome(converter.structure, payload, CallPermissions)
    slow = _outcome(_slow, payload, CallPermissions)
    assert fast == slow
    if fast[0] == "ok":
        for part, model in (
            (fast[1], CallPermissions),
            (fast[1].permission, Permission),
            *((action, PermissionAction) for action in fast[1].actions),
            *((limit, ActionLimit) for a in fast[1].actions for limit in a.limits),
        ):
            assert type(part) is model
            # The same object through __init__ (every construction check) is equal.
            assert attrs.evolve(part) == part


def test_other_models_structure_as_the_long_way_does() -> None:
    for payload, model in (
        (SETTINGS, PhoneNumberSettings),
        ({"success": True}, CallActionResult),
        ({"success": "false", "messaging_product": "whatsapp"}, CallActionResult),
        ({"success": 1}, CallActionResult),
        ({"calls": [{"id": "wacid.1"}], "success": True}, ConnectResult),
        ({"restrictions": [{"type": "X", "expiration": 1}]}, Restrictions),
        ({"status": "ENABLED", "weekly_operating_hours": None}, CallHours),
    ):
        assert _outcome(converter.structure, payload, model) == _outcome(_slow, payload, model)


def test_only_models_whose_checks_add_nothing_skip_init() -> None:
    assert _fast_eligible(CallPermissions)
    assert _fast_eligible(ActionLimit)
    assert _fast_eligible(CallActionResult)
    # dict / Any fields: their checks copy the value and bound its nesting.
    assert not _fast_eligible(SipServer)
    assert not _fast_eligible(PhoneNumberSettings)
    assert not _fast_eligible(Request)  # not a model of this package


def test_user_built_models_keep_their_checks() -> None:
    from d360_calling import ValidationError

    with pytest.raises(ValidationError):
        ActionLimit(time_period="PT24H", max_allowed="5", current_usage=0)  # type: ignore[arg-type]


async def test_new_request_is_the_constructor_with_defaults() -> None:
    options: dict[str, Any] = {}
    record = SentRecord()
    fast = new_request(
        "GET", "/p", "op", None, {"a": "b"}, True, None, 1.0, options, "http://x", record
    )
    slow = Request(
        "GET",
        "/p",
        "op",
        json=None,
        query={"a": "b"},
        idempotent=True,
        timeout=None,
        deadline=1.0,
        options=options,
        base_url="http://x",
    )
    assert fast == slow
    assert fast.headers == {}
    with pytest.raises(TypeError):  # shared by every request without headers, so read-only
        fast.headers["X-Mine"] = "no"  # type: ignore[index]
    assert fast.sent_record is record
    bare = new_request(
        "GET", "/p", "op", None, {"a": "b"}, True, None, 1.0, options, "http://x", None
    )
    assert bare == slow
    assert new_response(200, {}, b"x", 2, 0.5) == Response(200, {}, b"x", 2, 0.5)


async def test_slots_take_a_free_slot_without_suspending_and_queue_in_order() -> None:
    slots = _Slots(2)
    await slots.acquire()
    await slots.acquire()
    assert slots.locked()
    order: list[int] = []

    async def wait(n: int) -> None:
        await slots.acquire()
        order.append(n)

    tasks = [asyncio.create_task(wait(n)) for n in range(4)]
    await asyncio.sleep(0)
    tasks[1].cancel()  # a cancelled waiter gives up its place
    await asyncio.sleep(0)
    for _ in range(3):
        slots.release()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == [0, 2, 3]
    assert slots.free == 0
    assert not slots.waiters


async def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    slots = _Slots(1)
    await slots.acquire()
    first = asyncio.create_task(slots.acquire())
    second = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # handed to `first` ...
    first.cancel()  # ... which is cancelled before it runs: `second` gets the slot
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    slots.release()
    assert slots.free == 1
    assert not slots.waiters


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1}',
        b' {"a":1}',
        b'{"a":1}\n',
        b"[1,2]",
        b'"x"',
        b"1",
        b"{}x",
        b"",
        b" ",
        b"\xef\xbb\xbf{}",
    ],
)
def test_stdlib_loads_takes_the_scanner_shortcut_only_when_it_may(body: bytes) -> None:
    import json

    loads = jsonutil.BACKENDS["json"][1]
    try:
        expected: Any = ("ok", json.loads(body.decode()))
    except ValueError:
        expected = ("refused", None)
    try:
        got: Any = ("ok", loads(body))
    except ValueError:
        got = ("refused", None)
    assert got == expected


async def test_waiters_cancelled_together_while_slots_come_back_stay_cancelled() -> None:
    """A TaskGroup cancelled with calls queued at the cap: every queued call ends cancelled
    (not with another error), even when slots given back meet the cancelled waiters first."""
    slots = _Slots(2)
    holders = [asyncio.Event() for _ in range(2)]

    async def hold(event: asyncio.Event) -> None:
        await slots.acquire()
        try:
            await event.wait()
        finally:
            slots.release()

    async def queued() -> None:
        await slots.acquire()
        slots.release()

    running = [asyncio.create_task(hold(event)) for event in holders]
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(queued()) for _ in range(50)]
    await asyncio.sleep(0)
    for task in running + waiting:
        task.cancel()
    results = await asyncio.gather(*running, *waiting, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results)
    assert slots.free == 2
    assert not slots.waiters


# --- call-action bodies written directly ------------------------------------------------------

FEATURES = st.one_of(
    st.none(),
    st.builds(
        MediaFeature,
        status=st.sampled_from(["ENABLED", "DISABLED", "enabled"]),
        purpose=st.one_of(st.none(), st.text(max_size=8)),
        announcement_language=st.one_of(st.none(), st.sampled_from(["en", "pt_BR"])),
    ),
)
PURPOSE = st.text(min_size=1, max_size=8).filter(lambda text: text.strip() and "\x00" not in text)
RECORDINGS = FEATURES | st.builds(
    Recording, purpose=PURPOSE, announcement_language=st.sampled_from(["en", "pt", "es_ES"])
)
TRANSCRIPTIONS = FEATURES | st.builds(Transcription, purpose=PURPOSE)
OPTIONAL_TEXT = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=300, deadline=None)
@given(
    action=st.sampled_from(list(CallAction)),
    call_id=OPTIONAL_TEXT,
    to=OPTIONAL_TEXT,
    session=st.one_of(
        st.none(),
        st.builds(SessionDescription, st.sampled_from(list(SdpType)), st.text(max_size=40)),
    ),
    callback=OPTIONAL_TEXT,
    recording=RECORDINGS,
    transcription=TRANSCRIPTIONS,
)
def test_action_body_is_what_unstructuring_the_model_writes(
    action: CallAction,
    call_id: str | None,
    to: str | None,
    session: SessionDescription | None,
    callback: str | None,
    recording: Recording | MediaFeature | None,
    transcription: Transcription | MediaFeature | None,
) -> None:
    values: dict[str, Any] = {
        "call_id": call_id,
        "to": to,
        "session": session,
        "biz_opaque_callback_data": callback,
        "recording": recording,
        "transcription": transcription,
    }
    direct = action_body(action, **values)
    for field in ("recording", "transcription"):  # the model holds the wire form
        if values[field] is not None:
            values[field] = as_media_feature(values[field])
    model = converter.unstructure(
        CallActionBody(messaging_product="whatsapp", action=action, **values)
    )
    assert list(direct.items()) == list(model.items())  # same keys in the same order
    assert jsonutil.dumps(direct) == jsonutil.dumps(model)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ENABLED", "MediaFeature or None, got str"),
        ({"status": "ENABLED"}, "MediaFeature or None, got dict"),
        (MediaFeature("SOMETIMES"), "'SOMETIMES' is not one of ENABLED, DISABLED"),
    ],
)
async def test_media_features_are_checked_before_sending(
    backend: Backend, value: Any, problem: str
) -> None:
    backend.respond("POST", "/calling/calls", json={"success": True})
    answer = SessionDescription.answer(ANSWER_SDP)
    for field in ("recording", "transcription"):
        with pytest.raises(ValidationError) as refused:
            await backend.client.calls.accept(CALL_ID, answer, **{field: value})
        assert refused.value.field in (field, f"{field}.status")
        assert problem in str(refused.value)
    assert backend.seen() == []  # nothing sent


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=24), st.from_regex(r"[0-9]{1,22}", fullmatch=True)))
def test_wa_id_takes_exactly_one_to_twenty_ascii_digits(value: str) -> None:
    if re.fullmatch(r"[0-9]{1,20}", value) is not None:
        assert validation.wa_id(value) == value  # the cheap check, unchanged
        return
    try:
        typed = validation.wa_id(value)  # a number as typed (`+1 415-555`) gives its digits
    except ValidationError:
        return
    assert re.fullmatch(r"[0-9]{1,20}", typed) is not None
    assert typed == "".join(c for c in value if c in "0123456789")


async def test_the_loop_is_looked_up_once_per_pool(
    monkeypatch: pytest.MonkeyPatch, backend: Backend
) -> None:
    backend.respond("GET", f"/calling/permissions/{WA_ID}", json=PERMISSIONS)
    await backend.client.permissions.get(WA_ID)  # the pool's first attempt finds the loop
    looked_up = 0
    real = session_module.get_running_loop

    def counting() -> asyncio.AbstractEventLoop:
        nonlocal looked_up
        looked_up += 1
        return real()

    monkeypatch.setattr(session_module, "get_running_loop", counting)
    for _ in range(3):
        backend.respond("GET", f"/calling/permissions/{WA_ID}", json=PERMISSIONS)
        result = await backend.client.permissions.get(WA_ID)
        assert result.can_request_permission
    assert looked_up == 0  # `get_running_loop` makes a getpid system call each time
    assert backend.client._session.now() == pytest.approx(asyncio.get_running_loop().time())


def test_a_client_used_in_a_later_loop_keeps_that_loops_clock() -> None:
    """The pool's cached loop is looked up again once it stops running: a call made in a later
    loop (with a clock of its own) meets its deadline by that loop's time."""

    class ShiftedLoop(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return super().time() - 10_000.0

    class Slow:
        async def __call__(self, request: Request, call_next: Any) -> Response:
            await asyncio.sleep(2)
            response: Response = await call_next(request)
            return response

    url = f"{DEFAULT_BASE_URL}/calling/permissions/{WA_ID}"
    with patched_aioresponses() as mock:
        mock.get(url, payload=PERMISSIONS, repeat=True)
        client = Client("key")

        async def first() -> None:
            await client.permissions.get(WA_ID)

        asyncio.run(first())  # the pool finds and keeps this loop

        later = ShiftedLoop()

        async def second() -> float:
            started = later.time()
            with pytest.raises(RequestTimeoutError):
                await client.permissions.get(WA_ID, timeout=0.5, middlewares=[Slow()])
            return later.time() - started

        try:
            took = later.run_until_complete(second())
        finally:
            later.run_until_complete(client.aclose())
            later.close()
    assert took < 1.5  # at the 0.5 s deadline, not after the middleware's 2 s
