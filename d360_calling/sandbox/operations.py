"""The operation names the sandbox counts and scripts faults by, one per API action."""

from __future__ import annotations

from typing import Final

CALL_ACTIONS: Final[tuple[str, ...]] = ("connect", "pre_accept", "accept", "reject", "terminate")
"""The `action` values of `POST /calling/calls` (API reference, section 1.1)."""

INVALID_CALL_ACTION: Final = "calls.invalid"
"""The operation of a `POST /calling/calls` whose body names no valid action."""

OPERATIONS: Final[frozenset[str]] = frozenset(
    {
        *(f"calls.{action}" for action in CALL_ACTIONS),
        INVALID_CALL_ACTION,
        "permissions.get",
        "settings.get",
        "settings.update",
        "messages.send",
        "media.get",
        "media.download",
    }
)
"""Every operation name that appears in `Sandbox.stats` and `FaultPlan.script`: "media.get" is
`GET /{media-id}` (a recording's or transcript's URL), "media.download" the file itself."""
