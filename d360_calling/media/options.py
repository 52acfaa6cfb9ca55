"""CallAudio's option helpers: the ICE server list, checked, and whether a source is a file."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable

from aiortc import RTCIceServer

from d360_calling.errors import ValidationError

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
