"""The checks of a `Receiver`'s signing secret and event age limits: the options, which need more
than a range, and the events measured against them."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from .. import validation
from ..errors import ValidationError
from .events import CallConnect, Event, MalformedEvent

logger = logging.getLogger("d360_calling.webhooks")

SECRET_ENV = "D360_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret
"""The environment variable a `Receiver` reads its signing secret from when none is passed."""


def _event_age_bound(max_event_age: float | None, dedupe_ttl: float) -> timedelta:
    """The age past which an event is dropped: at most the dedupe window, so no signed
    delivery can be replayed once dedupe forgot it."""
    window = validation.positive("dedupe_ttl", dedupe_ttl)
    if max_event_age is None:
        return timedelta(seconds=window)
    if validation.positive("max_event_age", max_event_age) > window:
        raise ValidationError(
            "max_event_age",
            f"must not exceed dedupe_ttl ({window:g} s): an older delivery could be replayed",
        )
    return timedelta(seconds=max_event_age)


def _signing_secret(secret: str | None, verify: bool) -> str | None:
    """The secret deliveries are verified with: the argument, else `$D360_WEBHOOK_SECRET`;
    `None` only when verification was turned off explicitly (and loudly)."""
    if not verify:
        if secret is not None:
            raise ValidationError("verify", "verify=False contradicts the secret passed")
        logger.warning(
            "webhook signatures are NOT verified (verify=False): anyone who can reach this "
            "endpoint can forge calls and permission replies"
        )
        return None
    if secret is None:
        secret = os.environ.get(SECRET_ENV)
        if secret is None:
            raise ValidationError(
                "secret",
                f"required to verify webhook signatures: pass secret=, set ${SECRET_ENV}, "
                "or pass verify=False to accept unsigned deliveries",
            )
    if not secret:
        raise ValidationError("secret", "must not be empty")
    return secret


def _stale_connect(event: Event, max_connect_age: float | None) -> bool:
    """Whether `event` is a connect too old to answer (the user has hung up by then)."""
    if max_connect_age is None or not isinstance(event, CallConnect):
        return False
    if event.age() > timedelta(seconds=max_connect_age):
        logger.warning("connect for %s is too old to answer; dropped", event.call_id)
        return True
    return False


def _expired(event: Event, now: datetime, max_event_age: timedelta) -> bool:
    """Whether `event` is older than `max_event_age` (a replay dedupe may have forgotten)."""
    if isinstance(event, MalformedEvent) or (age := event.age(now)) is None:
        return False
    if age <= max_event_age:
        return False
    logger.warning(
        "webhook %s from %ds ago is older than max_event_age; dropped",
        type(event).__name__,
        age.total_seconds(),
    )
    return True
