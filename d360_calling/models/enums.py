"""A `str` enum that keeps values it does not know, so new API values never break parsing."""

from __future__ import annotations

import enum
from typing import Any, Self


class OpenEnum(enum.StrEnum):
    """A `str` enum whose unknown values become pseudo-members that keep the raw value.

    Known values match case-insensitively (Meta's docs mix `ENABLED` and `enabled`); an unknown
    value re-serialises unchanged, so a round trip never loses what the API sent.
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        folded = value.casefold()
        for member in cls:
            if member.value.casefold() == folded:
                return member
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value.upper()
        pseudo._value_ = value
        return pseudo

    @property
    def is_known(self) -> bool:
        """Whether this value is one the SDK was built with (not a pseudo-member)."""
        return self._name_ in type(self).__members__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return type(self), (self.value,)
