"""Who the /phone page's routes answer: loopback only, by socket address and by the names in
the request, with headers that keep the page to itself."""

from __future__ import annotations

import ipaddress
from typing import Final

from aiohttp import web

HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
"""Sent with every file the page is made of or gets."""
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def check_phone_host(host: str) -> None:
    """Refuse to serve the page on an address other machines reach: it answers as a user."""
    if host != "localhost" and not loopback_address(host):
        raise ValueError(
            "the /phone page places and answers calls as a WhatsApp user for whoever reaches "
            f"it, so it is served only on loopback (127.0.0.1, ::1 or localhost), not {host!r}"
        )


def loopback_address(text: str) -> bool:
    """Whether `text` is an IP address of this machine only (IPv4-mapped IPv6 included)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def loopback_peer(request: web.Request) -> bool:
    """Whether the request's socket comes from this machine (its address, not its headers)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    return isinstance(peer, tuple) and bool(peer) and loopback_address(str(peer[0]))
