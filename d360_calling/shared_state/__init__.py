"""State the SDK shares between tasks, and optionally between processes through Redis.

The rate-limit gate, the requests-per-second bucket, the retry budget, the webhook dedupe set
and the media lookups' error throttle live behind one small protocol; `LocalState` (the
default) keeps them in the process, `RedisState` (the `redis` extra) shares them between
workers and falls back to local state while Redis is unreachable.
"""

from .local import LocalState
from .primitives import ErrorWindow, InMemoryDedupe, RateLimitGate, RetryBudget, TokenBucket
from .protocol import (
    BudgetLimits,
    DeliveryInProgress,
    MediaErrorLimits,
    SharedState,
    SharedStateUnavailable,
)
from .redis_state import RedisState

__all__ = [
    "BudgetLimits",
    "DeliveryInProgress",
    "ErrorWindow",
    "InMemoryDedupe",
    "LocalState",
    "MediaErrorLimits",
    "RateLimitGate",
    "RedisState",
    "RetryBudget",
    "SharedState",
    "SharedStateUnavailable",
    "TokenBucket",
]
