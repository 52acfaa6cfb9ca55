"""The API key and SIP passwords never show in reprs, error texts or log records."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from d360_calling import (
    CallingSettings,
    D360Error,
    FeatureStatus,
    PhoneNumberSettings,
    Request,
    Response,
    SipServer,
    SipSettings,
)
from d360_calling.session import Handler

from ..support import samples
from ..support.clients import make_client
from ..support.samples import API_KEY, SIP_PASSWORD, WA_ID
from ..support.server import ScriptedServer, non_json, reply, reset_after_read, truncated

SECRETS = (API_KEY, SIP_PASSWORD)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_client_repr() -> None:
    client = make_client("http://127.0.0.1:1")
    assert_clean(repr(client))
    assert_clean(str(client))
    assert "***" in repr(client)


def test_sip_server_and_settings_reprs() -> None:
    server = SipServer(hostname="sip.example.com", port=5061, sip_user_password=SIP_PASSWORD)
    settings = PhoneNumberSettings(
        calling=CallingSettings(sip=SipSettings(status=FeatureStatus.ENABLED, servers=(server,)))
    )
    for text in (repr(server), str(server), repr(settings), str(settings)):
        assert_clean(text)
        assert "sip.example.com" in text
        assert "***" in text


def test_request_repr_masks_key_headers() -> None:
    request = Request(
        "GET",
        "/calling/settings",
        "settings.get",
        headers={"D360-API-KEY": API_KEY, "Authorization": f"Bearer {API_KEY}", "X-Ok": "fine"},
    )
    assert_clean(repr(request))
    assert "fine" in repr(request)


class Spy:
    def __init__(self) -> None:
        self.reprs: list[str] = []

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.reprs.append(repr(request))
        self.reprs.append(str(request))
        response = await call_next(request)
        self.reprs.append(repr(response))
        return response


async def test_middleware_sees_no_secret(server: ScriptedServer) -> None:
    spy = Spy()
    server.script(reply(json=samples.SETTINGS))
    client = make_client(server.base_url, middlewares=[spy])
    try:
        settings = await client.settings.get(include_sip_credentials=True)
    finally:
        await client.aclose()
    assert len(spy.reprs) == 3
    for text in spy.reprs:
        assert_clean(text)
    # the password did arrive, it is only hidden
    assert settings.calling.sip.servers[0].sip_user_password == SIP_PASSWORD  # type: ignore[index,union-attr]
    for text in (repr(settings), str(settings), repr(settings.calling.sip)):
        assert_clean(text)
    assert server.requests[0].headers["D360-API-KEY"] == API_KEY


def exception_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    current: BaseException | None = exc
    seen: set[int] = set()
    todo = [current]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [repr(current), str(current), repr(current.args)]
        todo += [current.__cause__, current.__context__]
    return texts


FAILURES: list[Any] = [
    reply(401, {"meta": {"success": False, "httpCode": 401, "developerMessage": "Invalid key"}}),
    reply(401, samples.meta_error(138006)),
    reply(429, samples.meta_error(613, "slow down"), headers={"Retry-After": "1"}),
    reply(503, body=b"<html>503</html>", content_type="text/html"),
    non_json(),
    truncated(),
    reset_after_read(),
]


@pytest.mark.parametrize("failure", FAILURES)
async def test_errors_and_logs_hold_no_secret(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture, failure: Any
) -> None:
    caplog.set_level(logging.DEBUG, logger="d360_calling")
    server.script(failure, failure)  # twice: aiohttp itself resends a GET once on a reset
    client = make_client(server.base_url)
    try:
        with pytest.raises(D360Error) as info:
            await client.settings.get(include_sip_credentials=True)
    finally:
        await client.aclose()

    for text in exception_texts(info.value):
        assert_clean(text)
    records = [r for r in caplog.records if r.name.startswith("d360_calling")]
    assert len(records) >= 1
    for record in records:
        assert_clean(record.getMessage())
        assert_clean(repr(record.args))


async def test_logs_of_successful_calls_hold_no_secret(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="d360_calling")
    client = make_client(server.base_url)
    try:
        await client.settings.get(include_sip_credentials=True)
        await client.permissions.get(WA_ID)
        await client.calls.terminate(samples.CALL_ID)
    finally:
        await client.aclose()

    records = [r for r in caplog.records if r.name.startswith("d360_calling")]
    assert len(records) >= 3
    operations = " ".join(r.getMessage() for r in records)
    for operation in ("settings.get", "permissions.get", "calls.terminate"):
        assert operation in operations
    for record in records:
        assert_clean(record.getMessage())
        assert_clean(repr(record.args))


async def test_decode_error_on_settings_does_not_quote_password(server: ScriptedServer) -> None:
    body = {"calling": {"sip": {"status": "ENABLED", "servers": [{"port": SIP_PASSWORD}]}}}
    server.script(reply(json=body))
    client = make_client(server.base_url)
    try:
        with pytest.raises(D360Error) as info:
            await client.settings.get(include_sip_credentials=True)
    finally:
        await client.aclose()
    message = str(info.value)
    assert message.startswith("settings.get: response does not have the documented shape")
    assert "$.calling.sip.servers[0].port" in message
    assert_clean(str(info.value))
