"""The SDK's own middlewares; the default chain is retry → rate limit → logging.

The API key is not a middleware: the session adds it to every request's headers once, at
the terminal send, so no middleware has to copy the request to add it.
"""

from .logging import LoggingMiddleware
from .ratelimit import RateLimitMiddleware, RateLimitPolicy
from .retry import RetryMiddleware, RetryPolicy

__all__ = [
    "LoggingMiddleware",
    "RateLimitMiddleware",
    "RateLimitPolicy",
    "RetryMiddleware",
    "RetryPolicy",
]
