"""SDP checks before aiortc sees a description, why aiortc refused one, and the filtering
WhatsApp needs on ours."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError

from d360_calling.errors import ValidationError
from d360_calling.models.calls import SdpType, SessionDescription

CODECS: Final = {"opus": "opus/48000", "PCMU": "PCMU/8000", "PCMA": "PCMA/8000"}
"""The codecs WhatsApp carries, by the name `codecs=` takes, with their rtpmap encoding."""

_LINE: Final = re.compile(r"[a-z]=.*")
_RTPMAP: Final = re.compile(r"a=rtpmap:(\d+) ([^/\s]+/\d+)")
_ATTRIBUTE: Final = re.compile(r"a=[\w-]{0,40}")
_STATED: Final = (ValueError, InvalidAccessError, InvalidStateError, OperationError)
"""What aiortc raises on purpose, with a fixed message, once a description parses."""


def check_codecs(codecs: Iterable[str]) -> tuple[str, ...]:
    """The codecs asked for, Opus first; Opus is required, as WhatsApp always offers it."""
    asked = tuple(dict.fromkeys(codecs))
    unknown = [c for c in asked if c not in CODECS]
    if unknown:
        raise ValidationError("codecs", f"unknown {unknown}; choose from {list(CODECS)}")
    if "opus" not in asked:
        raise ValidationError("codecs", "must include 'opus', which WhatsApp always uses")
    return ("opus", *(c for c in asked if c != "opus"))


def sdp_of(description: SessionDescription | str | None, kind: SdpType, name: str) -> str:
    """The SDP text of a webhook's `session` (or of a plain string), checked for its type."""
    if isinstance(description, SessionDescription):
        if description.sdp_type != kind:
            got = description.sdp_type
            raise ValidationError(f"{name}_sdp", f"expected an SDP {kind.value}, got {got}")
        return description.sdp
    if not isinstance(description, str):
        kind_name = type(description).__name__
        raise ValidationError(
            f"{name}_sdp", f"must be a str or a SessionDescription, got {kind_name}"
        )
    return description


def check_offer(sdp: str) -> None:
    """Refuse an offer we cannot answer: not SDP, no single audio m-line, no Opus, no DTLS."""
    _check(sdp, "offer_sdp", ("opus",))


def check_answer(sdp: str, codecs: Iterable[str]) -> None:
    """Refuse an answer we cannot apply: as `check_offer`, plus none of our codecs or `actpass`."""
    lines = _check(sdp, "answer_sdp", tuple(codecs))
    if "a=setup:actpass" in lines:
        raise ValidationError("answer_sdp", "an answer must not say a=setup:actpass")


def sha256_fingerprint_only(sdp: str) -> str:
    """Our SDP with its sha-256 DTLS fingerprint alone: WhatsApp takes no other hash."""
    return "".join(
        line
        for line in sdp.splitlines(keepends=True)
        if not line.startswith("a=fingerprint:") or line.startswith("a=fingerprint:sha-256 ")
    )


def refusal(sdp: str, error: Exception) -> str:
    """Why aiortc refused `sdp`, quoting none of its values (an ICE password may be among them)."""
    lines = sdp.splitlines()
    failing = _unparsable_line(lines)
    if failing is not None:
        return f"aiortc cannot parse its {_line_name(lines[failing])} line"
    if isinstance(error, _STATED):
        return f"refused by aiortc: {error}"
    return f"refused by aiortc ({type(error).__name__})"


def _unparsable_line(lines: list[str]) -> int | None:
    """The index of the line that stops aiortc's parser (bisecting on prefixes), or None."""
    if _parses(lines):
        return None
    parsing, failing = 0, len(lines)  # lines[:parsing] parses, lines[:failing] does not
    while failing - parsing > 1:
        middle = (parsing + failing) // 2
        if _parses(lines[:middle]):
            parsing = middle
        else:
            failing = middle
    return failing - 1


def _parses(lines: list[str]) -> bool:
    """Whether aiortc's SDP parser takes these lines (it raises all sorts on bad input)."""
    try:
        aiortc_sdp.SessionDescription.parse("\r\n".join(lines))
    except Exception:
        return False
    return True


def _line_name(line: str) -> str:
    """A line's type (`c=`) or attribute name (`a=setup`), without any of its values."""
    attribute = _ATTRIBUTE.match(line)
    return attribute.group() if attribute else line[:2]


def _check(sdp: object, field: str, codecs: tuple[str, ...]) -> list[str]:
    """The lines of `sdp` once it passes the checks common to offers and answers."""
    if not isinstance(sdp, str):
        raise ValidationError(field, f"must be a str, got {type(sdp).__name__}")
    lines = [line.strip() for line in sdp.splitlines() if line.strip()]
    if not lines or lines[0] != "v=0" or not all(_LINE.fullmatch(line) for line in lines):
        raise ValidationError(field, 'not an SDP body (RFC 8866 lines, starting with "v=0")')
    media = [i for i, line in enumerate(lines) if line.startswith("m=")]
    kinds = [lines[i].split()[0] for i in media]
    if kinds != ["m=audio"]:
        raise ValidationError(field, f"WhatsApp needs exactly one audio m-line, found {kinds}")
    m_line = lines[media[0]].split()
    if len(m_line) < 4 or m_line[2] != "UDP/TLS/RTP/SAVPF":
        raise ValidationError(field, "the audio m-line must be UDP/TLS/RTP/SAVPF (DTLS-SRTP)")
    wanted = {CODECS[c].lower() for c in codecs}
    found = {
        m.group(2).lower()
        for line in lines[media[0] :]
        if (m := _RTPMAP.match(line)) and m.group(1) in m_line[3:]
    }
    if not wanted & found:
        raise ValidationError(field, f"no codec in common: needs one of {sorted(wanted)}")
    for attribute in ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:"):
        if not any(line.startswith(attribute) for line in lines):
            raise ValidationError(field, f"missing {attribute.rstrip(':')}")
    return lines
