"""`to_envelope` after a malformed entry: the entry goes back as received, never joined."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from d360_calling.webhooks import CallConnect, MalformedEvent, parse, to_envelope

CONNECT = {"id": "wacid.1", "event": "connect", "timestamp": "1671644824", "from": "1555"}


def body_after_bad_entry(changes: Any) -> dict[str, Any]:
    """A malformed entry (its `changes` not a list) followed by a good one of the same WABA."""
    good_change = {"field": "calls", "value": {"messaging_product": "whatsapp", "calls": [CONNECT]}}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba", "changes": changes}, {"id": "waba", "changes": [good_change]}],
    }


@pytest.mark.parametrize("changes", ["not a list", {"field": "calls"}, 7])
def test_a_change_never_joins_a_malformed_entry_of_its_waba(changes: Any) -> None:
    body = body_after_bad_entry(changes)
    received = copy.deepcopy(body)
    events = parse(json.dumps(body))
    assert [type(event) for event in events] == [MalformedEvent, CallConnect]
    assert to_envelope(events) == received
    assert events[0].raw == received["entry"][0]  # the event's own part is left as it came
