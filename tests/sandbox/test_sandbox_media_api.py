"""`GET /{media-id}` and the download URL it gives (API reference, §11.2): the lookup's
shape, URLs bound to their id and expiry (5 minutes on the sandbox clock), retention of 7
days, and the error throttle (20 errors in 60 minutes block the lookup for 30)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from d360_calling.sandbox import Fault, Sandbox
from tests.support.sandbox import ANSWER, USER, action_body

from .recording_support import fetch, local, option, post, sha256_base64

pytest.importorskip("av")

DAY = 24 * 60 * 60


async def recorded(sandbox: Sandbox, http: aiohttp.ClientSession) -> str:
    """The media id of a 3-second recording."""
    call_id = await sandbox.ring(USER)
    await post(http, action_body("accept", call_id, ANSWER, recording=option()))
    sandbox.clock.advance(3)
    await post(http, action_body("terminate", call_id))
    await sandbox.webhooks_idle()
    media = sandbox.media_of(call_id).recording
    assert media is not None
    return media.id


async def get(
    http: aiohttp.ClientSession, path: str
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with http.get(path) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body, response.headers


async def test_the_lookup_gives_the_media_object_and_a_url_bound_to_it(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    media_id = await recorded(sandbox, http)
    now = sandbox.clock.now()
    fetched = await fetch(http, sandbox.base_url, media_id)
    lookup = fetched.lookup
    assert lookup == {
        "messaging_product": "whatsapp",
        "url": lookup["url"],
        "mime_type": "audio/ogg; codecs=opus",
        "sha256": sha256_base64(fetched.data),
        "file_size": len(fetched.data),
        "id": media_id,
    }
    query = parse_qs(urlsplit(lookup["url"]).query)
    assert query["mid"] == [media_id]
    assert int(query["ext"][0]) == pytest.approx(now + 300, abs=2)
    assert query["hash"][0]
    assert sandbox.stats.requests["media.get"] == 1
    assert sandbox.stats.effects["media.download"] == 1

    url = local(lookup["url"], sandbox.base_url)
    other_hash = url[:-1] + ("B" if url[-1] != "B" else "C")
    for bad in (url.replace(media_id, "1" * len(media_id)), other_hash):
        status, body, _ = await get(http, bad)
        assert status == 404
        assert body["error"]["code"] == 100
    async with aiohttp.ClientSession() as stranger, stranger.get(url) as response:
        assert response.status == 401, "the download needs the API key too"


async def test_a_url_expires_after_five_minutes_and_a_new_lookup_gives_a_fresh_one(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    media_id = await recorded(sandbox, http)
    status, lookup, _ = await get(http, f"/{media_id}")
    assert status == 200
    sandbox.clock.advance(299)
    assert (await get(http, local(lookup["url"], sandbox.base_url)))[0] == 200
    sandbox.clock.advance(2)
    status, body, _ = await get(http, local(lookup["url"], sandbox.base_url))
    assert status == 404
    assert body["error"]["code"] == 100
    assert "expired" in body["error"]["message"]
    fetched = await fetch(http, sandbox.base_url, media_id)
    assert sha256_base64(fetched.data) == lookup["sha256"]


async def test_media_is_kept_seven_days_then_its_id_and_bytes_are_gone(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    media_id = await recorded(sandbox, http)
    sandbox.clock.advance(7 * DAY - 100)
    status, lookup, _ = await get(http, f"/{media_id}")
    assert status == 200
    sandbox.clock.advance(200)  # the URL has not expired, the media has
    status, body, _ = await get(http, local(lookup["url"], sandbox.base_url))
    assert status == 404
    status, body, _ = await get(http, f"/{media_id}")
    assert status == 404
    error = body["error"]
    assert error["message"].startswith("(#100) Unsupported get request. Object with ID ")
    assert media_id not in error["message"]
    assert (error["type"], error["code"], error["error_subcode"]) == (
        "GraphMethodException",
        100,
        33,
    )
    assert error["fbtrace_id"]
    [record] = sandbox.recordings.values()
    assert record.audio is None, "the bytes were dropped"


async def test_twenty_errors_block_the_lookup_for_thirty_minutes(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    media_id = await recorded(sandbox, http)
    for _ in range(20):
        status, body, _ = await get(http, "/1234567890")
        assert status == 404
        assert body["error"]["error_subcode"] == 33
    for path in ("/1234567890", f"/{media_id}"):
        status, body, headers = await get(http, path)
        assert status == 429
        assert int(headers["Retry-After"]) == pytest.approx(1800, abs=2)
        error = body["error"]
        assert (error["type"], error["code"]) == ("OAuthException", 4)
        assert error["message"].startswith("(#4) ")
        assert "too many errors" in error["message"]
        assert "media" in error["message"].lower()
    assert sandbox.stats.requests["media.get"] == 22
    sandbox.clock.advance(1000)
    status, _, headers = await get(http, f"/{media_id}")
    assert status == 429
    assert int(headers["Retry-After"]) == pytest.approx(800, abs=2)
    sandbox.clock.advance(800)
    assert (await get(http, f"/{media_id}"))[0] == 200
    assert (await get(http, "/1234567890"))[0] == 404, "lifted: errors count afresh"
    assert (await get(http, f"/{media_id}"))[0] == 200


async def test_the_error_window_slides_and_only_the_keys_own_errors_count(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    media_id = await recorded(sandbox, http)
    for _ in range(19):
        assert (await get(http, "/1234567890"))[0] == 404
    async with aiohttp.ClientSession(base_url=sandbox.base_url) as stranger:
        for _ in range(5):
            async with stranger.get("/1234567890") as response:
                assert response.status == 401
    assert (await get(http, f"/{media_id}"))[0] == 200, "a wrong key's 401s are not ours"
    sandbox.clock.advance(3601)
    assert (await get(http, "/1234567890"))[0] == 404
    assert (await get(http, f"/{media_id}"))[0] == 200, "the first 19 left the window"


async def test_the_media_route_takes_digits_only_and_shadows_no_other_route(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await get(http, "/calling/settings")
    assert status == 200
    assert "calling" in body
    async with http.get("/phone") as response:
        assert response.status == 404
    async with http.get("/abc123") as response:
        assert response.status == 404
    assert sandbox.stats.requests["media.get"] == 0


async def test_faults_reach_the_media_routes_and_an_injected_error_counts_as_one(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    media_id = await recorded(sandbox, http)
    sandbox.faults.script("media.get", Fault.status(503))
    sandbox.faults.script("media.download", Fault.truncated())
    assert (await get(http, f"/{media_id}"))[0] == 503
    status, lookup, _ = await get(http, f"/{media_id}")
    assert status == 200
    async with http.get(local(lookup["url"], sandbox.base_url)) as response:
        assert response.headers["Content-Type"] == "audio/ogg; codecs=opus"
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert (await get(http, local(lookup["url"], sandbox.base_url)))[0] == 200
    assert dict(sandbox.stats.faults) == {"status_503": 1, "truncated": 1}
    assert (sandbox.stats.requests["media.get"], sandbox.stats.effects["media.get"]) == (2, 1)
    assert sandbox.stats.requests["media.download"] == 2
    for _ in range(19):
        assert (await get(http, "/1234567890"))[0] == 404
    assert (await get(http, f"/{media_id}"))[0] == 429, "the 503 was the 20th error"
