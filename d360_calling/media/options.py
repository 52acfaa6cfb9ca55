"""CallAudio's option helpers: the ICE server list, checked, whether a source is a file, and
the peer connection's steps that `loopback=True` changes (gathering, the remote SDP)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable
from typing import Literal

from aiortc import RTCIceServer, RTCPeerConnection, RTCSessionDescription

from d360_calling._loopback_ice import keep_loopback_candidates, loopback_gathering
from d360_calling.errors import ValidationError
from d360_calling.media.sdp import refusal

logger = logging.getLogger("d360_calling.media.audio")


async def is_file(path: str | os.PathLike[str]) -> bool:
    return await asyncio.to_thread(os.path.isfile, path)


def ice_servers(servers: Iterable[RTCIceServer | str], loopback: bool) -> list[RTCIceServer]:
    """The user's STUN/TURN servers, checked; aiortc uses the first STUN and first TURN URL."""
    listed = [s if isinstance(s, RTCIceServer) else RTCIceServer(urls=s) for s in servers]
    urls = [u for s in listed for u in ([s.urls] if isinstance(s.urls, str) else s.urls)]
    for url in urls:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise ValidationError("ice_servers", f"not a stun:/turn: URL: {url!r}")
    if loopback and urls:
        raise ValidationError("ice_servers", "loopback=True takes no STUN or TURN server")
    for scheme in ("stun", "turn"):
        same = [u for u in urls if u.startswith(scheme)]
        if len(same) > 1:
            logger.warning(
                "aiortc uses only the first %s URL, %s; ignoring %s", scheme, *same[:1], same[1:]
            )
    return listed


def gathering(loopback: bool) -> contextlib.AbstractContextManager[None]:
    """ICE gathering for one SDP: on 127.0.0.1 only with `loopback`, else aiortc's own."""
    return loopback_gathering() if loopback else contextlib.nullcontext()


async def set_remote(
    pc: RTCPeerConnection, sdp: str, kind: Literal["offer", "answer"], loopback: bool
) -> None:
    """Apply the remote SDP (its loopback candidates only, with `loopback`); a refused one is
    a `ValidationError` naming `offer_sdp` or `answer_sdp`."""
    if loopback:
        sdp = keep_loopback_candidates(sdp)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
    except Exception as exc:  # aiortc's parser raises KeyError, AssertionError and more
        raise ValidationError(f"{kind}_sdp", refusal(sdp, exc)) from None
