"""Typed webhook events (API reference §4): what `parse` returns, each re-serialisable to JSON.

Field names follow the payload (`call_id` for a call's `id`, `from_` for `from`); timestamps are
aware UTC datetimes and go back out in the form they came in (string or integer Unix seconds).
The classes live by family in `events_shared`, `events_calls`, `events_account` and
`events_other`; this module is where they are documented and imported from.
"""

from __future__ import annotations

from typing import TypeAlias

from .events_account import PERMISSION_STATUS_EVENT as PERMISSION_STATUS_EVENT
from .events_account import PermissionReply as PermissionReply
from .events_account import SettingsUpdate as SettingsUpdate
from .events_calls import CallConnect as CallConnect
from .events_calls import CallRecordingAvailable as CallRecordingAvailable
from .events_calls import CallStatus as CallStatus
from .events_calls import CallTerminate as CallTerminate
from .events_calls import CallTranscriptionAvailable as CallTranscriptionAvailable
from .events_other import MalformedEvent as MalformedEvent
from .events_other import UnknownEvent as UnknownEvent
from .events_shared import CallDirection as CallDirection
from .events_shared import CallOutcome as CallOutcome
from .events_shared import CallProgress as CallProgress
from .events_shared import Contact as Contact
from .events_shared import Metadata as Metadata
from .events_shared import PermissionResponse as PermissionResponse
from .events_shared import ResponseSource as ResponseSource
from .events_shared import SettingsUpdateType as SettingsUpdateType
from .events_shared import WebhookErrorDetail as WebhookErrorDetail

Event: TypeAlias = (
    CallConnect
    | CallStatus
    | CallTerminate
    | CallRecordingAvailable
    | CallTranscriptionAvailable
    | PermissionReply
    | SettingsUpdate
    | UnknownEvent
    | MalformedEvent
)
"""Every event `parse` returns; `match` on the class to handle the ones you need."""

# The public types keep the module they are documented in (and were defined in before the
# split): their `__module__`, and so what pickles, docs and `help()` name, is this one.
for _public in [value for value in globals().values() if isinstance(value, type)]:
    if _public.__module__.startswith(f"{__name__}_"):
        _public.__module__ = __name__
del _public
