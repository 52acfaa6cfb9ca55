"""Two ways to stand in for the API with one interface: the real `ScriptedServer`, or
aioresponses patching aiohttp. Endpoint tests run against both."""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aioresponses import aioresponses as Aioresponses
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from d360_calling import Client

from . import samples
from .server import NOT_FOUND, Action, Recorded, Reply, ScriptedServer


@dataclass(frozen=True)
class Seen:
    """A request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes | None

    @property
    def json(self) -> Any:
        return None if not self.body else jsonlib.loads(self.body)


class Backend(Protocol):
    name: str
    client: Client

    def respond(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None: ...

    def seen(self) -> list[Seen]: ...


class ServerBackend:
    name = "server"

    def __init__(self, server: ScriptedServer, client: Client) -> None:
        self.server = server
        self.client = client

    def respond(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        reply = Reply(status, json, body, dict(headers or {}), content_type)
        self.server.routes[(method, path)] = reply

    def seen(self) -> list[Seen]:
        return [Seen(r.method, r.path, r.query, r.headers, r.body) for r in self.server.requests]


class MockBackend:
    name = "aioresponses"

    def __init__(self, mock: Aioresponses, client: Client, base_url: str) -> None:
        self.mock = mock
        self.client = client
        self.base_url = base_url

    def respond(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        pattern = re.compile(re.escape(self.base_url + path) + r"(\?.*)?$")
        if body is None:
            body = b"" if json is None else jsonlib.dumps(json).encode()
        self.mock.add(
            pattern,
            method,
            status=status,
            body=body,
            headers=dict(headers or {}),
            content_type=content_type,
            repeat=True,
        )

    def seen(self) -> list[Seen]:
        out = []
        for (method, url), calls in self.mock.requests.items():
            assert isinstance(url, URL)
            for call in calls:
                headers = CIMultiDictProxy(CIMultiDict(call.kwargs.get("headers") or {}))
                data = call.kwargs.get("data")
                out.append(Seen(method, url.path, dict(url.query), headers, data))
        return out


def calling_default(seen: Recorded) -> Action:
    """A plausible success answer for each documented endpoint (the server's fallback)."""
    match seen.method, seen.path:
        case "POST", "/calling/calls":
            action = (seen.json or {}).get("action")
            return Reply(json=samples.CONNECT_RESPONSE if action == "connect" else samples.SUCCESS)
        case "GET", path if path.startswith("/calling/permissions/"):
            return Reply(json=samples.PERMISSIONS)
        case "GET", "/calling/settings":
            return Reply(json=samples.SETTINGS)
        case "POST", "/calling/settings":
            return Reply(json=samples.BARE_SUCCESS)
    return NOT_FOUND
