"""Adds the `D360-API-KEY` header; the key lives here and nowhere a repr or log can see it."""

from __future__ import annotations

import attrs

from ..session import Handler, Request, Response
from ..validation import header_value

API_KEY_HEADER = "D360-API-KEY"


class AuthMiddleware:
    """Sends the API key with every request."""

    __slots__ = ("_api_key",)

    def __init__(self, api_key: str) -> None:
        self._api_key = header_value("api_key", api_key)

    def __repr__(self) -> str:
        return "AuthMiddleware(api_key='***')"

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        headers = {**request.headers, API_KEY_HEADER: self._api_key}
        return await call_next(attrs.evolve(request, headers=headers))
