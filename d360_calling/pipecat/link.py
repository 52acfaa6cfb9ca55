"""`CallLink`: one call as the transport's halves share it: its audio, who is on the line, and
ending it through the API exactly once.

The input half watches the call (connected, ended); the output half writes into it and hangs it
up when the pipeline ends. Both see the same link, so a pipeline that ends after the user hung
up sends no terminate, and one that ends twice (an `EndFrame`, then a `CancelFrame` from a
shutdown) sends one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import attrs

from d360_calling.errors import D360Error, error_text
from d360_calling.media import CallAudio

logger = logging.getLogger("d360_calling.pipecat")

Terminate = Callable[[], Awaitable[object]]
"""Ends the call through the API: `call.terminate`, or
`functools.partial(client.calls.terminate, call_id)`."""


@attrs.frozen
class CallInfo:
    """Who is on the line: what pipecat's `on_client_connected` / `on_client_disconnected`
    handlers get as their `client` (`transport.get_client_id(client)` is the call id)."""

    call_id: str
    """The call's `wacid.…` id."""
    user: str | None
    """The user's WhatsApp number, when known."""
    inbound: bool
    """Whether the user called (True) or the business placed the call (False)."""


class CallLink:
    """A call's audio and its one hang-up, shared by the transport's input and output."""

    def __init__(self, audio: CallAudio, info: CallInfo, terminate: Terminate) -> None:
        self.audio = audio
        self.info = info
        self._terminate = terminate
        self._hang_up: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        """The call's audio has ended: hung up by either side, failed or closed."""
        return self.audio.ended

    @property
    def hanging_up(self) -> bool:
        """The transport has started ending the call (the pipeline ended)."""
        return self._hang_up is not None

    async def hang_up(self, *, drain: bool) -> None:
        """End the call once: let the user hear what is queued (`drain`), terminate through the
        API if the user is still on the line, and close the audio. Later calls wait for it."""
        if self._hang_up is None:
            self._hang_up = asyncio.ensure_future(self._end(drain))
        await asyncio.shield(self._hang_up)

    async def _end(self, drain: bool) -> None:
        try:
            if self.ended:
                return  # the user hung up, or the media failed and the router ends the call
            if drain:  # what is queued is heard, then our audio closes: nothing is cut off
                await self.audio.close(drain=True)
            try:
                await self._terminate()  # settled, not an error, if the user just hung up
            except D360Error as error:
                logger.warning("could not end call %s: %s", self.info.call_id, error_text(error))
        finally:
            await self.audio.close()
