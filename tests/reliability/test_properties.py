"""Property tests (hypothesis, derandomized by the `ci` profile of tests/conftest.py so CI
repeats them): whatever the server sends, each endpoint returns its model or raises a typed
error; the validators, the Retry-After parser and the error mapping are total; and no secret
shows in any repr, text, chain or log record."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import string
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final

import pytest
from aioresponses import aioresponses as Aioresponses
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from d360_calling import (
    APIError,
    CallActionResult,
    CallingSettings,
    CallPermissions,
    Client,
    ConnectResult,
    D360Error,
    FeatureStatus,
    PhoneNumberSettings,
    SessionDescription,
    SettingsUpdateResult,
    SipServer,
    SipSettings,
    ValidationError,
    validation,
)
from d360_calling.error_mapping import api_error
from d360_calling.retry_after import MAX_HEADER_LENGTH, MAX_RETRY_AFTER, parse_retry_after

from ..conftest import patched_aioresponses
from ..support import samples
from ..support.reliability import assert_clean, recorded_logs, texts_of
from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, OFFER_SDP, WA_ID

BASE_URL: Final = "https://api.test"
PROPERTY_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (the root included)."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, sample: Any) -> Any:
    """`sample` after 0-3 point mutations: a value replaced by any JSON, a key dropped, an
    unknown key added, or an enum-like string changed, so near-valid bodies dominate."""
    value = copy.deepcopy(sample)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(value)))
        if not path:
            value = draw(JSON)
            continue
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        how = draw(st.sampled_from(["replace", "drop", "add", "string"]))
        if how == "drop" and isinstance(parent, dict):
            del parent[last]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(JSON)
        elif how == "string":
            parent[last] = draw(st.text(max_size=12))
        else:
            parent[last] = draw(JSON)
    return value


# --- each endpoint, any body ---------------------------------------------------------------

ANSWER = SessionDescription.answer(ANSWER_SDP)
OFFER = SessionDescription.offer(OFFER_SDP)

Endpoint = tuple[str, str, Callable[[Client], Awaitable[Any]], type, Any]
ENDPOINTS: Final[dict[str, Endpoint]] = {
    "calls.connect": (
        "POST",
        "/calling/calls",
        lambda c: c.calls.connect(WA_ID, OFFER, biz_opaque_callback_data="t"),
        ConnectResult,
        samples.CONNECT_RESPONSE_WITH_SUCCESS,
    ),
    "calls.pre_accept": (
        "POST",
        "/calling/calls",
        lambda c: c.calls.pre_accept(CALL_ID, ANSWER),
        CallActionResult,
        samples.SUCCESS,
    ),
    "calls.accept": (
        "POST",
        "/calling/calls",
        lambda c: c.calls.accept(CALL_ID, ANSWER),
        CallActionResult,
        samples.SUCCESS,
    ),
    "calls.reject": (
        "POST",
        "/calling/calls",
        lambda c: c.calls.reject(CALL_ID),
        CallActionResult,
        samples.SUCCESS,
    ),
    "calls.terminate": (
        "POST",
        "/calling/calls",
        lambda c: c.calls.terminate(CALL_ID),
        CallActionResult,
        samples.SUCCESS,
    ),
    "permissions.get": (
        "GET",
        f"/calling/permissions/{WA_ID}",
        lambda c: c.permissions.get(WA_ID),
        CallPermissions,
        samples.PERMISSIONS,
    ),
    "settings.get": (
        "GET",
        "/calling/settings",
        lambda c: c.settings.get(include_sip_credentials=True),
        PhoneNumberSettings,
        samples.SETTINGS,
    ),
    "settings.update": (
        "POST",
        "/calling/settings",
        lambda c: c.settings.update(CallingSettings(status=FeatureStatus.ENABLED)),
        SettingsUpdateResult,
        samples.BARE_SUCCESS,
    ),
}

ERROR_STATUSES = st.sampled_from([400, 401, 403, 404, 408, 409, 429, 500, 502, 503, 504, 555, 599])
HEADER_TEXT = st.text(alphabet=string.printable.strip("\r\n\x0b\x0c"), max_size=40)


@st.composite
def answers(draw: st.DrawFn, sample: Any) -> tuple[int, bytes, dict[str, str]]:
    """Status, body bytes and headers the server might send for an endpoint with `sample`."""
    headers = {}
    if draw(st.booleans()):
        headers["Retry-After"] = draw(HEADER_TEXT | st.integers(-5, 10**12).map(str))
    if draw(st.booleans()):
        headers["x-fb-trace-id"] = draw(HEADER_TEXT)
    kind = draw(st.sampled_from(["near", "json", "bytes", "error"]))
    if kind == "near":
        return 200, json.dumps(draw(mutated(sample))).encode(), headers
    if kind == "json":
        return draw(st.sampled_from([200, 201, 204])), json.dumps(draw(JSON)).encode(), headers
    if kind == "bytes":
        status = draw(st.sampled_from([200, 400, 500]))
        return status, draw(st.binary(max_size=64)), headers
    error = mutated(samples.meta_error(draw(st.sampled_from([100, 131000, 138002, 138006]))))
    return draw(ERROR_STATUSES), json.dumps(draw(error | JSON)).encode(), headers


async def call_with(
    mock: Aioresponses, endpoint: Endpoint, status: int, body: bytes, headers: dict[str, str]
) -> object:
    method, path, call, _, _ = endpoint
    url = re.compile(re.escape(BASE_URL + path) + r"(\?.*)?$")
    mock.add(url, method, status=status, body=body, headers=headers, repeat=True)
    client = Client(API_KEY, base_url=BASE_URL, retry=None, rate_limit=None)
    try:
        return await call(client)
    except D360Error as error:
        return error
    finally:
        await client.aclose()


@pytest.mark.parametrize("name", list(ENDPOINTS))
@PROPERTY_SETTINGS
@given(data=st.data())
async def test_any_answer_is_a_model_or_a_typed_error(name: str, data: st.DataObject) -> None:
    endpoint = ENDPOINTS[name]
    status, body, headers = data.draw(answers(endpoint[4]))
    with patched_aioresponses() as mock:
        async with recorded_logs() as logs:
            outcome = await call_with(mock, endpoint, status, body, headers)
    model = endpoint[3]
    event(type(outcome).__name__)
    if isinstance(outcome, D360Error):
        assert outcome.operation == name
        if 200 <= status < 300:
            # An unreadable 2xx to connect means the call was placed: outcome unknown.
            unreadable = "OutcomeUnknownError" if name == "calls.connect" else "ResponseDecodeError"
            assert type(outcome).__name__ == unreadable, repr(outcome)
        elif status >= 500 and name == "calls.connect":
            # A 5xx to connect may follow a placed call: outcome unknown, caused by the API error.
            assert type(outcome).__name__ == "OutcomeUnknownError", repr(outcome)
            assert isinstance(outcome.__cause__, APIError)
            assert outcome.__cause__.status == status
        else:
            assert isinstance(outcome, APIError)
            assert outcome.status == status
        assert_clean(*texts_of(outcome))
    else:
        assert 200 <= status < 300
        assert isinstance(outcome, model), repr(outcome)
        assert_clean(repr(outcome), str(outcome))
    assert_clean(*logs.texts)


# --- validators ----------------------------------------------------------------------------


def attempt(function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)`, or the ValidationError it raised."""
    try:
        return function(*args)
    except ValidationError as error:
        return error


