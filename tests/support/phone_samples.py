"""SDP as headless Chromium 150 offered it on this machine (the candidates of every interface,
TCP and IPv6 among them), plus an mDNS name and a server-reflexive candidate."""

from __future__ import annotations

from typing import Final

BROWSER_OFFER: Final = "\r\n".join(
    [
        "v=0",
        "o=- 9145025373907085643 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS 369120c0-e6a5-454e-a01f-caa702210286",
        "m=audio 35969 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 192.0.2.2",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=candidate:2727409399 1 udp 2122194687 127.0.0.1 46055 typ host generation 0",
        "a=candidate:212691323 1 udp 2122063615 192.0.2.2 35969 typ host generation 0",
        "a=candidate:2408129068 1 udp 2122267903 ::1 41018 typ host generation 0",
        "a=candidate:199165387 1 udp 2122134271 fd00::2 60881 typ host generation 0",
        "a=candidate:3697218671 1 tcp 1518214911 127.0.0.1 9 typ host tcptype active",
        "a=candidate:1919060963 1 tcp 1518083839 192.0.2.2 9 typ host tcptype active",
        "a=candidate:5 1 udp 2122260223 0f1e2d3c-aaaa-bbbb-cccc-1234567890ab.local 50000 typ host",
        "a=candidate:6 1 udp 1686052607 203.0.113.7 50001 typ srflx raddr 192.0.2.2 rport 35969",
        "a=candidate:7 1 udp 41885439 127.0.0.1 50002 typ relay raddr 0.0.0.0 rport 0",
        "a=ice-ufrag:m86P",
        "a=ice-pwd:kjzlPulOfV4KKWtsbHMGX/gN",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 DE:4C:4F:18:70:8E:D9:65:B4:7F:80:D6:7F:AF:44:36:86:20:4E:85:67:BA:"
        "B8:44:E0:26:B8:B9:92:84:76:1B",
        "a=setup:actpass",
        "a=mid:0",
        "a=sendrecv",
        "a=msid:369120c0-e6a5-454e-a01f-caa702210286 5c526dc6-205f-4a38-a617-e31a5e8e97a9",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "",
    ]
)

KEPT_CANDIDATE: Final = (
    "a=candidate:2727409399 1 udp 2122194687 127.0.0.1 46055 typ host generation 0"
)
"""The one candidate of BROWSER_OFFER the relay keeps."""

BROWSER_ANSWER: Final = BROWSER_OFFER.replace("a=setup:actpass", "a=setup:active")
"""The same shape as an answer (what a browser sends back to the bot's offer)."""
