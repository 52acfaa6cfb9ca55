"""The SDK's own middlewares; the default chain is retry → rate limit → logging → auth."""

from .auth import AuthMiddleware
from .budget import RetryBudget
from .logging import LoggingMiddleware
from .ratelimit import RateLimitGate, RateLimitMiddleware, RateLimitPolicy, TokenBucket
from .retry import RetryMiddleware, RetryPolicy

__all__ = [
    "AuthMiddleware",
    "LoggingMiddleware",
    "RateLimitGate",
    "RateLimitMiddleware",
    "RateLimitPolicy",
    "RetryBudget",
    "RetryMiddleware",
    "RetryPolicy",
    "TokenBucket",
]
