"""The webhook errors: a body that is not a webhook, and a signature that does not match."""

from __future__ import annotations

from d360_calling.errors import D360Error


class WebhookError(D360Error):
    """A webhook body that is not the documented envelope; the message says what was wrong."""


class SignatureError(WebhookError):
    """A missing, malformed or wrong signature header: the body may not come from 360dialog."""


class ReceiverClosedError(WebhookError):
    """The receiver is shutting down and takes no more events (answered with 503, so the
    platform delivers again)."""
