"""Events back to a webhook body (`to_envelope`, the inverse of `parse`), for tests and replays."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .events import CallStatus, CallTerminate, Event, MalformedEvent, Metadata, SettingsUpdate

_WHOLE = ("entry", "changes")
"""The `item_key`s of a `MalformedEvent` that stands for a whole entry or change."""


def _value_of(events: list[Event], metadata: Metadata | None) -> dict[str, Any]:
    """One change's `value` holding `events`, which share a field, a WABA and metadata."""
    value: dict[str, Any] = {"messaging_product": "whatsapp"}
    if metadata is not None:
        value["metadata"] = metadata.to_dict()
    contacts: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, SettingsUpdate) or event.item_key is None:
            return event.to_dict()  # a whole-value event is alone in its change
        if event.contact is not None and (contact := event.contact.to_dict()) not in contacts:
            contacts.append(contact)
        if isinstance(event, CallStatus | CallTerminate) and "errors" not in event.raw:
            for error in event.errors:
                if (detail := error.to_dict()) not in errors:
                    errors.append(detail)
        value.setdefault(event.item_key, []).append(event.to_dict())
    if contacts:
        value["contacts"] = contacts
    if errors:
        value["errors"] = errors
    return value


def to_envelope(events: Iterable[Event]) -> dict[str, Any]:
    """A webhook body holding `events`: the inverse of `parse`, for tests and replays.

    Consecutive events of one WABA, field and number share a change, as Meta batches them; a
    malformed entry or change goes back as it was received.
    """
    entries: list[dict[str, Any]] = []
    groups: list[tuple[str | None, str | None, Metadata | None, list[Event]]] = []
    for event in events:
        key = (event.waba_id, event.field, event.metadata)
        if (
            event.item_key is not None
            and event.item_key not in _WHOLE
            and groups
            and groups[-1][3][0].item_key not in (None, *_WHOLE)
            and groups[-1][:3] == key
        ):
            groups[-1][3].append(event)
        else:
            groups.append((*key, [event]))
    built: dict[str, Any] | None = None
    """The last entry made here, which the next change of its WABA joins (a malformed entry,
    kept as received, is never joined: its `changes` may be anything)."""
    for waba_id, field, metadata, grouped in groups:
        first = grouped[0]
        if isinstance(first, MalformedEvent) and first.item_key == "entry":
            entries.append(first.raw)
            built = None
            continue
        if isinstance(first, MalformedEvent) and first.item_key == "changes":
            change = first.raw
        else:
            change = {"field": field, "value": _value_of(grouped, metadata)}
        if built is not None and built.get("id") == waba_id:
            built["changes"].append(change)
        else:
            built = _compact_entry(waba_id, change)
            entries.append(built)
    return {"object": "whatsapp_business_account", "entry": entries}


def _compact_entry(waba_id: str | None, change: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"changes": [change]}
    if waba_id is not None:
        entry["id"] = waba_id
    return entry
