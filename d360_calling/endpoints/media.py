"""`client.media`: fetch a call's recording or transcript through 360dialog (reference §11.2)
and check it against its SHA-256; read a transcript into typed models (§11.1).

The flow: a webhook's 5-minute URL first (unless its `ext` expiry has passed), else
`GET /{media-id}` (the lookup) for a fresh URL on Meta's host, whose path and query are
fetched from 360dialog with the API key. A URL that answers 401, 403, 404 or 410 has expired:
the id is looked up again, once. A lookup's 404 is final (`MediaNotFoundError`).

360dialog blocks the lookup for 30 minutes after 20 error answers within 60 minutes, so a
lookup is never retried, its error answers are counted in the shared state (per client, or
per account with `RedisState`), and a lookup the count forbids fails with
`MediaThrottledError` before anything is sent.

How the chain applies: media requests run through the client's middlewares like any call
(user middlewares, logging, telemetry), with three differences. Their path is a template
(`/{media_id}`, `/whatsapp_business/attachments/`): the media id and the download URL ride in
a hidden `Target` and never reach a log, a span or an error's text. They skip client-side
rate limiting unless the call passes `rate_limit=` (a media throttle must not close the calls'
429 gate, and a long download must not hold a calls' in-flight slot). The lookup is sent
once whatever `retry=` says; a download is retried per the policy, starting over.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable
from typing import Any, Final, Unpack

import attrs
from yarl import URL

from .. import jsonutil
from ..error_mapping import reclassified
from ..errors import (
    APIError,
    MediaNotFoundError,
    MediaThrottledError,
    RateLimitError,
    ResponseDecodeError,
    ValidationError,
)
from ..models.converter import converter, explain
from ..models.media import MediaDownload, MediaInfo, MediaRef, Transcript
from ..session import Session, Target
from ..shared_state import MediaErrorLimits, SharedState
from ._resource import CallOptions, Resource, check_options
from .media_files import Destination, FileSpool, Spool, check_destination, sha256_digest

MEDIA_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A media id as the lookup's path takes it: nothing that could walk to another path."""
EXPIRED_URL: Final = frozenset({401, 403, 404, 410})
"""Answers of a download URL that mean it expired: the id is looked up again, once."""
ATTACHMENTS: Final = "/whatsapp_business/attachments/"
DEFAULT_MAX_MEDIA_SIZE: Final = 256 * 1024 * 1024
"""The largest download accepted unless the call passes `max_body_size=`."""
MAX_TRANSCRIPT_SIZE: Final = 8 * 1024 * 1024
"""The largest transcript read into memory unless the call passes `max_body_size=`."""
DEFAULT_MEDIA_LIMITS: Final = MediaErrorLimits()
_NOT_JSON: Final = object()

_URL_CHARACTERS: Final = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")


@attrs.frozen
class _Url:
    """A download URL, as fetched from 360dialog: its path and query, and what to hide."""

    target: Target
    template: str


def _download_url(url: object) -> _Url | None:
    """The path and query of an absolute http(s) URL on Meta's host, or `None` if unusable."""
    if not isinstance(url, str):
        return None
    try:
        parsed = URL(url)
        path = parsed.raw_path_qs
    except (ValueError, TypeError):
        return None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        return None
    if path.startswith("//") or not _URL_CHARACTERS.fullmatch(path):
        return None
    values = [v for pair in parsed.raw_query_string.split("&") for v in pair.split("=")[1:]]
    values += list(parsed.query.values())
    hidden = (url, path, parsed.raw_query_string, *values)
    template = ATTACHMENTS if parsed.raw_path == ATTACHMENTS else "/{media_url}"
    return _Url(Target(path, tuple(v for v in hidden if len(v) >= 4)), template)


def _expired(url: str, now: float) -> bool:
    """Whether the URL's `ext` (Meta's expiry, Unix seconds) has passed by `now`."""
    try:
        ext = URL(url).query.get("ext", "")
    except (ValueError, TypeError):
        return False
    return ext.isascii() and ext.isdigit() and int(ext) <= now


