"""What WhatsApp refuses in a business's SDP, written from the API reference (section 6).

`refusal_reason` names the first problem, for the error's `error_data.details`, or None.
"""

from __future__ import annotations

import re
from typing import Final, Literal

_RTPMAP: Final = re.compile(r"a=rtpmap:(\d+) opus/48000(/2)?$", re.IGNORECASE)


def refusal_reason(sdp: str, kind: Literal["offer", "answer"]) -> str | None:
    """Why WhatsApp would refuse this SDP offer or answer, or None when it would take it."""
    lines = [line.strip() for line in sdp.splitlines() if line.strip()]
    if not lines or lines[0] != "v=0":
        return 'SDP must start with "v=0" (RFC 8866)'
    m_lines = [line.split() for line in lines if line.startswith("m=")]
    audio = [m for m in m_lines if m[0] == "m=audio"]
    if not audio:
        return "SDP has no audio m-line"
    if len(m_lines) > 1:
        return "SDP must have exactly one m-line, for audio"
    payload_types = audio[0][3:]
    if not any((m := _RTPMAP.match(line)) and m.group(1) in payload_types for line in lines):
        return "SDP does not offer Opus (opus/48000/2)"
    fingerprints = [line.split()[0] for line in lines if line.startswith("a=fingerprint:")]
    if not fingerprints:
        return "SDP has no DTLS fingerprint"
    if len(fingerprints) > 1:
        return "SDP must carry exactly one DTLS fingerprint (sha-256)"
    if fingerprints[0].lower() != "a=fingerprint:sha-256":
        return "the DTLS fingerprint must be sha-256"
    if kind == "answer" and "a=setup:actpass" in lines:
        return "an SDP answer must say a=setup:active, not actpass"
    return None
