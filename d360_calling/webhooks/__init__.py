"""Webhooks: parse and verify deliveries, route events to handlers, receive them over HTTP."""

from .errors import ReceiverClosedError, SignatureError, WebhookError
from .events import (
    CallConnect,
    CallStatus,
    CallTerminate,
    Event,
    PermissionReply,
    SettingsUpdate,
    UnknownEvent,
)
from .parse import parse
from .receiver import Receiver
from .router import IncomingCall, Router
from .verify import sign, verify

__all__ = [
    "CallConnect",
    "CallStatus",
    "CallTerminate",
    "Event",
    "IncomingCall",
    "PermissionReply",
    "Receiver",
    "ReceiverClosedError",
    "Router",
    "SettingsUpdate",
    "SignatureError",
    "UnknownEvent",
    "WebhookError",
    "parse",
    "sign",
    "verify",
]
