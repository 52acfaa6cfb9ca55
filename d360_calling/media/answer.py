"""The user's SDP answer to our offer, applied once: the same answer again is a no-op (the
`Router` applies it by itself, and a handler written before that may apply it too); another
answer after one was applied is a `MediaError`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiortc import RTCPeerConnection

from d360_calling.media.errors import MediaError
from d360_calling.media.options import set_remote
from d360_calling.media.sdp import check_answer


class AnswerSlot:
    """Where the answer to our offer goes on `pc`: checked, applied, remembered."""

    def __init__(self, pc: RTCPeerConnection, codecs: Iterable[str], loopback: bool) -> None:
        self._pc = pc
        self._codecs = tuple(codecs)
        self._loopback = loopback
        self._answered: tuple[str, asyncio.Future[BaseException | None]] | None = None

    async def apply(self, answer_sdp: str) -> bool:
        """Apply `answer_sdp`; True when this call applied it, False when it already was."""
        while self._answered is not None:
            applied_sdp, applying = self._answered
            if applied_sdp != answer_sdp:
                raise MediaError("apply_answer: another answer was already applied to our offer")
            if await asyncio.shield(applying) is None:
                return False
            # That attempt failed and freed the slot: try again, raising our own error.
        check_answer(answer_sdp, self._codecs)
        if self._pc.signalingState != "have-local-offer":
            raise MediaError("apply_answer needs our offer waiting for its answer")
        applying = asyncio.get_running_loop().create_future()
        self._answered = (answer_sdp, applying)
        try:
            await set_remote(self._pc, answer_sdp, "answer", self._loopback)
        except BaseException as error:
            self._answered = None
            applying.set_result(error)
            raise
        applying.set_result(None)
        return True
