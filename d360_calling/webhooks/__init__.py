"""Webhooks: parse and verify deliveries, route events to handlers, receive them over HTTP."""

from .drain import DEFAULT_DRAIN_SECONDS, DrainReport
from .errors import ReceiverClosedError, SignatureError, WebhookError
from .events import (
    CallConnect,
    CallDirection,
    CallOutcome,
    CallProgress,
    CallRecordingAvailable,
    CallStatus,
    CallTerminate,
    CallTranscriptionAvailable,
    Contact,
    Event,
    MalformedEvent,
    Metadata,
    PermissionReply,
    PermissionResponse,
    ResponseSource,
    SettingsUpdate,
    SettingsUpdateType,
    UnknownEvent,
    WebhookErrorDetail,
)
from .parse import parse, to_envelope
from .receiver import SECRET_ENV, Receiver, Reply
from .router import IncomingCall, Router
from .verify import sign, verify

__all__ = [
    "DEFAULT_DRAIN_SECONDS",
    "SECRET_ENV",
    "CallConnect",
    "CallDirection",
    "CallOutcome",
    "CallProgress",
    "CallRecordingAvailable",
    "CallStatus",
    "CallTerminate",
    "CallTranscriptionAvailable",
    "Contact",
    "DrainReport",
    "Event",
    "IncomingCall",
    "MalformedEvent",
    "Metadata",
    "PermissionReply",
    "PermissionResponse",
    "Receiver",
    "ReceiverClosedError",
    "Reply",
    "ResponseSource",
    "Router",
    "SettingsUpdate",
    "SettingsUpdateType",
    "SignatureError",
    "UnknownEvent",
    "WebhookError",
    "WebhookErrorDetail",
    "parse",
    "sign",
    "to_envelope",
    "verify",
]
