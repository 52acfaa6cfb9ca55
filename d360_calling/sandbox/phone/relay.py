"""The SDP the sandbox relays between the /phone page and the bot: 127.0.0.1 candidates only.

A browser lists every interface it has (other addresses, IPv6, mDNS `.local` names, TCP); the
relay keeps the UDP host candidates on 127.0.0.1 and drops the rest, in both directions, so
every ICE check and every media packet stays on this machine whatever the browser gathers.
"""

from __future__ import annotations

from typing import Final, Literal

from d360_calling._loopback_ice import LOOPBACK, foreign_candidate
from d360_calling.sandbox.sdp_rules import refusal_reason

MAX_SDP: Final = 64 * 1024
"""Characters of SDP the page may send; a browser's offer is about 3,000."""

BROWSER_SWITCHES: Final = (
    "start Chromium with --allow-loopback-in-peer-connection "
    "--disable-features=WebRtcHideLocalIpsWithMdns, or set media.peerconnection.ice.loopback "
    "to true and media.peerconnection.ice.obfuscate_host_addresses to false in Firefox"
)
"""What a browser needs to offer a 127.0.0.1 candidate (README, "Talk to your bot")."""


class RelayError(ValueError):
    """SDP from the page that the sandbox will not relay, and why."""


def loopback_only(sdp: str) -> str:
    """`sdp` with only its UDP host candidates on 127.0.0.1, and its c= lines on 127.0.0.1."""
    kept = []
    for line in sdp.splitlines():
        line = line.strip()
        if not line or foreign_candidate(line):
            continue
        if line.startswith("c=IN "):
            line = f"c=IN IP4 {LOOPBACK}"
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def has_candidate(sdp: str) -> bool:
    """Whether `sdp` still carries at least one ICE candidate."""
    return any(line.startswith("a=candidate:") for line in sdp.splitlines())


def relay_from_page(sdp: object, kind: Literal["offer", "answer"]) -> str:
    """The page's SDP as the bot will get it; `RelayError` if there is nothing to reach on
    loopback or WhatsApp would refuse it (one audio m-line, Opus, one sha-256 fingerprint)."""
    if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP:
        raise RelayError(f"the page's SDP {kind} must be a string of 1 to {MAX_SDP} characters")
    relayed = loopback_only(sdp)
    if not has_candidate(relayed):
        raise RelayError(
            f"the browser's SDP {kind} has no 127.0.0.1 candidate, and the sandbox relays "
            f"nothing else: {BROWSER_SWITCHES}"
        )
    reason = refusal_reason(relayed, kind)
    if reason is not None:
        raise RelayError(f"WhatsApp would refuse the browser's SDP {kind}: {reason}")
    return relayed
