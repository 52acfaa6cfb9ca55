"""`AsyncClosing`: `async with` for the objects closed with `await obj.aclose()`."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """`async with obj:` gives `obj` and awaits `obj.aclose()` on the way out, however it ends."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Close the object (each subclass says what that means)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
