"""What the models take (issue 12, items 6 and 7).

Item 6, answers: a boolean is `true`/`false` or those words as strings, anything else is a
`ResponseDecodeError` naming the field; `null` for a list reads as empty. Checked for every
bool and list field of every model, found from the annotations.

Item 7, constructors: every public model takes the documented string for an enum field, and
refuses a wrong type with a `ValidationError` naming the field, never a TypeError or an
AttributeError later. Checked with hypothesis for every attrs class the package exports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import d360_calling
from d360_calling import (
    CallHours,
    CallingSettings,
    CallPermissions,
    Client,
    D360Error,
    EnsureOutcome,
    FeatureStatus,
    OperatingHours,
    OutcomeUnknownError,
    ResponseDecodeError,
    SessionDescription,
    ValidationError,
    Weekday,
)
from d360_calling import models as models_package
from d360_calling.models.calls import ANNOUNCEMENT_LANGUAGES
from d360_calling.models.converter import converter, explain
from d360_calling.models.enums import OpenEnum
from d360_calling.sandbox import Sandbox

from ..support.backends import Backend
from ..support.samples import ANSWER_SDP, CALL_ID, PERMISSIONS, SIP_PASSWORD, WA_ID

# --- which classes are models -----------------------------------------------------------------


def public_attrs_classes(module: Any) -> set[type]:
    names = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    objects = (getattr(module, name) for name in names)
    return {obj for obj in objects if isinstance(obj, type) and attrs.has(obj)}


def is_model(cls: type) -> bool:
    return cls.__module__.startswith("d360_calling.models.")


MODELS = sorted(
    {
        cls
        for cls in public_attrs_classes(d360_calling) | public_attrs_classes(models_package)
        if is_model(cls)
    },
    key=lambda cls: cls.__name__,
)

# Public attrs classes that are not API models: options and session records, which are never
# structured from or sent as API JSON. A new public attrs class must be added here or be a model.
NOT_MODELS = {
    "BudgetLimits",
    "RateLimitPolicy",
    "Request",
    "Response",
    "RetryPolicy",
    "Timeout",
    "TransientTable",
}


def test_every_public_attrs_class_is_covered() -> None:
    top_level = public_attrs_classes(d360_calling)
    assert {cls.__name__ for cls in top_level if not is_model(cls)} <= NOT_MODELS
    assert len(MODELS) >= 28  # every model is found, not an empty parametrization
    assert {cls.__name__ for cls in MODELS} >= {
        "CallingSettings",
        "CallPermissions",
        "SessionDescription",
        "CallActionBody",
        "EnsureResult",
        "MessageResult",
        "PhoneNumberSettings",
    }


# --- values from annotations ------------------------------------------------------------------


def hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def optional_inner(annotation: Any) -> Any | None:
    """`X` for `X | None`, else `None`."""
    if get_origin(annotation) in (Union, UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not NoneType]
        if len(inner) == 1:
            return inner[0]
    return None


def is_list(annotation: Any) -> bool:
    args = get_args(annotation)
    return get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis


JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)


PURPOSES = st.text(min_size=1, max_size=12).filter(lambda text: text.strip() and "\x00" not in text)
LANGUAGES = st.sampled_from(ANNOUNCEMENT_LANGUAGES)
CONSTRAINED: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    (model, field): strategy
    for model in ("Recording", "Transcription")
    for field, strategy in (("purpose", PURPOSES), ("announcement_language", LANGUAGES))
}
"""Fields whose type allows more than the model takes, and the values it does take (the
constructor refuses the others naming `recording.purpose`: tested in
tests/endpoints/test_recording_options.py)."""


def valid_field(cls: type, name: str, annotation: Any) -> st.SearchStrategy[Any]:
    """Values field `name` of `cls` must take."""
    constrained = CONSTRAINED.get((cls.__name__, name))
    return valid(annotation) if constrained is None else constrained


def valid(annotation: Any) -> st.SearchStrategy[Any]:
    """Values a field of this annotation must take (enum fields: members or their strings)."""
    inner = optional_inner(annotation)
    if inner is not None:
        return st.none() | valid(inner)
    if is_list(annotation):
        items = st.lists(valid(get_args(annotation)[0]), max_size=2)
        return items | items.map(tuple)
    if get_origin(annotation) is dict:
        values = st.text(max_size=5) if get_args(annotation)[1] is str else JSON_LEAF
        return st.dictionaries(st.text(max_size=5), values, max_size=2)
    if isinstance(annotation, type) and issubclass(annotation, OpenEnum):
        members = list(annotation)
        return (
            st.sampled_from(members)
            | st.sampled_from([m.value for m in members])
            | st.sampled_from([m.value.swapcase() for m in members])
            | st.text(max_size=12)  # unknown values are kept (and refused only when sent)
        )
    if attrs.has(annotation):
        fields = hints(annotation)
        return st.builds(
            annotation, **{name: valid_field(annotation, name, tp) for name, tp in fields.items()}
        )
    simple: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        int: st.integers(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        str: st.text(max_size=12),
        datetime: st.datetimes(timezones=st.just(UTC)),
        date: st.dates() | st.dates().map(date.isoformat),
    }
    return simple[annotation]


JUNK = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=6),
    st.text(max_size=12),
    st.lists(st.integers() | st.text(max_size=3) | st.none(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers() | st.none(), max_size=2),
    st.datetimes(),  # naive
    st.dates(),
    st.builds(object),
    st.sampled_from([float("nan"), b"\x00", [[1]], {"a": {"b": float("inf")}}]),
)


@st.composite
def arguments(draw: st.DrawFn, cls: type) -> tuple[dict[str, Any], set[str]]:
    """Keyword arguments for `cls`, each valid or junk; also the names that got junk."""
    kwargs: dict[str, Any] = {}
    junk: set[str] = set()
    for name, annotation in hints(cls).items():
        if draw(st.booleans()):
            kwargs[name] = draw(JUNK)
            junk.add(name)
        else:
            kwargs[name] = draw(valid_field(cls, name, annotation))
    return kwargs, junk


def serialised(obj: Any) -> bytes:
    """The object as the endpoints send it: unstructured, then strict JSON."""
    return json.dumps(converter.unstructure(obj), allow_nan=False).encode()


# --- item 7: constructors --------------------------------------------------------------------


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_constructors_convert_or_refuse_with_a_named_field(cls: type, data: st.DataObject) -> None:
    kwargs, junk = data.draw(arguments(cls))
    refused: ValidationError | None = None
    try:
        built = cls(**kwargs)
    except ValidationError as error:
        refused = error
    if refused is None:
        serialised(built)
        return
    assert isinstance(refused, D360Error)
    field = refused.field.removeprefix(f"{cls.__name__.lower()}.")  # recording.purpose
    root = field.split("[")[0].split(".")[0]
    assert root in junk, (refused.field, junk)  # a valid value is never the one refused
    assert refused.field in str(refused)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_valid_arguments_construct_and_serialise(cls: type, data: st.DataObject) -> None:
    built = data.draw(valid(cls))
    assert isinstance(built, cls)
    serialised(built)


def enum_fields() -> Iterator[tuple[type, str, type[OpenEnum], bool]]:
    for cls in MODELS:
        for name, annotation in hints(cls).items():
            inner = optional_inner(annotation)
            target = inner if inner is not None else annotation
            if isinstance(target, type) and issubclass(target, OpenEnum):
                yield cls, name, target, inner is not None


ENUM_FIELDS = list(enum_fields())


def minimal(cls: type, **given: Any) -> Any:
    """An instance of `cls` with simple values for what `given` leaves out."""
    values = {name: given.get(name, sample(tp)) for name, tp in hints(cls).items()}
    return cls(**values)


def sample(annotation: Any) -> Any:
    inner = optional_inner(annotation)
    if inner is not None:
        return sample(inner)
    if is_list(annotation):
        return (sample(get_args(annotation)[0]),)
    if get_origin(annotation) is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, OpenEnum):
        return next(iter(annotation))
    if attrs.has(annotation):
        return minimal(annotation)
    simple = {
        bool: True,
        int: 1,
        float: 1.5,
        str: "x",
        datetime: datetime(2026, 1, 1, tzinfo=UTC),
        date: date(2026, 1, 1),
    }
    return simple[annotation]


@pytest.mark.parametrize(
    ("cls", "name", "enum", "optional"),
    ENUM_FIELDS,
    ids=[f"{cls.__name__}.{name}" for cls, name, _, _ in ENUM_FIELDS],
)
def test_enum_fields_take_their_documented_strings(
    cls: type, name: str, enum: type[OpenEnum], optional: bool
) -> None:
    for member in enum:
        for spelling in (member.value, member.value.lower(), member.value.upper()):
            built = minimal(cls, **{name: spelling})
            assert getattr(built, name) is member
            assert converter.unstructure(built)[name] == member.value
    for wrong in (1, 1.5, b"ENABLED", ["ENABLED"], {"v": 1}, *([] if optional else [None])):
        with pytest.raises(ValidationError) as caught:
            minimal(cls, **{name: wrong})
        assert caught.value.field == name
        assert name in str(caught.value)


def test_the_reported_crash_is_gone() -> None:
    settings_ = CallingSettings(status="ENABLED")
    assert settings_.status is FeatureStatus.ENABLED
    assert converter.unstructure(settings_) == {"status": "ENABLED"}
    with pytest.raises(ValidationError, match="status") as caught:
        CallingSettings(status=1)  # type: ignore[arg-type]
    assert caught.value.field == "status"


def test_nested_and_listed_values_are_checked_with_their_path() -> None:
    with pytest.raises(ValidationError) as caught:
        CallHours(
            status="ENABLED",
            weekly_operating_hours=[OperatingHours("MONDAY", "0400", "1020"), "TUESDAY"],  # type: ignore[arg-type]
        )
    assert caught.value.field == "weekly_operating_hours[1]"
    listed = CallHours(
        status="enabled",
        timezone_id="America/Manaus",
        weekly_operating_hours=[OperatingHours("monday", "0400", "1020")],  # type: ignore[arg-type]
    )
    assert listed.weekly_operating_hours == (OperatingHours(Weekday.MONDAY, "0400", "1020"),)
    holiday = d360_calling.HolidaySchedule("2026-01-01", "0000", "2359")  # type: ignore[arg-type]
    assert holiday.date == date(2026, 1, 1)
    with pytest.raises(ValidationError) as bad_date:
        d360_calling.HolidaySchedule("2026-02-30", "0000", "2359")  # type: ignore[arg-type]
    assert bad_date.value.field == "date"
    with pytest.raises(ValidationError) as secret:
        d360_calling.SipServer("sip.example.com", sip_user_password=b"hunter2")  # type: ignore[arg-type]
    assert secret.value.field == "sip_user_password"
    assert "hunter2" not in str(secret.value)  # names the type, never the value


async def test_settings_update_with_strings_against_the_sandbox(
    d360_sandbox: Sandbox, d360_client: Client
) -> None:
    result = await d360_client.settings.update(CallingSettings(status="ENABLED"))
    assert result.success is True
    hours = CallHours(
        status="ENABLED",
        timezone_id="America/Manaus",
        weekly_operating_hours=[OperatingHours("MONDAY", "0400", "1020")],  # type: ignore[arg-type]
    )
    await d360_client.settings.update(
        CallingSettings(status="enabled", call_hours=hours, callback_permission_status="DISABLED")
    )
    read = await d360_client.settings.get()
    assert read.calling.status is FeatureStatus.ENABLED
    assert read.calling.call_hours == hours
    assert read.calling.callback_permission_status is FeatureStatus.DISABLED

    before = d360_sandbox.stats.requests["settings.update"]
    with pytest.raises(ValidationError) as unknown:
        await d360_client.settings.update(CallingSettings(status="SOMETIMES"))
    assert unknown.value.field == "calling.status"
    assert d360_sandbox.stats.requests["settings.update"] == before  # refused before sending


async def test_strings_for_session_and_media_enums_reach_the_wire(backend: Backend) -> None:
    backend.respond("POST", "/calling/calls", json={"success": True})
    session = SessionDescription("answer", ANSWER_SDP)
    recording = d360_calling.MediaFeature("enabled", "Quality", "en")
    await backend.client.calls.accept(CALL_ID, session, recording=recording)
    sent = backend.seen()[0].json
    assert sent["session"]["sdp_type"] == "answer"
    assert sent["recording"] == {
        "status": "ENABLED",
        "purpose": "Quality",
        "announcement_language": "en",
    }


# --- item 6: booleans and lists in answers ----------------------------------------------------


def fields_where(predicate: Any) -> list[tuple[type, str, bool]]:
    out = []
    for cls in MODELS:
        for name, annotation in hints(cls).items():
            inner = optional_inner(annotation)
            target = inner if inner is not None else annotation
            if predicate(target):
                out.append((cls, name, inner is not None))
    return out


BOOL_FIELDS = fields_where(lambda tp: tp is bool)
LIST_FIELDS = fields_where(is_list)
TRUE_SPELLINGS = [True, "true", "True", "TRUE"]
FALSE_SPELLINGS = [False, "false", "False", "FALSE"]
NOT_BOOLEANS = [
    1,
    0,
    1.0,
    "yes",
    "no",
    "1",
    "0",
    "",
    "t",
    " true",
    "\uff54\uff52\uff55\uff45",
    [],
    {},
    [True],
]


def test_every_bool_and_list_field_is_found() -> None:
    assert {(cls.__name__, name) for cls, name, _ in BOOL_FIELDS} >= {
        ("PermissionAction", "can_perform_action"),
        ("CallActionResult", "success"),
        ("ConnectResult", "success"),
        ("SettingsUpdateResult", "success"),
    }
    assert ("PermissionAction", "limits") in {(cls.__name__, name) for cls, name, _ in LIST_FIELDS}


def payload_with(cls: type, name: str, value: Any) -> dict[str, Any]:
    payload: dict[str, Any] = converter.unstructure(minimal(cls))
    payload[name] = value
    return payload


@pytest.mark.parametrize(
    ("cls", "name", "optional"),
    BOOL_FIELDS,
    ids=[f"{cls.__name__}.{name}" for cls, name, _ in BOOL_FIELDS],
)
def test_bool_fields_are_strict(cls: type, name: str, optional: bool) -> None:
    for spelling in TRUE_SPELLINGS:
        assert getattr(converter.structure(payload_with(cls, name, spelling), cls), name) is True
    for spelling in FALSE_SPELLINGS:
        assert getattr(converter.structure(payload_with(cls, name, spelling), cls), name) is False
    for wrong in [*NOT_BOOLEANS, *([] if optional else [None])]:
        payload = payload_with(cls, name, wrong)
        with pytest.raises(Exception):  # noqa: PT011 - the endpoint turns it into ResponseDecodeError
            converter.structure(payload, cls)
        reason = explain(payload, cls)
        assert "boolean" in reason
        if cls.__name__ != "ConnectResult":  # its body is shaped by hand
            assert f"$.{name}" in reason
        else:
            assert name in reason


@pytest.mark.parametrize(
    ("cls", "name", "optional"),
    LIST_FIELDS,
    ids=[f"{cls.__name__}.{name}" for cls, name, _ in LIST_FIELDS],
)
def test_list_fields_read_null_as_empty_and_refuse_other_kinds(
    cls: type, name: str, optional: bool
) -> None:
    read = getattr(converter.structure(payload_with(cls, name, None), cls), name)
    # A required list is empty; an optional one stays None ("not given", which is not the
    # same as [] when settings are sent back: `servers: []` deletes the SIP server).
    assert read == (None if optional else ())
    assert getattr(converter.structure(payload_with(cls, name, []), cls), name) == ()
    assert getattr(converter.structure(payload_with(cls, name, ""), cls), name) == ()
    for wrong in ("ab", " ", 1, {"a": 1}, True):
        payload = payload_with(cls, name, wrong)
        with pytest.raises(Exception):  # noqa: PT011
            converter.structure(payload, cls)
        assert f"$.{name}" in explain(payload, cls)


GRANTED_PERMISSION = {  # Meta's OpenAPI "Granted Permission" example: limits are null
    "messaging_product": "whatsapp",
    "permission": {"status": "permanent"},
    "actions": [
        {
            "action_name": "send_call_permission_request",
            "can_perform_action": False,
            "limits": None,
        },
        {"action_name": "start_call", "can_perform_action": True, "limits": None},
    ],
}


async def test_null_limits_over_http(backend: Backend) -> None:
    backend.respond("GET", f"/calling/permissions/{WA_ID}", json=GRANTED_PERMISSION)
    read = await backend.client.permissions.get(WA_ID)
    assert isinstance(read, CallPermissions)
    assert read.can_start_call is True
    assert all(action.limits == () for action in read.actions)
    assert read.next_call_allowed_at is None


OPENAPI_PERMISSION = {  # Meta's OpenAPI permission example: limits as an empty string
    "messaging_product": "whatsapp",
    "permission": {"status": "granted", "expiration_time": 1745343479},
    "actions": [
        {"action_name": "send_call_permission_request", "can_perform_action": False, "limits": ""},
        {"action_name": "start_call", "can_perform_action": True, "limits": ""},
    ],
}


async def test_empty_string_limits_over_http(backend: Backend) -> None:
    backend.respond("GET", f"/calling/permissions/{WA_ID}", json=OPENAPI_PERMISSION)
    read = await backend.client.permissions.get(WA_ID)
    assert [action.limits for action in read.actions] == [(), ()]
    assert read.can_start_call is True
    assert read.can_request_permission is False
    assert read.next_call_allowed_at is None
    ensured = await backend.client.permissions.ensure(WA_ID)
    assert ensured.outcome is EnsureOutcome.ALREADY_GRANTED
    assert ensured.granted is True
    assert [seen.path for seen in backend.seen()].count("/messages") == 0


async def test_string_false_is_false_over_http(backend: Backend) -> None:
    answer = {
        **PERMISSIONS,
        "actions": [
            {**PERMISSIONS["actions"][0], "can_perform_action": "false"},
            {**PERMISSIONS["actions"][1], "can_perform_action": "FALSE"},
        ],
    }
    backend.respond("GET", f"/calling/permissions/{WA_ID}", json=answer)
    read = await backend.client.permissions.get(WA_ID)
    assert read.can_request_permission is False
    assert read.can_start_call is False


@pytest.mark.parametrize("wrong", ["no", 1, 0, None, "", [], {}])
async def test_not_a_boolean_over_http_names_the_field(backend: Backend, wrong: Any) -> None:
    answer = {
        **PERMISSIONS,
        "actions": [{**PERMISSIONS["actions"][1], "can_perform_action": wrong}],
    }
    backend.respond("GET", f"/calling/permissions/{WA_ID}", json=answer)
    with pytest.raises(ResponseDecodeError) as caught:
        await backend.client.permissions.get(WA_ID)
    message = str(caught.value)
    assert "$.actions[0].can_perform_action" in message
    assert "boolean" in message
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


async def test_success_flags_are_strict_over_http(backend: Backend) -> None:
    backend.respond("POST", "/calling/settings", json={"success": "nope"})
    with pytest.raises(ResponseDecodeError) as caught:
        await backend.client.settings.update(CallingSettings(status=FeatureStatus.ENABLED))
    assert "$.success" in str(caught.value)
    backend.respond("POST", "/calling/calls", json={"success": "false"})
    result = await backend.client.calls.terminate(CALL_ID)
    assert result.success is False


async def test_decode_error_never_quotes_the_value(backend: Backend) -> None:
    body = {
        "calling": {
            "status": "ENABLED",
            "sip": {
                "status": "ENABLED",
                "servers": [{"hostname": "h", "sip_user_password": SIP_PASSWORD}],
            },
            "audio": {"additional_codecs": SIP_PASSWORD},  # a string where a list belongs
        }
    }
    backend.respond("GET", "/calling/settings", json=body)
    with pytest.raises(ResponseDecodeError) as caught:
        await backend.client.settings.get(include_sip_credentials=True)
    assert "$.calling.audio.additional_codecs" in str(caught.value)
    assert SIP_PASSWORD not in str(caught.value)
    assert SIP_PASSWORD not in repr(caught.value)


async def test_a_message_answer_without_messages_is_unreadable(backend: Backend) -> None:
    backend.respond("POST", "/messages", json={"messaging_product": "whatsapp", "messages": None})
    with pytest.raises(OutcomeUnknownError) as caught:  # it may have been sent: not resent
        await backend.client.permissions.request(WA_ID)
    assert "message id" in str(caught.value)
