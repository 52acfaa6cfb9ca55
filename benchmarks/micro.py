"""Micro-benchmarks of the model layer: µs per structure / unstructure, via `timeit`."""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable

import attrs

from benchmarks import payloads
from d360_calling.models.calls import CallAction, CallActionBody, SessionDescription
from d360_calling.models.converter import converter
from d360_calling.models.permissions import CallPermissions
from d360_calling.models.settings import PhoneNumberSettings

STRUCTURE_PERMISSIONS = "structure CallPermissions"
PERMISSIONS_FROM_BYTES = "json.loads + structure CallPermissions"
STRUCTURE_SETTINGS = "structure PhoneNumberSettings"
UNSTRUCTURE_ACTION = "unstructure CallActionBody"
ACTION_TO_BYTES = "unstructure + json.dumps CallActionBody"


@attrs.frozen
class Micro:
    """Best-of-`repeat` µs per operation."""

    name: str
    us_per_op: float


def _time(func: Callable[[], object], repeat: int, min_time: float) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, int(number * min_time / 0.2))
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def run_micro(*, repeat: int = 5, min_time: float = 0.2) -> list[Micro]:
    """Time each model operation; `min_time` seconds per repeat, the best repeat reported."""
    permissions_bytes = payloads.encode(payloads.PERMISSIONS)
    body = CallActionBody(
        messaging_product="whatsapp",
        action=CallAction.ACCEPT,
        call_id=payloads.CALL_ID,
        session=SessionDescription.answer(payloads.SDP),
    )
    # Correctness first: each op must give what the API reference says.
    assert converter.structure(payloads.PERMISSIONS, CallPermissions).can_request_permission
    assert converter.structure(payloads.SETTINGS, PhoneNumberSettings).calling.sip is not None
    assert converter.unstructure(body) == payloads.ACCEPT_BODY

    cases: list[tuple[str, Callable[[], object]]] = [
        (STRUCTURE_PERMISSIONS, lambda: converter.structure(payloads.PERMISSIONS, CallPermissions)),
        (
            PERMISSIONS_FROM_BYTES,
            lambda: converter.structure(json.loads(permissions_bytes), CallPermissions),
        ),
        (STRUCTURE_SETTINGS, lambda: converter.structure(payloads.SETTINGS, PhoneNumberSettings)),
        (UNSTRUCTURE_ACTION, lambda: converter.unstructure(body)),
        (ACTION_TO_BYTES, lambda: json.dumps(converter.unstructure(body)).encode()),
    ]
    return [Micro(name, _time(func, repeat, min_time)) for name, func in cases]
