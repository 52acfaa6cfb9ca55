"""Error responses become the right typed error with every field filled from the body and
headers (reference §5.1, §5.4); broken success bodies and transport failures become
`ResponseDecodeError` / `TransportError`, never a raw aiohttp exception."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

import d360_calling
from d360_calling import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CallingError,
    CallingNotEnabledError,
    CallPermissionNotFoundError,
    D360Error,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from d360_calling.error_codes import CALLING_ERROR_CODES

from ..support import samples
from ..support.backends import Backend
from ..support.clients import make_client
from ..support.samples import WA_ID
from ..support.server import (
    Reply,
    ScriptedServer,
    huge,
    non_json,
    reset_after_read,
    reset_before_read,
    truncated,
)

PERMISSIONS_PATH = f"/calling/permissions/{WA_ID}"


async def get_error(backend: Backend, status: int, **response: Any) -> APIError:
    backend.respond("GET", PERMISSIONS_PATH, status=status, **response)
    with pytest.raises(APIError) as info:
        await backend.client.permissions.get(WA_ID)
    assert len(backend.seen()) == 1
    return info.value


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything hanging off it as `__cause__` or `__context__`."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def assert_no_aiohttp_in_chain(exc: BaseException) -> None:
    leaked = [e for e in chain(exc) if type(e).__module__.startswith("aiohttp")]
    assert leaked == [], leaked


# --- Meta envelope -------------------------------------------------------------------------


async def test_meta_envelope_fields(backend: Backend) -> None:
    body = samples.meta_error(138006, details="no permission for 14085551234")

    error = await get_error(backend, 401, json=body, headers={"x-fb-trace-id": "other"})

    assert type(error) is CallPermissionNotFoundError
    assert error.status == 401
    assert error.code == 138006
    assert error.subcode == 2494055
    assert error.message == "(#138006) No approved call permission found"
    assert error.details == "no permission for 14085551234"
    assert error.trace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.retry_after is None
    assert error.operation == "permissions.get"
    assert error.body == body
    assert str(error) == (
        "permissions.get: (#138006) No approved call permission found "
        "[HTTP 401 (code 138006)]: no permission for 14085551234"
    )


@pytest.mark.parametrize(
    ("code", "cls"), [(138000, CallingNotEnabledError), (138006, CallPermissionNotFoundError)]
)
async def test_calling_codes_on_401_are_not_authentication_errors(
    backend: Backend, code: int, cls: type[APIError]
) -> None:
    error = await get_error(backend, 401, json=samples.meta_error(code, "calling says no"))

    assert type(error) is cls
    assert not isinstance(error, AuthenticationError)
    assert isinstance(error, CallingError)
    assert (error.status, error.code, error.message) == (401, code, "calling says no")


@pytest.mark.parametrize("code", sorted(CALLING_ERROR_CODES))
async def test_each_calling_code_has_its_class(backend: Backend, code: int) -> None:
    row = CALLING_ERROR_CODES[code]
    cls = getattr(d360_calling, row.name)

    error = await get_error(
        backend, row.http_status, json=samples.meta_error(code, row.message, subcode=None)
    )

    assert type(error) is cls
    assert issubclass(cls, CallingError)
    assert error.code == code
    assert error.status == row.http_status
    assert error.message == row.message
    assert error.subcode is None
    assert error.details == "the details"


def test_calling_classes_are_distinct() -> None:
    classes = [getattr(d360_calling, row.name) for row in CALLING_ERROR_CODES.values()]
    assert len(set(classes)) == len(CALLING_ERROR_CODES) == 20


async def test_unknown_calling_code_is_generic_calling_error(backend: Backend) -> None:
    error = await get_error(backend, 400, json=samples.meta_error(138011, "How to avoid 138011"))

    assert type(error) is CallingError
    assert (error.code, error.status) == (138011, 400)


async def test_error_data_as_string(backend: Backend) -> None:
    body = {"error": {"message": "bad", "code": 100, "error_data": "SDP is invalid"}}

    error = await get_error(backend, 400, json=body)

    assert type(error) is BadRequestError
    assert (error.code, error.details, error.trace_id) == (100, "SDP is invalid", None)


# --- 360dialog's own bodies ----------------------------------------------------------------


async def test_360dialog_meta_camel_case(backend: Backend) -> None:
    body = {
        "meta": {
            "httpCode": 403,
            "developerMessage": "This URL *** is blocked.",
            "success": False,
        }
    }

    error = await get_error(backend, 403, json=body)

    assert type(error) is PermissionDeniedError
    assert (error.status, error.code, error.message) == (403, None, "This URL *** is blocked.")
    assert error.body == body


async def test_360dialog_meta_snake_case(backend: Backend) -> None:
    body = {
        "meta": {"success": False, "http_code": 555, "developer_message": "Internal server error"}
    }

    error = await get_error(backend, 500, json=body)

    assert type(error) is ServerError
    assert (error.status, error.code, error.message) == (500, None, "Internal server error")


@pytest.mark.parametrize(
    "text",
    [
        "You have exceeded the endpoint rate limit.",
        "You have reached the limit of 1 request every 5 seconds",
    ],
)
async def test_360dialog_throttle_as_400_is_rate_limit(backend: Backend, text: str) -> None:
    error = await get_error(
        backend, 400, json={"meta": {"success": False, "httpCode": 400, "developerMessage": text}}
    )

    assert type(error) is RateLimitError
    assert (error.status, error.message) == (400, text)


async def test_plain_error_string(backend: Backend) -> None:
    error = await get_error(backend, 400, json={"error": "invalid body"})

    assert type(error) is BadRequestError
    assert (error.status, error.code, error.message) == (400, None, "invalid body")


async def test_detail_wrapper_around_meta_envelope(backend: Backend) -> None:
    body = {"detail": samples.meta_error(138003, "(#138003) Duplicate call", details="ongoing")}

    error = await get_error(backend, 400, json=body)

    assert type(error) is d360_calling.DuplicateCallError
    assert error.code == 138003
    assert error.subcode == 2494055
    assert error.message == "(#138003) Duplicate call"
    assert error.details == "ongoing"
    assert error.trace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"


async def test_html_503_is_server_error(backend: Backend) -> None:
    html = b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>"

    error = await get_error(backend, 503, body=html, content_type="text/html")

    assert type(error) is ServerError
    assert (error.status, error.code, error.message, error.body) == (503, None, "HTTP 503", None)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (400, BadRequestError),
        (500, ServerError),
        (502, ServerError),
        (418, APIError),
    ],
)
async def test_status_fallback(backend: Backend, status: int, cls: type[APIError]) -> None:
    error = await get_error(
        backend, status, json={"meta": {"success": False, "developerMessage": "nope"}}
    )

    assert type(error) is cls
    assert (error.status, error.message, error.operation) == (status, "nope", "permissions.get")


async def test_401_invalid_key_body_disagreeing_status(backend: Backend) -> None:
    body = {"meta": {"success": False, "httpCode": 404, "developerMessage": "Invalid api key"}}

    error = await get_error(backend, 401, json=body)

    assert type(error) is AuthenticationError
    assert error.status == 401


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("0.5", 0.5)])
async def test_429_retry_after(backend: Backend, header: str, expected: float) -> None:
    error = await get_error(
        backend, 429, json=samples.meta_error(613, "rate limited"), headers={"Retry-After": header}
    )

    assert type(error) is RateLimitError
    assert (error.status, error.code, error.retry_after) == (429, 613, expected)


async def test_429_without_body_or_header(backend: Backend) -> None:
    error = await get_error(backend, 429, body=b"", content_type="text/plain")

    assert type(error) is RateLimitError
    assert (error.retry_after, error.code, error.message) == (None, None, "HTTP 429")


async def test_errors_on_post_name_the_operation(backend: Backend) -> None:
    backend.respond("POST", "/calling/calls", status=400, json=samples.meta_error(138001, "no"))

    with pytest.raises(d360_calling.ReceiverUncallableError) as info:
        await backend.client.calls.reject(samples.CALL_ID)

    assert info.value.operation == "calls.reject"
    assert str(info.value).startswith("calls.reject: no [HTTP 400 (code 138001)]")


# --- broken success bodies -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b"", b"[" * 100_000, b'{"messaging_product": ', b"\xff\xfe{}"],
    ids=["html", "empty", "deep", "cut-json", "not-utf8"],
)
async def test_bad_success_body_is_decode_error(backend: Backend, body: bytes) -> None:
    backend.respond("GET", PERMISSIONS_PATH, body=body, content_type="text/html")

    with pytest.raises(ResponseDecodeError) as info:
        await backend.client.permissions.get(WA_ID)

    assert info.value.status == 200
    assert info.value.operation == "permissions.get"
    assert_no_aiohttp_in_chain(info.value)


async def test_wrong_shape_is_decode_error(backend: Backend) -> None:
    backend.respond("GET", PERMISSIONS_PATH, json={"permission": "yes"})

    with pytest.raises(ResponseDecodeError) as info:
        await backend.client.permissions.get(WA_ID)

    assert info.value.status == 200
    assert info.value.__cause__ is None


async def test_non_json_success_from_server(server: ScriptedServer, client: Any) -> None:
    server.script(non_json())

    with pytest.raises(ResponseDecodeError) as info:
        await client.settings.get()

    assert (info.value.status, info.value.operation) == (200, "settings.get")
    assert_no_aiohttp_in_chain(info.value)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_huge_body_is_decode_error(server: ScriptedServer, chunked: bool) -> None:
    client = make_client(server.base_url, max_body_size=64 * 1024)
    server.script(huge(2 * 1024 * 1024, chunked=chunked))
    try:
        with pytest.raises(ResponseDecodeError) as info:
            await client.permissions.get(WA_ID)
        # the client still works afterwards
        assert (await client.permissions.get(WA_ID)).can_request_permission is True
    finally:
        await client.aclose()

    assert info.value.status == 200
    assert "65536" in str(info.value)
    assert_no_aiohttp_in_chain(info.value)
    assert server.count() == 2


async def test_gzip_body_inflating_past_the_cap_is_decode_error(server: ScriptedServer) -> None:
    inflated = json.dumps({"success": True, "pad": " " * (2 * 1024 * 1024)}).encode()
    server.script(Reply(body=gzip.compress(inflated), headers={"Content-Encoding": "gzip"}))
    client = make_client(server.base_url, max_body_size=64 * 1024)
    try:
        with pytest.raises(ResponseDecodeError):
            await client.settings.update(d360_calling.CallingSettings())
    finally:
        await client.aclose()


async def test_body_at_the_cap_is_accepted(server: ScriptedServer) -> None:
    body = b'{"success": true}'
    client = make_client(server.base_url, max_body_size=len(body))
    server.script(Reply(body=body))
    try:
        result = await client.settings.update(d360_calling.CallingSettings())
    finally:
        await client.aclose()
    assert result.success is True


async def test_truncated_body_is_transport_error(server: ScriptedServer, client: Any) -> None:
    server.script(truncated())

    with pytest.raises(TransportError) as info:
        await client.permissions.get(WA_ID)

    assert info.value.operation == "permissions.get"
    assert info.value.request_sent is True
    assert not isinstance(info.value, aiohttp.ClientError)


async def test_reset_after_read_is_transport_error(server: ScriptedServer, client: Any) -> None:
    server.script(reset_after_read())

    with pytest.raises(TransportError) as info:
        await client.calls.terminate(samples.CALL_ID)

    assert (info.value.operation, info.value.request_sent) == ("calls.terminate", True)
    assert server.count("/calling/calls") == 1


async def test_reset_before_read_is_transport_error(server: ScriptedServer, client: Any) -> None:
    server.script(reset_before_read())

    with pytest.raises(TransportError) as info:
        await client.calls.reject(samples.CALL_ID)

    assert (info.value.operation, info.value.request_sent) == ("calls.reject", True)
    assert server.count("/calling/calls") == 1
    assert server.requests[0].body is None


async def test_get_reset_after_read_is_resent_once_by_aiohttp(
    server: ScriptedServer, client: Any
) -> None:
    """aiohttp (RFC 9112 §9.3.1.1) resends an idempotent request once when the connection
    drops; the SDK's attempt count does not see it. Documents the current behaviour."""
    server.script(reset_after_read())

    perms = await client.permissions.get(WA_ID)

    assert perms.can_request_permission is True
    assert server.count(PERMISSIONS_PATH) == 2


