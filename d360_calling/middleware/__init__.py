"""The SDK's own middlewares; the default chain is retry → rate limit → logging → auth."""

from .auth import AuthMiddleware
from .logging import LoggingMiddleware
from .ratelimit import RateLimitMiddleware, RateLimitPolicy
from .retry import RetryMiddleware, RetryPolicy

__all__ = [
    "AuthMiddleware",
    "LoggingMiddleware",
    "RateLimitMiddleware",
    "RateLimitPolicy",
    "RetryMiddleware",
    "RetryPolicy",
]
