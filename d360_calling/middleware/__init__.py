"""The SDK's own middlewares; the chain is yours → retry → rate limit → your per-attempt ones
→ logging → send.

The API key is not a middleware: the session adds it to every request's headers once, at
the terminal send, so no middleware has to copy the request to add it. `otel` (the `[otel]`
extra) is imported only by those who use it: `from d360_calling.middleware.otel import
Telemetry`.
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
