"""A worker process that holds one call's media, for the many-workers media test.

    python -m tests.shared_state.media_worker REDIS_URL CALL_ID
Prints `ready` once its call's audio is connected, `heard <call_id>` for every call-ended
announcement it hears, and finally one JSON line saying how its media ended.
"""

from __future__ import annotations

import asyncio
import json
import sys

from d360_calling import RedisState
from d360_calling.media import CallAudio
from d360_calling.sandbox.peer import UserPeer
from d360_calling.webhooks import Receiver, Router

from .cluster import connect

PREFIX = "media"
SECRET = "media-secret"


async def main(redis_url: str, call_id: str) -> dict[str, object]:
    redis = connect(redis_url)
    state = RedisState(redis, prefix=PREFIX)
    router = Router()
    receiver = Receiver(router, secret=SECRET, shared_state=state)
    state.on_call_ended(lambda ended: print(f"heard {ended}", flush=True))
    user = await UserPeer.offer(tone_hz=440.0)
    audio = await CallAudio.answer(user.sdp, loopback=True)
    try:
        await user.apply_answer(audio.sdp)
        await audio.wait_connected(timeout=5.0)
        router.attach_media(call_id, audio)
        print("ready", flush=True)
        async with asyncio.timeout(20):
            failure = await audio.wait_ended()
        return {
            "closed": failure is None and not audio.connected,
            "media_left": router.media_of(call_id) is not None,
            "ended_here": router.has_ended(call_id),
        }
    finally:
        await audio.close()
        await user.close()
        await receiver.aclose()
        await router.aclose()
        await state.aclose()
        await redis.aclose()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:3]))), flush=True)
