"""The error bodies the sandbox answers with: Meta's envelope and 360dialog's own shape."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from d360_calling.error_codes import CALLING_ERROR_CODES

JsonObject = dict[str, Any]
"""A decoded JSON object."""


class ApiError(Exception):
    """An error answer: HTTP status plus JSON body; raised by state and validation, sent by app."""

    def __init__(
        self, status: int, body: JsonObject, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body
        self.headers: Mapping[str, str] = headers or {}


def fbtrace_id() -> str:
    """A random trace id like the ones Graph puts in every error."""
    return "A" + secrets.token_urlsafe(16)


def meta_body(code: int, message: str, details: str | None = None) -> JsonObject:
    """Meta's error envelope (API reference, §5.1) for `code`, message prefixed "(#code)"."""
    error: JsonObject = {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = fbtrace_id()
    return {"error": error}


def dialog_body(http_code: int, message: str) -> JsonObject:
    """360dialog's own error body (API reference, §5.4, snake_case variant)."""
    return {"meta": {"success": False, "http_code": http_code, "developer_message": message}}


def invalid_parameter(details: str) -> ApiError:
    """HTTP 400, code 100: a request field is missing or wrong; `details` names it and why."""
    return ApiError(400, meta_body(100, "Invalid parameter", details))


def calling_error(code: int, details: str | None = None) -> ApiError:
    """A documented 138xxx error with the status and text of the shared table."""
    row = CALLING_ERROR_CODES[code]
    return ApiError(row.http_status, meta_body(code, row.message, details or row.message))


def sip_enabled_error() -> ApiError:
    """Code 131055: Graph call endpoints refuse a number that has SIP enabled (§1.1)."""
    return ApiError(
        400,
        meta_body(
            131055, "Method not allowed", "SIP is enabled on this number; use SIP signalling"
        ),
    )


def unauthorized() -> ApiError:
    """360dialog's answer to a missing or wrong `D360-API-KEY`."""
    return ApiError(401, dialog_body(401, "Invalid api key"))
