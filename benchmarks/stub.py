"""aiohttp stubbed out: a stand-in `ClientSession` whose `request()` answers with canned bytes.

Given to `Client(session=...)`, it replaces only what aiohttp does (connect, write, read the
socket): every line of the SDK runs as shipped, the terminal handler included (it encodes the
body, merges the headers, builds the attempt's timeout, reads the answer under the size cap and
builds the `Response`). What is left is the SDK's own CPU per request, which the benchmark sets
against raw aiohttp's whole CPU per request. The stub's own cost (a small object and three
awaits that never suspend) is measured separately (`stub_cost`) and is included in the SDK's
figure, so the figure errs high, not low.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from multidict import CIMultiDict, CIMultiDictProxy

from benchmarks import payloads

ACCEPT_ANSWER: Final = payloads.encode(payloads.ACTION_RESULT)
PERMISSIONS_ANSWER: Final = payloads.encode(payloads.PERMISSIONS)


def _headers(body: bytes) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(
        CIMultiDict({"Content-Type": "application/json", "Content-Length": str(len(body))})
    )


class CannedResponse:
    """What `aiohttp.ClientSession.request()` gives, reduced to what the SDK reads: an async
    context manager with `status`, `headers`, `content_length` and `read()`."""

    __slots__ = ("_body", "content_length", "headers", "status")

    def __init__(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = 200
        self.headers = headers
        self._body = body
        self.content_length = len(body)

    async def read(self) -> bytes:
        return self._body

    def close(self) -> None:
        return None

    async def __aenter__(self) -> CannedResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class StubHttp:
    """A stand-in `aiohttp.ClientSession`: `POST` gets the accept answer, `GET` the
    permissions one (the API reference's samples, as the canned server sends them)."""

    closed = False

    def __init__(self) -> None:
        self._answers = {
            "POST": (ACCEPT_ANSWER, _headers(ACCEPT_ANSWER)),
            "GET": (PERMISSIONS_ANSWER, _headers(PERMISSIONS_ANSWER)),
        }
        self.requests = 0

    def request(self, method: str, url: str, **kwargs: Any) -> CannedResponse:
        self.requests += 1
        body, headers = self._answers[method]
        return CannedResponse(body, headers)

    async def close(self) -> None:
        return None


async def stub_cost_once(http: StubHttp) -> None:
    """What the terminal handler spends inside the stub per request (to subtract, or not)."""
    async with http.request("GET", "http://stub/") as raw:
        await raw.read()
