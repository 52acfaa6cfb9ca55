"""How a `CallAudio` is made, used and let go: only by its classmethods, on the event loop it
was made in, and closed (a dropped one warns naming itself). The texts of those errors."""

from __future__ import annotations

import asyncio
import warnings
from typing import Final

from d360_calling.media.errors import MediaError

MADE_BY: Final = (
    "CallAudio is made by a coroutine that also negotiates: "
    "'await CallAudio.answer(offer_sdp)' for a call you receive, "
    "'await CallAudio.offer()' for one you place, "
    "or 'await call.answer_with_audio()' in a webhook handler; not by CallAudio()"
)


def check_loop(own: asyncio.AbstractEventLoop, action: str) -> None:
    """`MediaError` at once when `action` runs on another event loop than `own` (its sockets,
    futures and tasks live there: awaiting them elsewhere would hang). Code running outside any
    loop (a plain callback) passes."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if running is not own:
        raise MediaError(
            "CallAudio belongs to the event loop it was made in; "
            f"{action} was called from another one (a second asyncio.run() or another "
            "thread). Make, use and close each CallAudio inside one event loop"
        )


def warn_unclosed(name: str) -> None:
    """The `ResourceWarning` of a `CallAudio` garbage-collected without `close()`."""
    warnings.warn(
        f"{name} was not closed; use 'async with' or 'await audio.close()' "
        "(its peer connection's sockets stay open until then)",
        ResourceWarning,
        stacklevel=3,
    )
