"""The webhook errors: a body that is not a webhook, and a signature that does not match."""

from __future__ import annotations

from d360_calling.errors import D360Error


class WebhookError(D360Error):
    """A webhook body (or part of one) that is not the documented shape.

    `path` names where (`entry[0].changes[0].value.calls[1].duration`, or `body`) and `problem`
    what was wrong there.
    """

    def __init__(self, message: str, *, path: str = "body", problem: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.problem = message if problem is None else problem


class SignatureError(WebhookError):
    """A missing, malformed or wrong signature header: the body may not come from 360dialog."""


class ReceiverClosedError(WebhookError):
    """The receiver is shutting down and takes no more events (answered with 503, so the
    platform delivers again)."""
