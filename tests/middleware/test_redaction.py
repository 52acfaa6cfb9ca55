"""No secret or SDP in any repr or log record: the SIP password is masked in a request's repr,
and SDP the API quotes back in its error text (an `a=ice-pwd:` line, a whole offer) is redacted
before it reaches a log record, whose args never hold the exception itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Final

import pytest
from aioresponses import aioresponses as Aioresponses

from d360_calling import (
    BadRequestError,
    CallingSettings,
    FeatureStatus,
    Request,
    Response,
    RetryPolicy,
    SessionDescription,
    SipServer,
    SipSettings,
    TransportError,
    errors,
)
from d360_calling.session import Handler

from ..support.clients import make_client
from ..support.samples import ANSWER_SDP, CALL_ID, DEFAULT_BASE_URL, SIP_PASSWORD
from ..support.server import ScriptedServer, reply
from ..support.sleep import FakeSleep

ICE_PWD: Final = "q9Ff8PwdSECRETz7Lk2Nn0vX"
ICE_UFRAG: Final = "uFragSECRET1"
FINGERPRINT: Final = "AB:CD:EF:01:23:45:67:89:SECRET"
QUOTED_SDP: Final = (
    f"{ANSWER_SDP}a=ice-ufrag:{ICE_UFRAG}\r\na=ice-pwd:{ICE_PWD}\r\n"
    f"a=fingerprint:sha-256 {FINGERPRINT}\r\nc=IN IP4 192.0.2.7\r\n"
)
SECRETS: Final = (SIP_PASSWORD, ICE_PWD, ICE_UFRAG, FINGERPRINT, "192.0.2.7")


def quoting(status: int, code: int) -> dict[str, Any]:
    """An error body whose message and details quote the request's SDP back."""
    return {
        "error": {
            "message": f"(#{code}) Could not apply the SDP: a=ice-pwd:{ICE_PWD}",
            "code": code,
            "error_data": {"details": f"Offending session description: {QUOTED_SDP}"},
        }
    }


UNAVAILABLE_QUOTING: Final = quoting(503, 131016)
REFUSED_QUOTING: Final = quoting(400, 100)


def record_texts(caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    """Everything a handler could write of the SDK's records: message, args, traceback."""
    formatter = logging.Formatter()
    for record in caplog.records:
        if not record.name.startswith("d360_calling"):
            continue
        assert not any(isinstance(arg, BaseException) for arg in record.args or ())
        yield record.getMessage()
        yield repr(record.args)
        if record.exc_info:
            yield formatter.formatException(record.exc_info)
        yield repr(vars(record))


def assert_clean(texts: Iterator[str]) -> int:
    count = 0
    for text in texts:
        count += 1
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text[:300]!r}"
    return count


def retrying() -> RetryPolicy:
    return RetryPolicy(sleep=FakeSleep(), random=lambda: 0.0)


async def test_retry_and_settled_records_hold_no_quoted_sdp_server(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="d360_calling")
    server.script(reply(503, UNAVAILABLE_QUOTING), reply(400, REFUSED_QUOTING))
    client = make_client(server.base_url)
    try:
        result = await client.calls.terminate(CALL_ID, retry=retrying())
    finally:
        await client.aclose()
    assert result.success is True
    assert server.count() == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("retrying" in m for m in messages)
    assert any("reported as success" in m for m in messages)
    assert assert_clean(record_texts(caplog)) >= 8
    assert any("redacted" in m for m in messages)  # the API's text is there, its SDP is not


async def test_retry_and_settled_records_hold_no_quoted_sdp_aioresponses(
    aioresponses: Aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="d360_calling")
    url = f"{DEFAULT_BASE_URL}/calling/calls"
    aioresponses.post(url, status=503, payload=UNAVAILABLE_QUOTING)
    aioresponses.post(url, status=400, payload=REFUSED_QUOTING)
    client = make_client(DEFAULT_BASE_URL)
    try:
        result = await client.calls.terminate(CALL_ID, retry=retrying())
    finally:
        await client.aclose()
    assert result.success is True
    messages = [r.getMessage() for r in caplog.records]
    assert any("retrying" in m for m in messages)
    assert any("reported as success" in m for m in messages)
    assert assert_clean(record_texts(caplog)) >= 8