ANY_TEXT = st.text(max_size=30) | st.text(alphabet="0123456789/.?#%\n\r\x00 ٠١٢", max_size=30)


@PROPERTY_SETTINGS
@given(value=ANY_TEXT | st.integers() | st.none() | st.binary(max_size=5))
def test_wa_id_gives_exactly_1_to_20_ascii_digits(value: object) -> None:
    plain = isinstance(value, str) and re.fullmatch(r"[0-9]{1,20}", value, re.ASCII) is not None
    outcome = attempt(validation.wa_id, value)
    if isinstance(outcome, ValidationError):
        assert not plain
        assert outcome.field == "wa_id"
    else:
        # A typed number (`+1 (415) 555-0123`) gives its digits; plain digits come back as is.
        assert isinstance(value, str)
        assert re.fullmatch(r"[0-9]{1,20}", outcome, re.ASCII) is not None
        assert outcome == (value if plain else "".join(c for c in value if c in "0123456789"))


@PROPERTY_SETTINGS
@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_wa_id_accepts_every_digit_string(digits: str) -> None:
    assert validation.wa_id(digits) == digits


@PROPERTY_SETTINGS
@given(value=ANY_TEXT | st.text(min_size=500, max_size=600) | st.integers() | st.none())
def test_call_id_never_lets_through_what_could_split_a_request(value: object) -> None:
    accepted = attempt(validation.call_id, value)
    if isinstance(accepted, ValidationError):
        assert accepted.field == "call_id"
        return
    assert isinstance(accepted, str)
    assert accepted == value
    assert 0 < len(accepted) <= validation.MAX_CALL_ID_LENGTH
    assert accepted == accepted.strip()
    assert "/" not in accepted
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in accepted)


@PROPERTY_SETTINGS
@given(value=st.from_regex(r"wacid\.[A-Za-z0-9_-]{1,60}", fullmatch=True))
def test_call_id_accepts_ids_as_the_api_makes_them(value: str) -> None:
    assert validation.call_id(value) == value


# --- Retry-After ---------------------------------------------------------------------------

NOW: Final = 1_750_000_000.0


@PROPERTY_SETTINGS
@given(
    retry_after=st.none() | st.text(max_size=80) | st.floats().map(str) | st.integers().map(str),
    retry_after_ms=st.none() | st.text(max_size=20) | st.integers().map(str),
)
def test_retry_after_parser_is_total(retry_after: str | None, retry_after_ms: str | None) -> None:
    headers: CIMultiDict[str] = CIMultiDict()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    seconds = parse_retry_after(headers, now=NOW)
    assert seconds is None or (
        isinstance(seconds, float) and math.isfinite(seconds) and seconds >= 0
    )
    if retry_after is None and retry_after_ms is None:
        assert seconds is None
    if retry_after is not None and len(retry_after) > MAX_HEADER_LENGTH and retry_after_ms is None:
        assert seconds is None


