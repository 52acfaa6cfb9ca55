"""What the /phone page says when a call it placed reached no bot, and how to start one.

The sandbox posts the call's connect webhook once; when nothing takes it (no webhook URL, a
refused connection, an error answer), no bot will ever answer that call, so the page is told
why at once instead of ringing until the timeout.
"""

from __future__ import annotations

from typing import Final

from d360_calling.sandbox.errors import JsonObject
from d360_calling.sandbox.webhooks import DeliveryFailure

BUILT_IN: Final = "or run `python -m d360_calling phone` for a built-in one"


def connect_call_id(payload: JsonObject) -> str | None:
    """The call id of a `calls` connect webhook; None for any other payload."""
    try:
        call = payload["entry"][0]["changes"][0]["value"]["calls"][0]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(call, dict) or call.get("event") != "connect":
        return None
    call_id = call.get("id")
    return call_id if isinstance(call_id, str) else None


def no_bot_message(failure: DeliveryFailure) -> str:
    """One sentence for the page: the URL it could not reach and why, and how to start a bot."""
    if failure.url is None:
        return (
            "No bot answered: the sandbox has no webhook URL, so no bot hears your calls. "
            "Restart it with --webhook-url (your bot's receiver, e.g. "
            f"http://127.0.0.1:8080/webhook) and --webhook-secret, {BUILT_IN}."
        )
    if failure.error.startswith("HTTP "):
        return (
            f"No bot answered: {failure.url} answered the call's webhook with {failure.reason}. "
            f"Fix your bot there, {BUILT_IN}."
        )
    return (
        f"No bot answered: the sandbox could not reach {failure.url} ({failure.reason}). "
        f"Start your bot there, {BUILT_IN}."
    )
