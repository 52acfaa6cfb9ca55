"""The sandbox's media: recordings and transcripts by id, their signed URLs, 7-day retention and
the error throttle of `GET /{media-id}` (API reference, §11.1 and §11.2).

Plain data and rules on the sandbox clock (`now` comes from the caller, as in `state`); the HTTP
layer (`app`) decides when time is taken and counts the error answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections import deque
from typing import Final
from urllib.parse import urlencode

import attrs

from d360_calling.sandbox.errors import ApiError, JsonObject, fbtrace_id
from d360_calling.sandbox.limits import Limits

LOOKASIDE: Final = "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
"""Where Meta's media URLs point; a downloader swaps the host for 360dialog's (§11.2)."""
DOWNLOAD_PATH: Final = "/whatsapp_business/attachments/"
"""The path of the download route, the same on the lookaside host and on 360dialog's."""

_MISSING: Final = (
    "(#100) Unsupported get request. Object with ID does not exist, cannot be loaded due to "
    "missing permissions, or does not support this operation. Please read the Graph API "
    "documentation at https://developers.facebook.com/docs/graph-api"
)
"""Graph's text for an unknown or expired media id (the id itself is not echoed)."""


def sha256_base64(data: bytes) -> str:
    """The `sha256` a webhook and `GET /{media-id}` give: base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@attrs.define
class StoredMedia:
    """One recording or transcript; `data` is None once retention dropped it."""

    id: str
    """A numeric string, as Meta's media ids are."""
    mime_type: str
    sha256: str
    file_size: int
    created_at: float
    data: bytes | None = attrs.field(repr=lambda data: "None" if data is None else "<bytes>")

    def reference(self, url: str) -> JsonObject:
        """The webhook's view of it: id, sha256, mime_type and a fresh `url`."""
        return {"id": self.id, "sha256": self.sha256, "mime_type": self.mime_type, "url": url}


def _not_found(message: str, *, subcode: int | None = None) -> ApiError:
    error: JsonObject = {"message": message, "type": "GraphMethodException", "code": 100}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = fbtrace_id()
    return ApiError(404, {"error": error})


class MediaThrottle:
    """§11.2: `media_errors_allowed` error answers within the window block the endpoint for
    `media_block_seconds`. The sandbox has one API key, so it keeps one window; errors counted
    while blocked (the 429s themselves) are not, and a block starts a fresh window."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._errors: deque[float] = deque()
        self.blocked_until: float | None = None

    def check(self, now: float) -> None:
        """Raise the 429 with `Retry-After` while blocked."""
        if self.blocked_until is None:
            return
        left = self.blocked_until - now
        if left <= 0:
            self.blocked_until = None
            return
        allowed = self._limits.media_errors_allowed
        minutes = self._limits.media_error_window_seconds / 60
        raise ApiError(
            429,
            {
                "error": {
                    "message": f"(#4) Retrieving media is blocked for this API key: too many "
                    f"errors ({allowed} error responses within {minutes:g} minutes)",
                    "type": "OAuthException",
                    "code": 4,
                    "fbtrace_id": fbtrace_id(),
                }
            },
            {"Retry-After": str(math.ceil(left))},
        )

    def count_error(self, now: float) -> None:
        """One more error answer; the one that reaches the limit starts the block."""
        if self.blocked_until is not None and now < self.blocked_until:
            return
        window = self._limits.media_error_window_seconds
        while self._errors and self._errors[0] <= now - window:
            self._errors.popleft()
        self._errors.append(now)
        if len(self._errors) >= self._limits.media_errors_allowed:
            self._errors.clear()
            self.blocked_until = now + self._limits.media_block_seconds

    @property
    def errors(self) -> int:
        """Error answers counted in the current window (for tests)."""
        return len(self._errors)


class MediaStore:
    """Media by id, URLs signed with a per-sandbox secret and bound to `mid` and `ext`."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._secret = secrets.token_bytes(32)
        self._media: dict[str, StoredMedia] = {}
        self.throttle = MediaThrottle(limits)

    def add(self, data: bytes, mime_type: str, now: float) -> StoredMedia:
        """Keep `data` under a new numeric id."""
        media_id = str(secrets.randbelow(9 * 10**15) + 10**15)
        media = StoredMedia(media_id, mime_type, sha256_base64(data), len(data), now, data)
        self._media[media_id] = media
        return media

    def purge(self, now: float) -> None:
        """Drop what is past retention: its id answers 404 and its bytes are gone."""
        keep = self._limits.media_retention_seconds
        for media_id, media in list(self._media.items()):
            if media.created_at + keep <= now:
                media.data = None
                del self._media[media_id]

    def url(self, media: StoredMedia, now: float) -> str:
        """A lookaside URL for `media` that works for `media_url_seconds`."""
        ext = str(int(now + self._limits.media_url_seconds))
        query = urlencode({"mid": media.id, "ext": ext, "hash": self._hash(media.id, ext)})
        return f"{LOOKASIDE}?{query}"

    def lookup(self, media_id: str, now: float) -> JsonObject:
        """`GET /{media-id}`: the media object with a fresh URL, or Graph's 404 (code 100,
        subcode 33) for an id that is unknown or past retention."""
        self.purge(now)
        media = self._media.get(media_id)
        if media is None:
            raise _not_found(_MISSING, subcode=33)
        return {
            "messaging_product": "whatsapp",
            "url": self.url(media, now),
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": media.file_size,
            "id": media.id,
        }

    def download(self, query: dict[str, str], now: float) -> StoredMedia:
        """The media a download URL's query names, if its hash is right and `ext` not past."""
        mid, ext, token = query.get("mid", ""), query.get("ext", ""), query.get("hash", "")
        if not (mid and ext.isdigit() and token) or not hmac.compare_digest(
            token.encode(), self._hash(mid, ext).encode()
        ):
            raise _not_found("(#100) Invalid media URL: mid, ext or hash is wrong")
        if int(ext) < now:
            raise _not_found(
                "(#100) The media URL expired; get a new one with GET /{media-id}", subcode=33
            )
        self.purge(now)
        media = self._media.get(mid)
        if media is None or media.data is None:
            raise _not_found(_MISSING, subcode=33)
        return media

    def _hash(self, mid: str, ext: str) -> str:
        digest = hmac.new(self._secret, f"{mid}:{ext}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()
