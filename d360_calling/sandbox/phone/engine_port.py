"""What the /phone page's hub asks of the sandbox's engine, as a Protocol it depends on.

The engine tells the hub of every change and the hub asks the engine for user actions; with
this Protocol the hub names only what it uses, so it never imports the engine (which imports
it), and no import in the sandbox points back up.
"""

from __future__ import annotations

from typing import Protocol

from d360_calling.sandbox.media_store import StoredMedia
from d360_calling.sandbox.state import CallingState
from d360_calling.sandbox.webhooks import BusinessPhone


class PhoneEngine(Protocol):
    """The number's state, its phone number, and the user's actions the page can take."""

    # The signatures repeat `Engine`'s on purpose: a Protocol states what the hub relies on,
    # and mypy checks the engine against it where the sandbox builds the hub.

    @property
    def state(self) -> CallingState: ...

    @property
    def phone(self) -> BusinessPhone: ...

    def expire(self) -> None:
        """End the unanswered calls past the ring timeout."""
        ...

    async def ring(
        self,
        wa_id: str,
        *,
        sdp: str,
        cta_payload: str | None,
        deeplink_payload: str | None,
        name: str | None,
        page: bool = False,
    ) -> str:
        """The user calls the business; the call's id."""
        ...

    async def user_taps_call_button(self, message_id: str, *, sdp: str, page: bool = False) -> str:
        """The user taps a voice_call button; the call's id."""
        ...

    async def user_answers(self, call_id: str, *, sdp: str | None = None) -> None:
        """The user picks up a business-initiated call with `sdp`."""
        ...

    async def user_rejects(self, call_id: str) -> None:
        """The user declines a business-initiated call."""
        ...

    async def user_hangs_up(self, call_id: str) -> None:
        """The user ends a ringing or connected call."""
        ...

    def recording_file(self, call_id: str) -> StoredMedia | None:
        """The stored recording of `call_id`, if it has one still."""
        ...

    async def user_answers_permission(self, wa_id: str, *, accept: bool, permanent: bool) -> None:
        """The user answers a permission request."""
        ...
