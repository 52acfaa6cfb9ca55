"""Bad input at the public API is refused before anything is sent, with a `ValidationError`
that names the field: a loopback server counts requests, and must count none."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from d360_calling import (
    CallHours,
    CallingSettings,
    Client,
    D360Error,
    FeatureStatus,
    HolidaySchedule,
    OperatingHours,
    RateLimitPolicy,
    Restrictions,
    RetryPolicy,
    SessionDescription,
    SipServer,
    SipSettings,
    Timeout,
    ValidationError,
    VoicemailAnnouncement,
    VoicemailAudio,
    VoicemailSettings,
    Weekday,
)
from d360_calling.client import API_KEY_ENV

from ..support.backends import calling_default
from ..support.samples import ANSWER_SDP, API_KEY, CALL_ID, OFFER_SDP, WA_ID
from ..support.server import ScriptedServer

OFFER = SessionDescription.offer(OFFER_SDP)
ANSWER = SessionDescription.answer(ANSWER_SDP)
Call = Callable[[Client], Awaitable[Any]]


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(default=calling_default) as running:
        yield running


@dataclass(frozen=True)
class Api:
    """A client and the loopback server it is bound to."""

    client: Client
    server: ScriptedServer


@pytest.fixture
async def api(server: ScriptedServer) -> AsyncIterator[Api]:
    async with Client(API_KEY, base_url=server.base_url) as client:
        yield Api(client, server)


async def refused(api: Api, call: Call, field: str) -> ValidationError:
    """`call` fails with a ValidationError naming `field`, and the server saw no request."""
    with pytest.raises(ValidationError) as info:
        await call(api.client)
    assert info.value.field == field
    assert field in str(info.value)
    assert api.server.requests == []
    return info.value


# --- IDs: traversal, URL-significant characters, CR/LF/NUL ------------------------------

BAD_WA_IDS = [
    "../settings",
    "..%2Fsettings",
    "%2e%2e",
    "14155550123/../../settings",
    "14155550123?include_sip_credentials=true",
    "14155550123#x",
    "14155550123%00",
    "14155550123\r\nX-Injected: 1",
    "14155550123\n",
    "14155550123\x00",
    "\t14155550123",  # spaces and a leading + are typed forms (issue 26); a tab is not
    "1+4155550123",
    "++14155550123",
    "١٤١٥٥٥٥٠١٢٣",  # Arabic-Indic digits pass str.isdigit()
    "\uff11\uff14\uff11\uff15",  # fullwidth digits too
    "",
    "1" * 21,
]


@pytest.mark.parametrize("bad", BAD_WA_IDS)
async def test_bad_wa_id_for_permissions(api: Api, bad: str) -> None:
    await refused(api, lambda c: c.permissions.get(bad), "wa_id")


@pytest.mark.parametrize("bad", BAD_WA_IDS)
async def test_bad_recipient_for_connect(api: Api, bad: str) -> None:
    await refused(api, lambda c: c.calls.connect(bad, OFFER), "to")


CALL_ID_ACTIONS: dict[str, Callable[[str], Call]] = {
    "pre_accept": lambda cid: lambda c: c.calls.pre_accept(cid, ANSWER),
    "accept": lambda cid: lambda c: c.calls.accept(cid, ANSWER),
    "reject": lambda cid: lambda c: c.calls.reject(cid),
    "terminate": lambda cid: lambda c: c.calls.terminate(cid),
}

BAD_CALL_IDS = [
    "../settings",
    "wacid.A/../../settings",
    "wacid.A\r\nX-Injected: 1",
    "wacid.A\n",
    "wacid.A\x00",
    "wacid.A\x7f",
    " wacid.A",
    "",
    "   ",
    "w" * 513,
]

URL_SIGNIFICANT_CALL_IDS = ["wacid.A?b=1", "wacid.A#frag", "wacid.%2e%2e", "wacid.A\\..\\b"]


@pytest.mark.parametrize("action", list(CALL_ID_ACTIONS))
@pytest.mark.parametrize(
    "bad",
    BAD_CALL_IDS + URL_SIGNIFICANT_CALL_IDS,
)
async def test_bad_call_id(api: Api, action: str, bad: str) -> None:
    await refused(api, CALL_ID_ACTIONS[action](bad), "call_id")


@pytest.mark.parametrize("action", list(CALL_ID_ACTIONS))
@pytest.mark.parametrize("bad", [None, 42, b"wacid.A", ["wacid.A"]])
async def test_call_id_of_the_wrong_type(api: Api, action: str, bad: Any) -> None:
    await refused(api, CALL_ID_ACTIONS[action](bad), "call_id")


# --- SDP ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.calls.connect(WA_ID, ANSWER), "session"),
        (lambda c: c.calls.pre_accept(CALL_ID, OFFER), "session"),
        (lambda c: c.calls.accept(CALL_ID, OFFER), "session"),
        (lambda c: c.calls.connect(WA_ID, OFFER_SDP), "session"),
        (lambda c: c.calls.accept(CALL_ID, {"sdp_type": "answer", "sdp": ANSWER_SDP}), "session"),
        (lambda c: c.calls.connect(WA_ID, SessionDescription.offer("")), "session.sdp"),
        (lambda c: c.calls.accept(CALL_ID, SessionDescription.answer(" \r\n")), "session.sdp"),
        (
            lambda c: c.calls.pre_accept(CALL_ID, SessionDescription.answer("v=0\x00")),
            "session.sdp",
        ),
    ],
    ids=[
        "connect-answer",
        "pre_accept-offer",
        "accept-offer",
        "connect-str",
        "accept-dict",
        "empty",
        "blank",
        "nul",
    ],
)
async def test_bad_session_description(api: Api, call: Call, field: str) -> None:
    await refused(api, call, field)


# --- biz_opaque_callback_data ------------------------------------------------------------


@pytest.mark.parametrize("bad", ["x" * 513, "é" * 513, 42, b"tag"])
@pytest.mark.parametrize("action", ["connect", "accept"])
async def test_bad_callback_data(api: Api, action: str, bad: Any) -> None:
    def call(c: Client) -> Awaitable[Any]:
        if action == "connect":
            return c.calls.connect(WA_ID, OFFER, biz_opaque_callback_data=bad)
        return c.calls.accept(CALL_ID, ANSWER, biz_opaque_callback_data=bad)

    await refused(api, call, "biz_opaque_callback_data")


# --- the API key and the base URL ----------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["key\r\nX-Injected: 1", "key\n", "key\r", "key\x00", "\x00", "key\x7f"]
)
def test_api_key_with_control_characters_is_refused(key: str) -> None:
    with pytest.raises(ValidationError) as info:
        Client(key, base_url="http://127.0.0.1:1")
    assert info.value.field == "api_key"
    assert key not in str(info.value)


def test_api_key_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "key\r\nX-Injected: 1")
    with pytest.raises(ValidationError) as info:
        Client(base_url="http://127.0.0.1:1")
    assert info.value.field == "api_key"


@pytest.mark.parametrize("key", ["", None])
def test_missing_api_key_is_refused(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(ValidationError) as info:
        Client(key, base_url="http://127.0.0.1:1")
    assert info.value.field == "api_key"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:8080", "javascript:alert(1)", ""])
def test_base_url_without_http_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        Client(API_KEY, base_url=url)
    assert info.value.field == "base_url"


@pytest.mark.parametrize("tail", ["/\r\nX-Injected: 1", "\x00", "/ x"])
async def test_base_url_with_control_characters_is_refused(
    server: ScriptedServer, tail: str
) -> None:
    with pytest.raises(ValidationError) as info:
        client = Client(API_KEY, base_url=server.base_url + tail, retry=None)
        try:
            await client.permissions.get(WA_ID)
        finally:
            await client.aclose()
    assert info.value.field == "base_url"
    assert server.requests == []


def test_base_url_without_a_host_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        Client(API_KEY, base_url="https://")
    assert info.value.field == "base_url"


# --- out-of-range settings -----------------------------------------------------------------

MONDAY = OperatingHours(Weekday.MONDAY, "0900", "1700")


def hours(*weekly: OperatingHours, holidays: Any = None, timezone: str = "UTC") -> CallingSettings:
    return CallingSettings(
        call_hours=CallHours(
            status=FeatureStatus.ENABLED,
            timezone_id=timezone,
            weekly_operating_hours=weekly,
            holiday_schedule=holidays,
        )
    )


def sip(server: SipServer) -> CallingSettings:
    return CallingSettings(sip=SipSettings(status=FeatureStatus.ENABLED, servers=(server,)))


def voicemail(timeout: int) -> CallingSettings:
    return CallingSettings(
        voicemail=VoicemailSettings(
            status=FeatureStatus.ENABLED,
            audio=VoicemailAudio(default=VoicemailAnnouncement(timeout_seconds=timeout)),
        )
    )


WEEKLY = "calling.call_hours.weekly_operating_hours"
BAD_SETTINGS: list[tuple[str, Any, str]] = [
    ("not-settings", {"status": "ENABLED"}, "settings"),
    ("unknown-status", CallingSettings(status=FeatureStatus("MAYBE")), "calling.status"),
    ("restrictions", CallingSettings(restrictions=Restrictions()), "calling.restrictions"),
    ("port-0", sip(SipServer("sip.example.com", port=0)), "calling.sip.servers[0].port"),
    ("port-65536", sip(SipServer("sip.example.com", port=65536)), "calling.sip.servers[0].port"),
    ("port-negative", sip(SipServer("sip.example.com", port=-1)), "calling.sip.servers[0].port"),
    ("host-empty", sip(SipServer("")), "calling.sip.servers[0].hostname"),
    ("host-long", sip(SipServer("h" * 254)), "calling.sip.servers[0].hostname"),
    ("host-nul", sip(SipServer("sip\x00.example.com")), "calling.sip.servers[0].hostname"),
    ("voicemail-31", voicemail(31), "calling.voicemail.audio.default.timeout_seconds"),
    ("voicemail-negative", voicemail(-1), "calling.voicemail.audio.default.timeout_seconds"),
    ("hhmm-2400", hours(OperatingHours(Weekday.MONDAY, "0900", "2400")), f"{WEEKLY}[0].close_time"),
    ("hhmm-0960", hours(OperatingHours(Weekday.MONDAY, "0960", "1000")), f"{WEEKLY}[0].open_time"),
    (
        "hhmm-colon",
        hours(OperatingHours(Weekday.MONDAY, "09:00", "1000")),
        f"{WEEKLY}[0].open_time",
    ),
    ("open-after-close", hours(OperatingHours(Weekday.MONDAY, "1700", "0900")), f"{WEEKLY}[0]"),
    ("three-a-day", hours(MONDAY, MONDAY, MONDAY), WEEKLY),
    ("overlap", hours(MONDAY, OperatingHours(Weekday.MONDAY, "1600", "1800")), WEEKLY),
    ("no-weekly", hours(), WEEKLY),
    ("no-timezone", hours(MONDAY, timezone=" "), "calling.call_hours.timezone_id"),
    (
        "21-holidays",
        hours(MONDAY, holidays=[HolidaySchedule(date(2030, 1, 1), "0000", "2359")] * 21),
        "calling.call_hours.holiday_schedule",
    ),
]


@pytest.mark.parametrize(
    ("settings", "field"), [(s, f) for _, s, f in BAD_SETTINGS], ids=[n for n, _, _ in BAD_SETTINGS]
)
async def test_out_of_range_settings(api: Api, settings: Any, field: str) -> None:
    await refused(api, lambda c: c.settings.update(settings), field)


# --- out-of-range client options -----------------------------------------------------------


def option(what: str, build: Callable[[], object], field: str) -> Any:
    return pytest.param(build, field, id=what)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        option("timeout=0", lambda: Client(API_KEY, timeout=0), "timeout"),
        option("timeout=-1", lambda: Client(API_KEY, timeout=-1), "timeout"),
        option("timeout=nan", lambda: Client(API_KEY, timeout=float("nan")), "timeout"),
        option("Timeout.attempt=0", lambda: Timeout(attempt=0), "timeout"),
        option("Timeout.connect=-1", lambda: Timeout(connect=-1), "timeout"),
        option("Timeout(total=True)", lambda: Timeout(total=True), "timeout"),
        option(
            "Client(connection_limit=0)",
            lambda: Client(API_KEY, connection_limit=0),
            "connection_limit",
        ),
        option(
            "Client(connection_limit=-1)",
            lambda: Client(API_KEY, connection_limit=-1),
            "connection_limit",
        ),
        option(
            "Client(max_body_size=0)",
            lambda: Client(API_KEY, max_body_size=0),
            "max_body_size",
        ),
        option(
            "RetryPolicy(max_attempts=0)",
            lambda: RetryPolicy(max_attempts=0),
            "max_attempts",
        ),
        option(
            "RetryPolicy(initial_wait=nan)",
            lambda: RetryPolicy(initial_wait=float("nan")),
            "initial_wait",
        ),
        option(
            "RateLimitPolicy(burst=0)",
            lambda: RateLimitPolicy(burst=0),
            "burst",
        ),
        option(
            "RateLimitPolicy(max_in_flight=0)",
            lambda: RateLimitPolicy(max_in_flight=0),
            "max_in_flight",
        ),
    ],
)
def test_out_of_range_client_options(build: Callable[[], object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        made = build()
        if isinstance(made, Client):  # close what was (wrongly) made, then fail
            del made
    assert isinstance(info.value, D360Error)
    assert field in info.value.field
