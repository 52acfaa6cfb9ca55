"""The sandbox's /phone page: the developer is the WhatsApp user, in a browser, on loopback.

The page (page.html, phone.css, phone.js, plain files shipped in this package) talks to
`PhoneHub` over a WebSocket; the hub relays SDP between the browser and the bot with only
127.0.0.1 candidates kept. Nothing here touches media: the browser and the bot are the peers.
"""

from d360_calling.sandbox.phone.hub import PhoneHub
from d360_calling.sandbox.phone.relay import BROWSER_SWITCHES, RelayError, loopback_only

__all__ = ["BROWSER_SWITCHES", "PhoneHub", "RelayError", "loopback_only"]