class LogsRequests:
    """A user middleware that logs every request's repr, as a logging middleware would."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.texts += [repr(request), str(request)]
        logging.getLogger("d360_calling.user").debug("sending %r", request)
        return await call_next(request)


async def test_request_reprs_mask_the_password_and_the_sdp(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="d360_calling.user")
    spy = LogsRequests()
    client = make_client(server.base_url, middlewares=[spy])
    sip = SipServer(hostname="sip.example.com", port=5061, sip_user_password=SIP_PASSWORD)
    settings = CallingSettings(sip=SipSettings(status=FeatureStatus.ENABLED, servers=(sip,)))
    try:
        await client.settings.update(settings)
        await client.calls.accept(CALL_ID, SessionDescription.answer(QUOTED_SDP))
    finally:
        await client.aclose()
    sent = [r.json for r in server.requests]
    assert sent[0]["calling"]["sip"]["servers"][0]["sip_user_password"] == SIP_PASSWORD
    assert sent[1]["session"]["sdp"] == QUOTED_SDP  # sent as given, only hidden in reprs
    assert len(spy.texts) == 4
    assert "sip.example.com" in spy.texts[0]
    user_records = [r.getMessage() for r in caplog.records if r.name == "d360_calling.user"]
    assert assert_clean(iter(spy.texts + user_records)) == 6


async def test_the_api_errors_text_is_redacted_its_body_kept(server: ScriptedServer) -> None:
    server.script(reply(400, REFUSED_QUOTING))
    client = make_client(server.base_url)
    try:
        with pytest.raises(BadRequestError) as caught:
            await client.calls.accept(CALL_ID, SessionDescription.answer(QUOTED_SDP))
    finally:
        await client.aclose()
    error = caught.value
    texts = [str(error), repr(error), repr(error.args), error.message, str(error.details)]
    assert assert_clean(iter(texts)) == 5
    assert str(error).startswith("calls.accept: (#100) Could not apply the SDP: [SDP redacted]")
    assert error.body == REFUSED_QUOTING  # the API's own body, for who needs it


def test_a_log_record_gets_a_class_name_and_redacted_text() -> None:
    leaky = TransportError(f"peer said a=ice-pwd:{ICE_PWD}", operation="calls.accept")
    assert errors.error_text(leaky) == "TransportError: calls.accept: peer said [SDP redacted]"
    assert errors.error_text(ValueError(ICE_PWD)) == "ValueError"  # foreign: class only


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (QUOTED_SDP, ""),
        (f"bad SDP: a=ice-pwd:{ICE_PWD}", "bad SDP: "),
        (f"ice-pwd: {ICE_PWD} is too short", ""),
        (f"ICE-UFRAG={ICE_UFRAG}", ""),
        (f"a=fingerprint:sha-256 {FINGERPRINT}", ""),
        ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz", ""),
        (QUOTED_SDP.replace("\r\n", "\\r\\n"), ""),  # quoted with its escapes
        (QUOTED_SDP.replace("\r\n", "\n"), ""),
        (f'"sdp": "{QUOTED_SDP}", trace T1', ", trace T1"),
    ],
)
def test_redact_removes_sdp_and_its_credentials(text: str, kept: str) -> None:
    redacted = errors.redact(text)
    for secret in (*SECRETS, "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz", "IN IP4 127.0.0.1"):
        assert secret not in redacted
    assert kept in redacted
    assert "redacted" in redacted


@pytest.mark.parametrize(
    "prose",
    [
        "(#131016) Service unavailable",
        "(#100) Invalid parameter: session.sdp_type=answer expected",
        "Param to must be a valid WhatsApp ID, got 14155550123",
        "status=FAILED after 3 tries; retry-after=2",
        "HTTP 503",
    ],
)
def test_redact_leaves_other_text_alone(prose: str) -> None:
    assert errors.redact(prose) == prose
