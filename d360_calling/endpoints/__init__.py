"""Thin endpoint coroutines, grouped as the client exposes them."""

from .calls import Calls
from .media import Media
from .messages import Messages
from .permissions import Permissions
from .settings import Settings

__all__ = ["Calls", "Media", "Messages", "Permissions", "Settings"]
