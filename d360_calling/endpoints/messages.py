"""`POST /messages` for the calling flow: the call button (and the sender the permission
requests share). Sending twice sends two messages, so these are never resent once they may
have reached the API."""

from __future__ import annotations

from typing import Any, Final, Unpack

from .. import validation
from ..models.messages import MessageResult
from ._resource import CallOptions, Resource

PATH: Final = "/messages"
MAX_BODY_TEXT: Final = 1024
MAX_DISPLAY_TEXT: Final = 20
MAX_TTL_MINUTES: Final = 43_200
MAX_PAYLOAD: Final = 512


def interactive(to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    """The envelope of an interactive message to one user."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {"type": kind, **content},
    }


class Messages(Resource):
    """Messages that invite calls."""

    __slots__ = ()

    async def send_call_button(
        self,
        wa_id: str,
        body_text: str,
        *,
        display_text: str | None = None,
        ttl_minutes: int | None = None,
        payload: str | None = None,
        **options: Unpack[CallOptions],
    ) -> MessageResult:
        """Send a "Call on WhatsApp" button; `payload` comes back as the call's `cta_payload`."""
        to = validation.wa_id(wa_id)
        text = validation.text("body_text", body_text, max_length=MAX_BODY_TEXT)
        parameters: dict[str, Any] = {}
        if display_text is not None:
            parameters["display_text"] = validation.text(
                "display_text", display_text, max_length=MAX_DISPLAY_TEXT
            )
        if ttl_minutes is not None:
            parameters["ttl_minutes"] = validation.integer(
                "ttl_minutes", ttl_minutes, 1, MAX_TTL_MINUTES
            )
        if payload is not None:
            parameters["payload"] = validation.text("payload", payload, max_length=MAX_PAYLOAD)
        action: dict[str, Any] = {"name": "voice_call"}
        if parameters:
            action["parameters"] = parameters
        body = interactive(to, "voice_call", {"body": {"text": text}, "action": action})
        return await self._send(body, "messages.send_call_button", options)

    async def _send(
        self, body: dict[str, Any], operation: str, options: CallOptions
    ) -> MessageResult:
        """Send a built message body; not resent once it may have reached the API."""
        request = self._request("POST", PATH, operation, options, json=body, idempotent=False)
        return await self._call(request, MessageResult, missing=_no_message_id)


def _no_message_id(result: MessageResult) -> str | None:
    """An answer without a message id (`"messages": null` or `[]`) tells nothing of the
    message; its id is what the permission reply quotes."""
    return None if result.messages else "message id (messages[0].id)"