@PROPERTY_SETTINGS
@given(value=st.floats(min_value=0, max_value=1e12) | st.integers(0, 10**12))
def test_retry_after_seconds_are_read_exactly(value: float) -> None:
    """Read exactly up to `MAX_RETRY_AFTER`; beyond it a wait no server means is absent."""
    seconds = float(str(value))
    expected = seconds if seconds <= MAX_RETRY_AFTER else None
    assert parse_retry_after({"Retry-After": str(value)}, now=NOW) == expected
    ms = parse_retry_after({"retry-after-ms": str(value)}, now=NOW)
    if seconds / 1000 > MAX_RETRY_AFTER:
        assert ms is None
    else:
        assert ms == pytest.approx(seconds / 1000)


@PROPERTY_SETTINGS
@given(offset=st.integers(min_value=-(10**8), max_value=10**8))
def test_retry_after_dates_count_from_now(offset: int) -> None:
    when = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=offset)
    seconds = parse_retry_after({"Retry-After": format_datetime(when, usegmt=True)}, now=NOW)
    if offset > MAX_RETRY_AFTER:
        assert seconds is None
    else:
        assert seconds == pytest.approx(max(0.0, float(offset)))


@PROPERTY_SETTINGS
@given(value=st.sampled_from(["nan", "inf", "-inf", "-1", "1e400", "NaN", "Infinity", "0x10"]))
def test_retry_after_rejects_non_finite_and_negative(value: str) -> None:
    assert parse_retry_after({"Retry-After": value}, now=NOW) is None


# --- error mapping -------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    status=st.integers(min_value=100, max_value=999),
    headers=st.dictionaries(
        st.sampled_from(["Retry-After", "retry-after-ms", "x-fb-trace-id", "X-Other"]), HEADER_TEXT
    ),
    body=st.binary(max_size=200)
    | JSON.map(lambda value: json.dumps(value).encode())
    | mutated(samples.meta_error(138006)).map(lambda value: json.dumps(value).encode())
    | st.integers(1, 50_000).map(lambda depth: b"[" * depth + b"]" * depth),
    operation=st.sampled_from(list(ENDPOINTS)),
)
def test_api_error_never_raises_and_always_types(
    status: int, headers: dict[str, str], body: bytes, operation: str
) -> None:
    error = api_error(operation, status, CIMultiDict(headers), body)
    assert isinstance(error, APIError)
    assert error.status == status
    assert error.operation == operation
    assert error.code is None or isinstance(error.code, int)
    assert error.retry_after is None or error.retry_after >= 0
    assert len(error.message) <= 501 + len("HTTP ")
    text = str(error)
    assert operation in text
    assert f"HTTP {status}" in text
    repr(error)


# --- secrets -------------------------------------------------------------------------------

SECRET_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + "!$&*+-._~", min_size=8, max_size=30
)


@PROPERTY_SETTINGS
@given(password=SECRET_TEXT.map(lambda s: f"pw[{s}]"), hostname=st.text(max_size=30))
def test_sip_password_never_in_a_settings_repr(password: str, hostname: str) -> None:
    server = SipServer(hostname=hostname, port=5061, sip_user_password=password)
    settings = PhoneNumberSettings(
        calling=CallingSettings(sip=SipSettings(status=FeatureStatus.ENABLED, servers=(server,)))
    )
    for text in (repr(server), str(server), repr(settings), str(settings), repr(settings.calling)):
        assert password not in text


@PROPERTY_SETTINGS
@given(
    key=SECRET_TEXT.map(lambda s: f"key[{s}]")
    | st.text(min_size=1, max_size=30).map(lambda s: f"key[{s}]"),
    wa_id=ANY_TEXT,
)
async def test_api_key_never_in_reprs_errors_or_logs(key: str, wa_id: str) -> None:
    """Any key (even one with CR/LF, which is refused) and any input: the key never shows."""
    secrets = (key,)
    async with recorded_logs() as logs:
        client = attempt(lambda: Client(key, base_url="http://127.0.0.1:9", retry=None))
        if isinstance(client, ValidationError):
            assert client.field == "api_key"
            assert_clean(*texts_of(client), secrets=secrets)
            return
        assert isinstance(client, Client)
        try:
            assert_clean(repr(client), str(client), secrets=secrets)
            failures: list[D360Error] = []
            try:
                await asyncio.wait_for(client.permissions.get(wa_id), 5)
            except D360Error as error:
                failures.append(error)
        finally:
            await client.aclose()
    for failure in failures:
        assert_clean(*texts_of(failure), secrets=secrets)
    assert_clean(*logs.texts, secrets=secrets)
