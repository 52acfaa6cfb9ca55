"""What the media tests share: 360dialog's media lookup and download answers (reference §11.2,
and the sandbox's contract) as data, registered on aioresponses, and request counts."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Final

from aioresponses import aioresponses as Aioresponses
from yarl import URL

BASE: Final = "http://127.0.0.1:8099"
"""The client's base URL in aioresponses tests (nothing leaves the process; unmatched requests
would go to loopback, not the internet)."""
MEDIA_ID: Final = "1029384756473829"
HASH_TOKEN: Final = "ATsecretHASHtoken42"
FUTURE_EXT: Final = 4_102_444_800  # 2100-01-01
PATH: Final = "/whatsapp_business/attachments/"

NOT_FOUND: Final[dict[str, Any]] = {
    "error": {
        "message": f"(#100) Unsupported get request. Object with ID '{MEDIA_ID}' does not exist",
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
        "fbtrace_id": "AbCdEf",
    }
}
THROTTLED: Final[dict[str, Any]] = {
    "error": {"message": "(#4) Application request limit reached", "code": 4}
}


def sha256_of(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def meta_url(mid: str = MEDIA_ID, ext: int = FUTURE_EXT, token: str = HASH_TOKEN) -> str:
    """A media URL as Meta writes it (on its lookaside host)."""
    return f"https://lookaside.fbsbx.com{PATH}?mid={mid}&ext={ext}&hash={token}"


def served_url(
    base: str, mid: str = MEDIA_ID, ext: int = FUTURE_EXT, token: str = HASH_TOKEN
) -> str:
    """Where the SDK fetches `meta_url(...)`: the same path and query on 360dialog's host."""
    return f"{base}{PATH}?mid={mid}&ext={ext}&hash={token}"


def lookup_answer(
    data: bytes, url: str, mime_type: str = "audio/ogg; codecs=opus"
) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": mime_type,
        "sha256": sha256_of(data),
        "file_size": len(data),
        "id": MEDIA_ID,
    }


def add_lookup(mock: Aioresponses, data: bytes, url: str, *, media_id: str = MEDIA_ID) -> None:
    mock.get(f"{BASE}/{media_id}", payload=lookup_answer(data, url))


def add_file(
    mock: Aioresponses,
    url: str,
    data: bytes,
    *,
    status: int = 200,
    mime_type: str = "audio/ogg",
    repeat: bool = False,
) -> None:
    mock.get(url, status=status, body=data, headers={"Content-Type": mime_type}, repeat=repeat)


def count(mock: Aioresponses, url: str | None = None, *, path: str | None = None) -> int:
    """Requests aioresponses answered (all, to one URL, or to one path)."""
    total = 0
    wanted = None if url is None else URL(url)
    for (_, seen), calls in mock.requests.items():
        if wanted is not None and (seen.path, dict(seen.query)) != (
            wanted.path,
            dict(wanted.query),
        ):
            continue
        if path is not None and seen.path != path:
            continue
        total += len(calls)
    return total
