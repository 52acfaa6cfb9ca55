"""Turns an error response (status, headers, body bytes) into the right typed `APIError`.

Total over every body shape the API reference lists (section 5): Meta's envelope, 360dialog's
`meta` bodies in both spellings, `{"error": "..."}`, the `detail` wrapper, HTML and garbage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import errors
from .error_codes import (
    AUTH_CODES,
    BAD_REQUEST_CODES,
    CALLING_ERROR_CODES,
    PERMISSION_CODES,
    RATE_LIMIT_CODES,
    RATE_LIMIT_MESSAGE_MARKERS,
    TRANSIENT_CODES,
)
from .jsonutil import loads_or_none
from .retry_after import parse_retry_after

_CALLING_CLASSES: Final[dict[int, type[errors.CallingError]]] = {
    code: getattr(errors, row.name) for code, row in CALLING_ERROR_CODES.items()
}

_STATUS_CLASSES: Final[dict[int, type[errors.APIError]]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    429: errors.RateLimitError,
}

MAX_MESSAGE_LENGTH: Final = 500


def api_error(
    operation: str, status: int, headers: Mapping[str, str], body: bytes
) -> errors.APIError:
    """The typed error for an error response; never raises itself."""
    fields = _fields(loads_or_none(body))
    code = fields.get("code")
    message = _clip(fields.get("message")) or f"HTTP {status}"
    cls = _class_for(status, code, message)
    return cls(
        message,
        operation=operation,
        status=status,
        code=code,
        subcode=fields.get("subcode"),
        details=_clip(fields.get("details")),
        trace_id=fields.get("trace_id") or headers.get("x-fb-trace-id"),
        retry_after=parse_retry_after(headers),
        body=fields.get("body"),
    )


def _class_for(status: int, code: int | None, message: str) -> type[errors.APIError]:
    if code is not None:
        if code in _CALLING_CLASSES:
            return _CALLING_CLASSES[code]
        if 138000 <= code <= 138999:
            return errors.CallingError
        if code in RATE_LIMIT_CODES:
            return errors.RateLimitError
        if code in TRANSIENT_CODES:
            return errors.ServerError
        if code in AUTH_CODES:
            return errors.AuthenticationError
        if code in PERMISSION_CODES:
            return errors.PermissionDeniedError
        if code in BAD_REQUEST_CODES:
            return errors.BadRequestError
    lowered = message.lower()
    if any(marker in lowered for marker in RATE_LIMIT_MESSAGE_MARKERS):
        return errors.RateLimitError
    if status >= 500:
        return errors.ServerError
    return _STATUS_CLASSES.get(status, errors.APIError)


def _fields(payload: Any) -> dict[str, Any]:
    """The error's code, message, details, subcode and trace id, whatever the body's shape."""
    if not isinstance(payload, dict):
        return {}
    detail = payload.get("detail")
    if isinstance(detail, dict) and "error" in detail:
        payload = detail
    error = payload.get("error")
    if isinstance(error, dict):
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else data
        return {
            "code": _int(error.get("code")),
            "subcode": _int(error.get("error_subcode")),
            "message": _str(error.get("message") or error.get("error_user_msg")),
            "details": _str(details),
            "trace_id": _str(error.get("fbtrace_id")),
            "body": payload,
        }
    if isinstance(error, str):
        return {"message": error, "body": payload}
    meta = payload.get("meta")
    if isinstance(meta, dict):
        message = meta.get("developerMessage", meta.get("developer_message"))
        return {"message": _str(message), "body": payload}
    return {"body": payload}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_MESSAGE_LENGTH:
        return text
    return text[:MAX_MESSAGE_LENGTH] + "…"


def reclassified(error: errors.APIError, cls: type[errors.APIError]) -> errors.APIError:
    """`error` as `cls` (a narrower class an endpoint knows, `MediaNotFoundError` for a media
    lookup's 404), with the same fields, caused by it."""
    narrowed = cls(
        error.message,
        operation=error.operation,
        status=error.status,
        code=error.code,
        subcode=error.subcode,
        details=error.details,
        trace_id=error.trace_id,
        retry_after=error.retry_after,
        body=error.body,
    )
    narrowed.__cause__ = error
    return narrowed
