"""The relay's candidate filter: only 127.0.0.1 UDP host candidates cross the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from d360_calling.sandbox.phone.relay import (
    BROWSER_SWITCHES,
    RelayError,
    loopback_only,
    relay_from_page,
)
from d360_calling.sandbox.sdp_rules import refusal_reason
from d360_calling.sandbox.webhooks import describe_webhook

from ..support.phone_samples import BROWSER_ANSWER, BROWSER_OFFER, KEPT_CANDIDATE


def candidates(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


def test_only_the_loopback_udp_host_candidate_is_kept() -> None:
    relayed = loopback_only(BROWSER_OFFER)
    assert candidates(relayed) == [KEPT_CANDIDATE]
    for gone in ("192.0.2.2 35969", "::1", "fd00::2", ".local", "srflx", "tcp", "typ relay"):
        assert not any(gone in line for line in candidates(relayed)), gone


def test_connection_lines_point_at_loopback_and_the_rest_is_untouched() -> None:
    relayed = loopback_only(BROWSER_OFFER)
    assert "c=IN IP4 127.0.0.1" in relayed.splitlines()
    assert "c=IN IP4 192.0.2.2" not in relayed
    others = [line for line in BROWSER_OFFER.splitlines() if line and "candidate" not in line]
    assert [line for line in relayed.splitlines() if "candidate" not in line] == [
        "c=IN IP4 127.0.0.1" if line.startswith("c=") else line for line in others
    ]
    assert relayed.endswith("\r\n")
    assert "\r\n\r\n" not in relayed


def test_line_endings_and_blank_lines_do_not_matter() -> None:
    unix = BROWSER_OFFER.replace("\r\n", "\n") + "\n\n"
    assert loopback_only(unix) == loopback_only(BROWSER_OFFER)


def test_a_browser_offer_relays_and_passes_the_rules() -> None:
    relayed = relay_from_page(BROWSER_OFFER, "offer")
    assert refusal_reason(relayed, "offer") is None
    assert relay_from_page(BROWSER_ANSWER, "answer") == loopback_only(BROWSER_ANSWER)


def test_without_a_loopback_candidate_nothing_is_relayed_and_the_switches_are_named() -> None:
    hidden = BROWSER_OFFER.replace(KEPT_CANDIDATE + "\r\n", "")
    with pytest.raises(RelayError, match=r"no 127\.0\.0\.1 candidate") as caught:
        relay_from_page(hidden, "offer")
    assert BROWSER_SWITCHES in str(caught.value)
    assert "--allow-loopback-in-peer-connection" in BROWSER_SWITCHES


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda sdp: sdp + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "exactly one m-line"),
        (lambda sdp: sdp.replace("opus/48000/2", "speex/16000"), "Opus"),
        (
            lambda sdp: sdp.replace("a=fingerprint:sha-256", "a=fingerprint:sha-1"),
            "sha-256",
        ),
    ],
)
def test_what_whatsapp_would_refuse_is_not_relayed(
    change: Callable[[str], str], reason: str
) -> None:
    with pytest.raises(RelayError, match=reason):
        relay_from_page(change(BROWSER_OFFER), "offer")


def test_an_offer_as_answer_is_refused() -> None:
    with pytest.raises(RelayError, match="setup:active"):
        relay_from_page(BROWSER_OFFER, "answer")


@pytest.mark.parametrize("sdp", [None, 42, "", "v=0\r\n" * 20_000])
def test_not_sdp_at_all(sdp: object) -> None:
    with pytest.raises(RelayError, match="string of 1 to"):
        relay_from_page(sdp, "offer")


def test_webhooks_are_described_for_people() -> None:
    def envelope(field: str, value: Any) -> dict[str, Any]:
        return {"entry": [{"changes": [{"field": field, "value": value}]}]}

    terminate = {"calls": [{"event": "terminate", "status": "COMPLETED", "duration": 7}]}
    assert describe_webhook(envelope("calls", terminate)) == "calls terminate COMPLETED 7 s"
    assert describe_webhook(envelope("calls", {"calls": [{"event": "connect"}]})) == (
        "calls connect"
    )
    ringing = {"statuses": [{"status": "RINGING"}]}
    assert describe_webhook(envelope("calls", ringing)) == "calls status RINGING"
    reply = {
        "messages": [
            {
                "interactive": {
                    "type": "call_permission_reply",
                    "call_permission_reply": {"response": "accept"},
                }
            }
        ]
    }
    assert describe_webhook(envelope("messages", reply)) == (
        "messages call_permission_reply accept"
    )
    assert describe_webhook({"entry": []}) == "webhook"