async def test_get_reset_twice_is_transport_error(server: ScriptedServer, client: Any) -> None:
    server.script(reset_after_read(), reset_after_read())

    with pytest.raises(TransportError) as info:
        await client.permissions.get(WA_ID)

    assert (info.value.operation, info.value.request_sent) == ("permissions.get", True)
    assert server.count(PERMISSIONS_PATH) == 2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_transport_error_not_sent() -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}")
    try:
        with pytest.raises(TransportError) as info:
            await client.permissions.get(WA_ID)
    finally:
        await client.aclose()

    assert type(info.value) is TransportError
    assert info.value.request_sent is False
    assert info.value.operation == "permissions.get"
    assert info.value.__cause__ is None


async def test_truncated_chain_has_no_aiohttp(server: ScriptedServer, client: Any) -> None:
    server.script(truncated())
    with pytest.raises(TransportError) as info:
        await client.permissions.get(WA_ID)
    assert_no_aiohttp_in_chain(info.value)


async def test_refused_chain_has_no_aiohttp() -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}")
    try:
        with pytest.raises(TransportError) as info:
            await client.permissions.get(WA_ID)
    finally:
        await client.aclose()
    assert_no_aiohttp_in_chain(info.value)


def test_every_error_is_a_d360_error() -> None:
    for name in d360_calling.__all__:
        value = getattr(d360_calling, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, D360Error), name
