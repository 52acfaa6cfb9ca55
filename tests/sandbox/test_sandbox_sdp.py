"""The sandbox refuses the SDP WhatsApp refuses (code 100, the reason in `error_data.details`),
so a bot that would fail against Meta fails here first; the SDK reports it as BadRequestError."""

from __future__ import annotations

import aiohttp
import pytest

from d360_calling import BadRequestError, Client, SessionDescription
from d360_calling.sandbox import OFFER_SDP, Sandbox
from tests.support.sandbox import ANSWER, KEY, USER, action_body, connect_body

FINGERPRINT = next(line for line in OFFER_SDP.splitlines() if line.startswith("a=fingerprint:"))
SHA1 = "a=fingerprint:sha-1 8E:0E:3B:2F:9C:4A:61:7D:55:10:AB:CD:EF:01:23:45:67:89:AB:CD"
REFUSED = [
    (ANSWER.replace("m=audio", "m=video"), "no audio m-line"),
    (ANSWER.replace("a=rtpmap:111 opus/48000/2\r\n", ""), "does not offer Opus"),
    (ANSWER.replace(FINGERPRINT, SHA1), "must be sha-256"),
    (ANSWER.replace(FINGERPRINT, f"{FINGERPRINT}\r\n{FINGERPRINT}"), "exactly one DTLS"),
    (ANSWER.replace(FINGERPRINT + "\r\n", ""), "no DTLS fingerprint"),
    (OFFER_SDP, "a=setup:active, not actpass"),
    ("hello", 'must start with "v=0"'),
]


@pytest.mark.parametrize(("sdp", "reason"), REFUSED)
async def test_answers_whatsapp_would_refuse_are_code_100(
    sandbox: Sandbox, http: aiohttp.ClientSession, sdp: str, reason: str
) -> None:
    call_id = await sandbox.ring(USER)
    for action in ("pre_accept", "accept"):
        async with http.post("/calling/calls", json=action_body(action, call_id, sdp)) as answer:
            body = await answer.json()
        assert answer.status == 400
        assert body["error"]["code"] == 100
        assert body["error"]["error_data"]["details"].startswith("session.sdp: ")
        assert reason in body["error"]["error_data"]["details"]
    assert sandbox.calls[call_id].state.value == "ringing"
    assert sandbox.stats.effects["calls.accept"] == 0


async def test_an_offer_with_two_fingerprints_is_refused_on_connect(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.set_permission(USER, "permanent")
    body = connect_body()
    body["session"]["sdp"] = OFFER_SDP.replace(FINGERPRINT, f"{FINGERPRINT}\r\n{FINGERPRINT}")
    async with http.post("/calling/calls", json=body) as answer:
        error = (await answer.json())["error"]
    assert answer.status == 400
    assert "exactly one DTLS fingerprint" in error["error_data"]["details"]
    assert sandbox.stats.effects["calls.connect"] == 0


async def test_the_sdk_sees_the_refusal_as_a_bad_request(sandbox: Sandbox) -> None:
    call_id = await sandbox.ring(USER)
    async with Client(KEY, base_url=sandbox.base_url) as client:
        with pytest.raises(BadRequestError, match="sha-256"):
            await client.calls.accept(
                call_id, SessionDescription.answer(ANSWER.replace(FINGERPRINT, SHA1))
            )
