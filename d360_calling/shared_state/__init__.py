"""State the SDK shares between tasks, and optionally between processes through Redis.

The rate-limit gate, the requests-per-second bucket, the retry budget and the webhook dedupe
set live behind one small protocol; `LocalState` (the default) keeps them in the process,
`RedisState` (the `redis` extra) shares them between workers and falls back to local state
while Redis is unreachable.
"""

from .local import LocalState
from .primitives import InMemoryDedupe, RateLimitGate, RetryBudget, TokenBucket
from .protocol import BudgetLimits, DeliveryInProgress, SharedState, SharedStateUnavailable
from .redis_state import RedisState

__all__ = [
    "BudgetLimits",
    "DeliveryInProgress",
    "InMemoryDedupe",
    "LocalState",
    "RateLimitGate",
    "RedisState",
    "RetryBudget",
    "SharedState",
    "SharedStateUnavailable",
    "TokenBucket",
]