def _reference(media: MediaRef | str) -> MediaRef:
    """`media` as a `MediaRef` whose id and SHA-256 were checked (before anything is sent)."""
    ref = MediaRef(media) if isinstance(media, str) else media
    if not isinstance(ref, MediaRef):
        raise ValidationError("media", f"must be a MediaRef or a media id, got {type(media)}")
    if MEDIA_ID.fullmatch(ref.id) is None:
        # The value is not quoted: a media id fetches the file.
        raise ValidationError("media.id", "must be 1-64 letters, digits, '_' or '-'")
    if ref.sha256 is not None and sha256_digest(ref.sha256) is None:
        raise ValidationError("media.sha256", "is not a base64 (or hex) SHA-256")
    return ref


def _lacking(info: MediaInfo) -> str | None:
    if _download_url(info.url) is None:
        return "usable url"
    if info.sha256 is None or sha256_digest(info.sha256) is None:
        return "usable sha256"
    return None


class Media(Resource):
    """Recordings and transcripts of calls: `download`, `transcript`, and `lookup`.

    `limits` is the media error throttle mirrored from 360dialog; `clock` (Unix seconds) is
    what a URL's `ext` expiry is compared with.
    """

    __slots__ = ("_state", "clock", "limits")

    def __init__(
        self,
        session: Session,
        state: SharedState,
        *,
        limits: MediaErrorLimits = DEFAULT_MEDIA_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(session)
        self._state = state
        self.limits = limits
        self.clock = clock

    async def lookup(self, media: MediaRef | str, **options: Unpack[CallOptions]) -> MediaInfo:
        """`GET /{media-id}`: a fresh download URL, the MIME type, SHA-256 and size. Sent once,
        never retried; its error answers count towards 360dialog's media error throttle."""
        ref = _reference(media)
        check_options(options)
        return await self._lookup(ref.id, {"rate_limit": None, **options})

    async def download(
        self, media: MediaRef | str, destination: Destination, **options: Unpack[CallOptions]
    ) -> MediaDownload:
        """Download a recording (or any media) to `destination`, checked against its SHA-256.

        `destination` is a file path (its folder must exist; a file there is replaced) or a
        binary file object. The bytes stream to a temporary file beside the path (or in the
        system's temporary folder), hashed as they come; only when the SHA-256 matches the
        webhook's (else the lookup's) is the file renamed into place, or copied into the file
        object. A mismatch raises `MediaIntegrityError` and leaves nothing behind. The file is
        readable by its owner only. Pass `timeout=` for large files and `max_body_size=` for
        ones over 256 MiB.
        """
        ref = _reference(media)
        sent, limit = _options(options, DEFAULT_MAX_MEDIA_SIZE)
        target = check_destination(destination)
        spool = await FileSpool.open(target, operation="media.download", limit=limit)
        try:
            sha256, mime_type = await self._fetch(ref, spool, "media.download", sent)
            path = await spool.commit()
        except BaseException:
            spool.discard()
            raise
        return MediaDownload(path, spool.size, sha256, mime_type)

    async def transcript(self, media: MediaRef | str, **options: Unpack[CallOptions]) -> Transcript:
        """A call's transcript (the `call_transcription_available` webhook's document), read
        into memory (at most 8 MiB unless `max_body_size=` says otherwise), checked against
        its SHA-256 and structured as a `Transcript`."""
        ref = _reference(media)
        sent, limit = _options(options, MAX_TRANSCRIPT_SIZE)
        memory = io.BytesIO()
        spool = Spool(memory, operation="media.transcript", limit=limit, threaded=False)
        await self._fetch(ref, spool, "media.transcript", sent)
        await spool.flush()
        body = memory.getvalue()
        # Raised outside the except blocks, so no parser error (which may quote the text)
        # rides along as __context__.
        payload: Any = _NOT_JSON
        with contextlib.suppress(ValueError, RecursionError):
            payload = jsonutil.loads(body)
        if payload is _NOT_JSON:
            raise _unreadable("is not JSON")
        transcript: Transcript | None = None
        with contextlib.suppress(Exception):
            transcript = converter.structure(payload, Transcript)
        if transcript is None:
            reason = f"does not have the documented shape: {explain(payload, Transcript)}"
            raise _unreadable(reason)
        return transcript

    async def _fetch(
        self, ref: MediaRef, spool: Spool, operation: str, options: CallOptions
    ) -> tuple[str, str | None]:
        """Download `ref` into `spool` and verify it: its base64 SHA-256 and MIME type."""
        expected, mime_type = ref.sha256, ref.mime_type
        url = None
        if ref.url is not None and expected is not None and not _expired(ref.url, self.clock()):
            url = _download_url(ref.url)  # without a checksum, the lookup gives one
        refreshed = False
        while True:
            if url is None:
                info = await self._lookup(ref.id, options)
                url = _download_url(info.url)
                assert url is not None  # `_lacking` checked it
                expected = expected or info.sha256
                mime_type = info.mime_type or mime_type
            request = self._request("GET", url.template, operation, options)
            request = attrs.evolve(request, target=url.target, sink=spool)
            try:
                response = await self._session.dispatch(request)
            except APIError as error:
                if error.status not in EXPIRED_URL or refreshed:
                    raise
                refreshed, url = True, None
                continue
            break
        sha256 = spool.verify(expected)
        return sha256, mime_type or response.headers.get("Content-Type")

    async def _lookup(self, media_id: str, options: CallOptions) -> MediaInfo:
        state, limits = self._state, self.limits
        wait = await state.media_lookup_wait(limits)
        if wait > 0:
            raise MediaThrottledError(
                f"held back for {wait:.0f} s: 360dialog blocks media lookups after "
                f"{limits.max_errors} error answers in {limits.window / 60:g} minutes; "
                "nothing was sent",
                operation="media.lookup",
                retry_after=wait,
                request_sent=False,
            )
        once: CallOptions = {**options, "retry": None}
        request = self._request("GET", "/{media_id}", "media.lookup", once)
        request = attrs.evolve(request, target=Target(f"/{media_id}", (media_id,)))
        try:
            response = await self._session.dispatch(request)
        except APIError as error:
            failure = await self._lookup_failed(error)
            if failure is error:
                raise
            raise failure from error
        return self._answer(request, response, MediaInfo, _lacking)

    async def _lookup_failed(self, error: APIError) -> APIError:
        """Count the error answer; the error to raise for it."""
        state, limits = self._state, self.limits
        await state.record_media_error(limits)
        if isinstance(error, RateLimitError) or error.status == 429:
            seconds = error.retry_after if error.retry_after is not None else limits.block
            await state.block_media_lookups(limits, seconds)
            return MediaThrottledError(
                f"360dialog blocks media lookups for {seconds:.0f} s ({error.message})",
                operation=error.operation,
                retry_after=seconds,
                request_sent=True,
                status=error.status,
                code=error.code,
                subcode=error.subcode,
                details=error.details,
                trace_id=error.trace_id,
                body=error.body,
            )
        if error.status == 404 or (error.code == 100 and error.subcode == 33):
            return reclassified(error, MediaNotFoundError)
        return error


def _options(options: CallOptions, limit: int) -> tuple[CallOptions, int]:
    """The options a download's requests are sent with (no client-side rate limiting unless
    asked for) and the largest file to accept (`max_body_size=`, else `limit`; the lookup's
    JSON keeps the client's cap)."""
    check_options(options)
    sent: CallOptions = {"rate_limit": None, **options}
    cap = sent.pop("max_body_size", None)
    return sent, limit if cap is None else cap


def _unreadable(reason: str) -> ResponseDecodeError:
    return ResponseDecodeError(f"transcript {reason}", operation="media.transcript", status=200)
