"""The SDK's own middlewares; the default chain is retry → rate limit → logging → auth."""

from .auth import AuthMiddleware
from .logging import LoggingMiddleware

__all__ = ["AuthMiddleware", "LoggingMiddleware"]
