"""Call permissions: read them, ask the user for one, and the common "make sure" flow."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, Unpack

from .. import validation
from ..errors import ValidationError
from ..models.messages import EnsureOutcome, EnsureResult, MessageResult
from ..models.permissions import CallPermissions
from ..session import Session
from ._resource import CallOptions, Resource
from .messages import MAX_BODY_TEXT, Messages, interactive

_LANGUAGE: Final = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")


class Permissions(Resource):
    """Call permissions of users, and the messages that ask for them."""

    __slots__ = ("_messages",)

    def __init__(self, session: Session, messages: Messages) -> None:
        super().__init__(session)
        self._messages = messages

    async def get(self, wa_id: str, **options: Unpack[CallOptions]) -> CallPermissions:
        """The user's permission, the actions allowed now and their limits. Every method here
        takes the number with its country code, as digits or as typed (`+1 415-555-0123`)."""
        user = validation.wa_id(wa_id)
        request = self._request("GET", f"/calling/permissions/{user}", "permissions.get", options)
        return self._answer(request, await self._session.dispatch(request), CallPermissions)

    async def request(
        self, wa_id: str, body_text: str | None = None, **options: Unpack[CallOptions]
    ) -> MessageResult:
        """Ask the user for call permission (free-form: only inside the 24 h service window).

        Counts against the limits (1 per 24 h, 2 per 7 days; error 138009).
        """
        to = validation.wa_id(wa_id)
        content: dict[str, Any] = {"action": {"name": "call_permission_request"}}
        if body_text is not None:
            text = validation.text("body_text", body_text, max_length=MAX_BODY_TEXT)
            content["body"] = {"text": text}
        body = interactive(to, "call_permission_request", content)
        return await self._messages._send(body, "permissions.request", options)

    async def request_by_template(
        self,
        wa_id: str,
        template_name: str,
        language: str,
        *,
        body_parameters: Sequence[str] = (),
        **options: Unpack[CallOptions],
    ) -> MessageResult:
        """Ask for call permission with an approved template (outside the 24 h window).

        The template (MARKETING or UTILITY, non-empty body) carries the
        `call_permission_request` component, which is sent along as the API reference shows.
        """
        to = validation.wa_id(wa_id)
        name = validation.text("template_name", template_name, max_length=512)
        if not isinstance(language, str) or _LANGUAGE.fullmatch(language) is None:
            raise ValidationError(
                "language", f"must be a locale like 'en' or 'en_US': {language!r}"
            )
        parameters = [
            {"type": "text", "text": validation.text(f"body_parameters[{i}]", p, max_length=1024)}
            for i, p in enumerate(body_parameters)
        ]
        components: list[dict[str, Any]] = []
        if parameters:
            components.append({"type": "body", "parameters": parameters})
        components.append({"type": "call_permission_request"})
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {"name": name, "language": {"code": language}, "components": components},
        }
        return await self._messages._send(body, "permissions.request_by_template", options)

    async def ensure(
        self, wa_id: str, body_text: str | None = None, **options: Unpack[CallOptions]
    ) -> EnsureResult:
        """Make sure a call may be placed: read the permission and, only when there is none
        and the API says a request may be sent now, send one. Never sends what the limits
        forbid.

        The actions decide: the outcome is `ALREADY_GRANTED` exactly when the API's
        `start_call` action allows a call now, whatever the status word (Meta's docs use
        `temporary`/`permanent` and its OpenAPI examples `granted`). A word never grants on
        its own: without that action nothing is granted, a grant word then reads as
        `CALLS_LIMITED`, and any other word leaves it to `send_call_permission_request`.
        `body_text` is sent as given.
        """
        permissions = await self.get(wa_id, **options)
        outcome = decide(permissions)
        if outcome is not EnsureOutcome.REQUESTED:
            return EnsureResult(outcome, permissions)
        sent = await self.request(wa_id, body_text, **options)
        return EnsureResult(EnsureOutcome.REQUESTED, permissions, sent.message_id)


def decide(permissions: CallPermissions) -> EnsureOutcome:
    """What `ensure` does with a permissions answer (`REQUESTED`: send a request), from the
    actions the API reports, never from the status alone."""
    if permissions.can_start_call:
        return EnsureOutcome.ALREADY_GRANTED
    if permissions.has_permission:
        return EnsureOutcome.CALLS_LIMITED  # asking again would not lift a call limit
    if permissions.can_request_permission:
        return EnsureOutcome.REQUESTED
    return EnsureOutcome.NOT_ALLOWED
