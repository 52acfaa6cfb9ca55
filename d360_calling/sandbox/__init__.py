"""An in-memory emulator of 360dialog's Calling API, to test clients without the real one.

It is written from the API reference alone and shares no code with the SDK beyond the
error-code table and two media helpers that decide nothing about a request (loopback ICE
gathering and tone/pitch arithmetic), so an SDK bug cannot hide behind a matching bug here.
With the `[media]` extra its users can be real WebRTC peers (`ring(..., media=True)`), built on
aiortc directly, never on the SDK's media layer, and calls that ask for it are recorded to
OGG/Opus with PyAV (`recordings`), served by `GET /{media-id}` and its download URL.
"""

from d360_calling.sandbox.clock import SandboxClock
from d360_calling.sandbox.faults import Fault, FaultKind, FaultPlan
from d360_calling.sandbox.limits import Limits
from d360_calling.sandbox.media_store import StoredMedia
from d360_calling.sandbox.network import Network
from d360_calling.sandbox.recordings import CallRecording
from d360_calling.sandbox.records import Call, CallState, Direction
from d360_calling.sandbox.sdp import ANSWER_SDP, OFFER_SDP
from d360_calling.sandbox.server import Sandbox
from d360_calling.sandbox.standalone import run_standalone
from d360_calling.sandbox.stats import Stats
from d360_calling.sandbox.webhooks import DeliveryFailure, WebhookDelivery, signature_header

__all__ = [
    "ANSWER_SDP",
    "OFFER_SDP",
    "Call",
    "CallRecording",
    "CallState",
    "DeliveryFailure",
    "Direction",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Limits",
    "Network",
    "Sandbox",
    "SandboxClock",
    "Stats",
    "StoredMedia",
    "WebhookDelivery",
    "run_standalone",
    "signature_header",
]
