"""Canned SDP bodies in the shape Meta sends, for calls the sandbox starts or answers."""

from __future__ import annotations

from typing import Final

OFFER_SDP: Final = (
    "v=0\r\n"
    "o=- 7669997803033704573 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE audio\r\n"
    "a=msid-semantic: WMS\r\n"
    "a=ice-lite\r\n"
    "m=audio 3480 UDP/TLS/RTP/SAVPF 111 126\r\n"
    "c=IN IP4 157.240.19.130\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:1 1 udp 2122260223 157.240.19.130 3480 typ host generation 0\r\n"
    "a=ice-ufrag:s4nDb0x\r\n"
    "a=ice-pwd:sandboxsandboxsandboxsa\r\n"
    "a=fingerprint:sha-256 "
    "8E:0E:3B:2F:9C:4A:61:7D:55:10:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45\r\n"
    "a=setup:actpass\r\n"
    "a=mid:audio\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
)
"""The SDP offer on the connect webhook of a user-initiated call."""

ANSWER_SDP: Final = OFFER_SDP.replace("a=setup:actpass", "a=setup:active")
"""The SDP answer on the connect webhook of a business-initiated call the user picked up."""
