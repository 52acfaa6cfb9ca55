"""Plain-aiohttp helpers for the sandbox tests: a webhook receiver and request bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import attrs
from aiohttp import web

from d360_calling.sandbox import OFFER_SDP

KEY = "sandbox-key"
USER = "14155550123"
ANSWER = OFFER_SDP.replace("a=setup:actpass", "a=setup:active")


def connect_body(to: str = USER, **extra: Any) -> dict[str, Any]:
    """A valid connect request."""
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "action": "connect",
        "session": {"sdp_type": "offer", "sdp": OFFER_SDP},
        **extra,
    }


def action_body(action: str, call_id: str, sdp: str | None = None, **extra: Any) -> dict[str, Any]:
    """A valid call-id action; `sdp` adds an answer session."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "call_id": call_id, "action": action}
    if sdp is not None:
        body["session"] = {"sdp_type": "answer", "sdp": sdp}
    return {**body, **extra}


def permission_request_body(to: str = USER) -> dict[str, Any]:
    """A free-form call permission request message (API reference, §10)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "call_permission_request",
            "action": {"name": "call_permission_request"},
            "body": {"text": "May we call you?"},
        },
    }


def calls_value(payload: dict[str, Any]) -> dict[str, Any]:
    """The `value` of the single change of a webhook payload."""
    change = payload["entry"][0]["changes"][0]
    return dict(change["value"])


def event_of(payload: dict[str, Any]) -> str:
    """A short name for a webhook: "connect", "terminate", "RINGING", "permission_reply"."""
    value = calls_value(payload)
    if "statuses" in value:
        return str(value["statuses"][0]["status"])
    if "calls" in value:
        return str(value["calls"][0]["event"])
    return str(value["messages"][0]["interactive"]["type"])


@attrs.define
class Received:
    """One webhook POST as the receiver saw it."""

    body: bytes
    headers: dict[str, str]

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@attrs.define
class Receiver:
    """A tiny webhook endpoint on 127.0.0.1 that records what it gets."""

    status: int = 200
    delay: float = 0.0
    received: list[Received] = attrs.field(factory=list)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/webhook"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(self.delay)
        self.received.append(Received(body, dict(request.headers)))
        return web.Response(status=self.status)

    def events(self) -> list[str]:
        return [event_of(item.payload) for item in self.received]
