"""A patch of a library's private internals, applied once per process and only after checking
them: on a version where the names moved, the feature is off (one warning) rather than broken."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("d360_calling.media")


class CheckedPatch:
    """`patch()` once `check()` passed (it raises RuntimeError naming what moved); calling the
    object applies it and says whether it is in place."""

    def __init__(self, check: Callable[[], None], patch: Callable[[], None], off: str) -> None:
        self._check = check
        self._patch = patch
        self._off = off
        """What is off when the check fails, for the warning."""
        self._installed: bool | None = None

    def __call__(self) -> bool:
        if self._installed is None:
            try:
                self._check()
            except RuntimeError as exc:
                log.warning("%s: %s", self._off, exc)
                self._installed = False
            else:
                self._patch()
                self._installed = True
        return self._installed
