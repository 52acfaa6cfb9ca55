"""The /phone page and recordings: the page is told while the consent announcement plays,
then gets a link to the recording that only it may open (loopback peer, loopback name, the
page's own site, an unguessable token). No browser: an aiohttp client plays the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from d360_calling.sandbox import Sandbox
from tests.support.phone_samples import BROWSER_ANSWER, BROWSER_OFFER
from tests.support.sandbox import KEY, Receiver, action_body

from .recording_support import option, post

pytest.importorskip("av")

BOUND = 10.0


async def next_message(socket: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(BOUND):
        while True:
            message = dict(await socket.receive_json())
            if message["type"] == kind:
                return message


@pytest.fixture
async def phone(receiver: Receiver) -> AsyncIterator[Sandbox]:
    async with Sandbox(api_key=KEY, webhook_url=receiver.url, phone=True) as box:
        yield box


async def test_the_page_sees_the_announcement_then_gets_its_recording(phone: Sandbox) -> None:
    async with (
        aiohttp.ClientSession(base_url=phone.base_url, headers={"D360-API-KEY": KEY}) as http,
        http.ws_connect("/phone/ws", origin=phone.base_url) as socket,
    ):
        await next_message(socket, "hello")
        await socket.send_json({"type": "call", "sdp": BROWSER_OFFER})
        call_id = (await next_message(socket, "call"))["call_id"]
        recording = option("quality assurance")
        await post(http, action_body("accept", call_id, BROWSER_ANSWER, recording=recording))
        announcement = await next_message(socket, "announcement")
        assert announcement == {
            "type": "announcement",
            "call_id": call_id,
            "purpose": "quality assurance",
            "seconds": 1.0,
        }
        phone.clock.advance(12)
        await socket.send_json({"type": "hangup", "call_id": call_id})
        ready = await next_message(socket, "recording")
        assert ready["call_id"] == call_id
        assert ready["seconds"] == pytest.approx(12.0, abs=0.3)
        url = ready["url"]
        assert url.startswith("/phone/recording/")
        assert len(url) > len("/phone/recording/") + 20, "an unguessable token"

        async with http.get(url, headers={"Sec-Fetch-Site": "same-origin"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "audio/ogg; codecs=opus"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            audio = await response.read()
            assert audio == phone.media_of(call_id).audio
        async with http.get(url, headers={"Range": "bytes=10-19"}) as response:
            assert response.status == 206, "a player reads the last page for the length"
            assert response.headers["Content-Range"] == f"bytes 10-19/{len(audio)}"
            assert await response.read() == audio[10:20]
        async with http.get(url, headers={"Range": f"bytes={len(audio)}-"}) as response:
            assert response.status == 416
        refused = [
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Host": f"evil.example:{phone.port}"},  # a DNS-rebound name
        ]
        for headers in refused:
            async with http.get(url, headers=headers) as response:
                assert response.status == 403, headers
        async with http.get("/phone/recording/guessed-token") as response:
            assert response.status == 404


@pytest.mark.parametrize(
    ("peername", "refusal"),
    [
        (("192.0.2.7", 5555), web.HTTPForbidden),
        (("::ffff:192.0.2.7", 5555, 0, 0), web.HTTPForbidden),
        (("127.0.0.1", 5555), web.HTTPNotFound),  # trusted; the call has no recording
    ],
)
async def test_a_peer_off_loopback_never_gets_a_recording(
    peername: Any, refusal: type[Exception]
) -> None:
    sandbox = Sandbox(phone=True)  # never started: nothing listens
    hub = sandbox._hub
    assert hub is not None
    url = hub._links.link("wacid.any")
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peername if name == "peername" else default
    )
    request = make_mocked_request(
        "GET",
        url,
        headers={"Host": "127.0.0.1:8360"},
        match_info={"token": url.rsplit("/", 1)[1]},
        transport=transport,
    )
    with pytest.raises(refusal):
        await hub._links._serve(request)


async def test_a_sandbox_without_the_page_serves_no_recordings(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get("/phone/recording/anything") as response:
        assert response.status == 404
