"""What every endpoint group shares: send a `Request`, structure the JSON into a model."""

from __future__ import annotations

from typing import TypeVar

from ..errors import ResponseDecodeError
from ..models.converter import converter
from ..session import Request, Session, Timeout

T = TypeVar("T")

TimeoutArg = float | Timeout | None
"""Per-call timeout: seconds for the whole call, a `Timeout`, or `None` for the client's."""


class Resource:
    """A group of endpoints bound to one session."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def _timeout(self, timeout: TimeoutArg) -> Timeout | None:
        if timeout is None or isinstance(timeout, Timeout):
            return timeout
        default = self._session.timeout
        return Timeout(
            total=timeout, attempt=min(default.attempt, timeout), connect=default.connect
        )

    async def _call(self, request: Request, model: type[T]) -> T:
        response = await self._session.send(request)
        payload = response.json(request.operation)
        try:
            return converter.structure(payload, model)
        except Exception as exc:
            # The structuring error may quote values (a SIP password); keep only its kind.
            raise ResponseDecodeError(
                f"response does not have the documented shape ({type(exc).__name__})",
                operation=request.operation,
                status=response.status,
            ) from None
