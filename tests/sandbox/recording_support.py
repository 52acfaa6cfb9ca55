"""Helpers of the recording tests: the recording options, the webhooks they wait for, the
media fetched over HTTP as a downloader would, and the OGG/Opus decoded by channel."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
from typing import Any, Final

import aiohttp
import attrs

from tests.support.sandbox import Received, Receiver, calls_value

SECRET: Final = "platform-secret"
"""The webhook secret of the `sandbox` fixture (tests/sandbox/conftest.py)."""
BOUND: Final = 15.0
"""Seconds a wait for a webhook may take."""
LOOKASIDE: Final = "https://lookaside.fbsbx.com"


def option(purpose: str = "quality assurance", language: str = "en") -> dict[str, str]:
    """A `recording` or `transcription` object, ENABLED."""
    return {"status": "ENABLED", "purpose": purpose, "announcement_language": language}


async def post(http: aiohttp.ClientSession, body: dict[str, Any]) -> dict[str, Any]:
    """POST /calling/calls, which must succeed."""
    async with http.post("/calling/calls", json=body) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def media_webhook(receiver: Receiver, event: str, call_id: str) -> Received:
    """The first `calls` webhook of `event` for `call_id`, once it came."""
    async with asyncio.timeout(BOUND):
        while True:
            for item in receiver.received:
                calls = calls_value(item.payload).get("calls") or [{}]
                if calls[0].get("event") == event and calls[0].get("id") == call_id:
                    return item
            await asyncio.sleep(0.02)


def signed(item: Received) -> bool:
    """Whether the webhook carries 360dialog's HMAC-SHA256 signature of its body."""
    digest = hmac.new(SECRET.encode(), item.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(item.headers.get("x-360dialog-signature", ""), digest)


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@attrs.frozen
class Fetched:
    """What `GET /{media-id}` and then its URL gave."""

    lookup: dict[str, Any]
    data: bytes
    content_type: str


def local(url: str, base_url: str) -> str:
    """A lookaside URL on the sandbox's host, as a downloader swaps it for 360dialog's."""
    assert url.startswith(LOOKASIDE + "/whatsapp_business/attachments/?"), url
    return base_url + url.removeprefix(LOOKASIDE)


async def fetch(http: aiohttp.ClientSession, base_url: str, media_id: str) -> Fetched:
    """Look the media up, then download it from the URL the lookup gave."""
    async with http.get(f"/{media_id}") as response:
        assert response.status == 200, await response.text()
        lookup = dict(await response.json())
    async with http.get(local(lookup["url"], base_url)) as response:
        assert response.status == 200, await response.text()
        return Fetched(lookup, await response.read(), response.headers["Content-Type"])


@attrs.frozen
class Decoded:
    """An OGG/Opus file decoded: codec, channels, length, and each channel's 48 kHz PCM."""

    codec: str
    channels: int
    seconds: float
    business: bytes
    user: bytes


def decode(data: bytes) -> Decoded:
    import av

    business, user = bytearray(), bytearray()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        codec, channels = stream.codec_context.name, stream.codec_context.channels
        resampler = av.AudioResampler(format="s16p", layout="stereo", rate=48_000)
        for frame in container.decode(stream):
            for piece in resampler.resample(frame):
                business += bytes(piece.planes[0])[: piece.samples * 2]
                user += bytes(piece.planes[1])[: piece.samples * 2]
    return Decoded(codec, channels, len(business) / 96_000, bytes(business), bytes(user))


def peak(pcm: bytes) -> int:
    """The largest absolute sample of 16-bit PCM."""
    from d360_calling._pcm import samples_of

    return max((abs(x) for x in samples_of(pcm)), default=0)
