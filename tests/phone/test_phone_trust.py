"""The phone's socket trusts the peer's address as well as its headers, and the /phone page is
never served on an address other machines can reach. No request here leaves 127.0.0.1: the
foreign peers are mocked transports."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from d360_calling.cli import main
from d360_calling.sandbox import Sandbox
from d360_calling.sandbox.phone.hub import PhoneHub

PORT = 8360
HEADERS = {"Host": f"127.0.0.1:{PORT}", "Origin": f"http://127.0.0.1:{PORT}"}
FOREIGN = [("192.0.2.7", 5555), ("2001:db8::7", 5555, 0, 0), ("::ffff:192.0.2.7", 5555, 0, 0)]
LOOPBACK = [("127.0.0.1", 5555), ("::1", 5555, 0, 0), ("::ffff:127.0.0.1", 5555, 0, 0)]


def _request(peername: Any, headers: dict[str, str] = HEADERS) -> web.Request:
    """A GET /phone/ws as if it came from `peername` (None: the transport has none)."""
    extra = {"peername": peername}
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: extra.get(name, default)
    return make_mocked_request("GET", "/phone/ws", headers=headers, transport=transport)


@pytest.fixture
def hub() -> PhoneHub:
    """The hub of a phone sandbox that is never started: nothing listens."""
    sandbox = Sandbox(phone=True)
    assert sandbox._hub is not None
    return sandbox._hub


@pytest.mark.parametrize("peername", [*FOREIGN, None], ids=["ipv4", "ipv6", "mapped", "none"])
async def test_a_peer_off_loopback_is_refused_even_with_loopback_headers(
    hub: PhoneHub, peername: Any
) -> None:
    with pytest.raises(web.HTTPForbidden):
        await hub._socket(_request(peername))


@pytest.mark.parametrize("peername", LOOPBACK, ids=["ipv4", "ipv6", "mapped"])
async def test_a_loopback_peer_with_the_pages_headers_is_trusted(
    hub: PhoneHub, peername: Any
) -> None:
    assert hub._trusted(_request(peername))
    foreign_origin = {**HEADERS, "Origin": "http://evil.example"}
    assert not hub._trusted(_request(peername, foreign_origin)), "headers still count"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.7", "example.com"])
def test_a_phone_sandbox_refuses_a_bind_other_machines_reach(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(phone=True, host=host)
    Sandbox(host=host)  # without the page, any bind is the caller's choice


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_a_phone_sandbox_takes_a_loopback_bind(host: str) -> None:
    Sandbox(phone=True, host=host)


def test_the_cli_refuses_phone_on_a_public_bind(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never_bind(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sandbox went on to bind a non-loopback address")

    monkeypatch.setattr(web, "TCPSite", never_bind)
    assert main(["sandbox", "--phone", "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "loopback" in err
    assert "'0.0.0.0'" in err
