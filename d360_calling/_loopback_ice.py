"""Keep ICE on 127.0.0.1: for tests, the sandbox's peer and demos on one machine.

aioice leaves loopback out of the host addresses it gathers, and looks `get_host_addresses` up
as a global of `aioice.ice` at each gathering: that global is the one point replaced. The
replacement asks a context variable, so only code run inside `loopback_gathering()` (and the
tasks it starts) gathers 127.0.0.1 alone; every other peer in the process is unaffected.

A connection that gathered only 127.0.0.1 also ignores ICE checks from any other address: a
browser sends checks to our 127.0.0.1 from each of its own addresses, and answering them would
make aioice send media back to those (peer-reflexive) addresses instead of loopback.

`keep_loopback_candidates` is the allow-list for remote SDP: of the candidate lines, only UDP host
candidates on 127.0.0.1, read as aioice's `Candidate.from_sdp` reads them (fields split on any
whitespace), stay; the sandbox's /phone relay applies the same test.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any, Final

LOOPBACK: Final = "127.0.0.1"

_ACTIVE: Final = contextvars.ContextVar("d360_loopback_ice", default=False)
_MARK: Final = "_d360_loopback"
_CANDIDATE: Final = "a=candidate:"


def _install() -> None:
    """Wrap aioice's `get_host_addresses` once; the wrapper changes nothing outside the context."""
    import aioice.ice

    original: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
    if getattr(original, _MARK, False):
        return

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if _ACTIVE.get():
            return [LOOPBACK] if use_ipv4 else []
        return original(use_ipv4, use_ipv6)

    setattr(get_host_addresses, _MARK, True)
    aioice.ice.get_host_addresses = get_host_addresses

    connection = aioice.ice.Connection
    answer_check: Callable[..., None] = connection.request_received

    def request_received(self: Any, message: Any, addr: tuple[str, int], protocol: Any) -> None:
        local = self.local_candidates
        if addr[0] != LOOPBACK and local and all(c.host == LOOPBACK for c in local):
            return  # a loopback-only connection answers loopback only
        answer_check(self, message, addr, protocol)

    connection.request_received = request_received  # type: ignore[method-assign]


@contextlib.contextmanager
def loopback_gathering() -> Iterator[None]:
    """Within this block (and tasks started in it) aioice gathers only 127.0.0.1."""
    _install()
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def keep_loopback_candidates(sdp: str) -> str:
    """`sdp` less its `foreign_candidate` lines, line endings kept, split as aiortc splits it."""
    return "".join(line for line in sdp.splitlines(keepends=True) if not foreign_candidate(line))


def foreign_candidate(line: str) -> bool:
    """Whether `line` is a candidate line (any case, indent or shape) but no 127.0.0.1 UDP host."""
    if not line.lstrip().lower().startswith("a=candidate"):
        return False
    return not (line.startswith(_CANDIDATE) and _loopback_udp_host(line[len(_CANDIDATE) :]))


def _loopback_udp_host(candidate: str) -> bool:
    """Whether the candidate, split on any whitespace as aioice does, is a UDP host on 127.0.0.1."""
    fields = candidate.split()
    return (
        len(fields) >= 8
        and fields[2].lower() == "udp"
        and fields[4] == LOOPBACK
        and fields[6:8] == ["typ", "host"]
    )
