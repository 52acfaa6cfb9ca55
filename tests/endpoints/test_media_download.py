"""`client.media.download` (issue 24 item 3): the webhook's URL first, the lookup when it expired,
one fresh lookup after an expired URL, the SHA-256 check that leaves nothing behind, file objects
that see only verified bytes, and input refused before anything is sent."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses as Aioresponses

from d360_calling import (
    Client,
    MediaDownload,
    MediaIntegrityError,
    MediaNotFoundError,
    MediaRef,
    NotFoundError,
    ValidationError,
)

from ..support.clients import make_client
from .media_support import (
    BASE,
    FUTURE_EXT,
    MEDIA_ID,
    NOT_FOUND,
    PATH,
    add_file,
    add_lookup,
    count,
    meta_url,
    served_url,
    sha256_of,
)

DATA = bytes(range(256)) * 100  # 25.6 kB, small enough for aioresponses' stub stream
SHA = sha256_of(DATA)
FRESH = "FreshTokenAfterLookup"


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    bound = make_client(BASE)
    try:
        yield bound
    finally:
        await bound.aclose()


def ref(url: str | None = None, sha256: str | None = SHA) -> MediaRef:
    return MediaRef(MEDIA_ID, sha256=sha256, mime_type="audio/ogg; codecs=opus", url=url)


async def test_the_webhooks_url_is_used_first_and_the_file_is_verified(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    add_file(aioresponses, served_url(BASE), DATA)
    target = tmp_path / "call.ogg"
    result = await client.media.download(ref(meta_url()), target)
    assert result == MediaDownload(str(target), len(DATA), SHA, "audio/ogg; codecs=opus")
    assert target.read_bytes() == DATA
    assert os.listdir(tmp_path) == ["call.ogg"]  # no temporary file left
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # a recording: the owner's only
    assert count(aioresponses) == 1
    assert count(aioresponses, path=f"/{MEDIA_ID}") == 0  # no lookup spent


async def test_an_expired_url_goes_straight_to_the_lookup(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    client.media.clock = lambda: FUTURE_EXT + 1.0  # the webhook's URL expired by now
    fresh = meta_url(ext=FUTURE_EXT + 300, token=FRESH)
    add_lookup(aioresponses, DATA, fresh)
    add_file(aioresponses, served_url(BASE, ext=FUTURE_EXT + 300, token=FRESH), DATA)
    result = await client.media.download(ref(meta_url()), tmp_path / "a.ogg")
    assert result.size == len(DATA)
    assert count(aioresponses, served_url(BASE)) == 0  # the stale URL was never tried
    assert count(aioresponses, path=f"/{MEDIA_ID}") == 1
    assert count(aioresponses) == 2


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_a_refused_url_is_looked_up_again_once(
    client: Client, aioresponses: Aioresponses, tmp_path: Path, status: int
) -> None:
    add_file(aioresponses, served_url(BASE), b'{"error": {"code": 190}}', status=status)
    add_lookup(aioresponses, DATA, meta_url(token=FRESH))
    add_file(aioresponses, served_url(BASE, token=FRESH), DATA)
    result = await client.media.download(ref(meta_url()), tmp_path / "a.ogg")
    assert result.sha256 == SHA
    assert (tmp_path / "a.ogg").read_bytes() == DATA
    assert count(aioresponses, served_url(BASE)) == 1
    assert count(aioresponses, path=f"/{MEDIA_ID}") == 1
    assert count(aioresponses, served_url(BASE, token=FRESH)) == 1


async def test_by_id_a_refused_fresh_url_gets_one_more_lookup_then_fails(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    for _ in range(3):
        add_lookup(aioresponses, DATA, meta_url(token=FRESH))
        add_file(aioresponses, served_url(BASE, token=FRESH), b"{}", status=404)
    with pytest.raises(NotFoundError) as caught:
        await client.media.download(MEDIA_ID, tmp_path / "a.ogg")
    assert not isinstance(caught.value, MediaNotFoundError)  # the URL's 404, not the id's
    assert caught.value.operation == "media.download"
    assert count(aioresponses, path=f"/{MEDIA_ID}") == 2  # the first and the one refresh
    assert count(aioresponses, path=PATH) == 2
    assert os.listdir(tmp_path) == []


async def test_a_ref_without_checksum_is_looked_up_for_one(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    add_lookup(aioresponses, DATA, meta_url(token=FRESH))
    add_file(aioresponses, served_url(BASE, token=FRESH), DATA)
    result = await client.media.download(ref(meta_url(), sha256=None), tmp_path / "a.ogg")
    assert result.sha256 == SHA
    assert result.mime_type == "audio/ogg; codecs=opus"  # the lookup's
    assert count(aioresponses, served_url(BASE)) == 0
    assert count(aioresponses) == 2


async def test_a_mismatch_leaves_no_file_and_keeps_what_was_there(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    target = tmp_path / "a.ogg"
    target.write_bytes(b"yesterday's file")
    add_file(aioresponses, served_url(BASE), DATA[:-1] + b"X")
    with pytest.raises(MediaIntegrityError) as caught:
        await client.media.download(ref(meta_url()), target)
    assert caught.value.operation == "media.download"
    assert caught.value.expected == SHA
    assert caught.value.actual == sha256_of(DATA[:-1] + b"X")
    assert target.read_bytes() == b"yesterday's file"
    assert os.listdir(tmp_path) == ["a.ogg"]  # and no temporary file


async def test_a_mismatch_against_the_lookups_checksum(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    add_lookup(aioresponses, b"what the lookup announced", meta_url(token=FRESH))
    add_file(aioresponses, served_url(BASE, token=FRESH), DATA)
    with pytest.raises(MediaIntegrityError):
        await client.media.download(MEDIA_ID, tmp_path / "a.ogg")
    assert os.listdir(tmp_path) == []


class Recorder(io.RawIOBase):
    """A binary file object that records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return len(data)


async def test_a_file_object_gets_only_verified_bytes(
    client: Client, aioresponses: Aioresponses
) -> None:
    add_file(aioresponses, served_url(BASE), DATA, repeat=True)
    add_file(aioresponses, served_url(BASE, token="bad"), DATA + b"!")
    good = Recorder()
    result = await client.media.download(ref(meta_url()), good)
    assert result.path is None
    assert b"".join(good.writes) == DATA
    bad = Recorder()
    with pytest.raises(MediaIntegrityError):
        await client.media.download(ref(meta_url(token="bad")), bad)
    assert bad.writes == []  # not one byte before the check
    buffer = io.BytesIO()
    await client.media.download(ref(meta_url()), buffer)
    assert buffer.getvalue() == DATA


async def test_a_hex_checksum_is_accepted_too(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    import hashlib

    add_file(aioresponses, served_url(BASE), DATA)
    hexed = hashlib.sha256(DATA).hexdigest()
    result = await client.media.download(ref(meta_url(), sha256=hexed), tmp_path / "a")
    assert result.sha256 == SHA


@pytest.mark.parametrize(
    "media_id", ["", "../calling/settings", "a" * 65, "12/34", "12?x=1", "12\n", "١٢٣", "a b"]
)
async def test_a_bad_media_id_is_refused_before_sending(
    client: Client, aioresponses: Aioresponses, tmp_path: Path, media_id: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.media.download(media_id, tmp_path / "a.ogg")
    assert caught.value.field == "media.id"
    if media_id:
        assert media_id not in str(caught.value)
    with pytest.raises(ValidationError):
        await client.media.download(MediaRef(media_id, sha256=SHA), tmp_path / "a.ogg")
    with pytest.raises(ValidationError):
        await client.media.transcript(media_id)
    assert count(aioresponses) == 0


def text_file(tmp_path: Path) -> io.TextIOWrapper:
    return open(tmp_path / "t.txt", "w")


async def test_a_bad_destination_is_refused_before_sending(
    client: Client, aioresponses: Aioresponses, tmp_path: Path
) -> None:
    for destination in (tmp_path, tmp_path / "missing" / "a.ogg", 42, "", io.StringIO()):
        with pytest.raises(ValidationError) as caught:
            await client.media.download(MEDIA_ID, destination)  # type: ignore[arg-type]
        assert caught.value.field == "destination"
    with text_file(tmp_path) as text:
        with pytest.raises(ValidationError):
            await client.media.download(MEDIA_ID, text)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as bad_sum:
        await client.media.download(MediaRef(MEDIA_ID, sha256="not-a-digest"), tmp_path / "a")
    assert bad_sum.value.field == "media.sha256"
    assert count(aioresponses) == 0
    assert sorted(os.listdir(tmp_path)) == ["t.txt"]


async def test_a_lookup_404_is_media_not_found_and_never_retried(
    aioresponses: Aioresponses, tmp_path: Path
) -> None:
    from d360_calling import RetryPolicy

    async def no_sleep(_: float) -> None:
        return None

    client = Client("key", base_url=BASE, retry=RetryPolicy(max_attempts=4, sleep=no_sleep))
    try:
        aioresponses.get(f"{BASE}/{MEDIA_ID}", status=404, payload=NOT_FOUND, repeat=True)
        aioresponses.get(f"{BASE}/{MEDIA_ID}2", status=500, payload={"error": "x"}, repeat=True)
        with pytest.raises(MediaNotFoundError) as caught:
            await client.media.download(MEDIA_ID, tmp_path / "a.ogg")
        assert isinstance(caught.value, NotFoundError)
        assert (caught.value.status, caught.value.code, caught.value.subcode) == (404, 100, 33)
        assert caught.value.operation == "media.lookup"
        assert count(aioresponses) == 1
        with pytest.raises(Exception):  # noqa: PT011 - a ServerError, sent once
            await client.media.lookup(f"{MEDIA_ID}2")
        assert count(aioresponses) == 2  # a 5xx to a lookup is not retried either
        assert os.listdir(tmp_path) == []
    finally:
        await client.aclose()


async def test_subcode_33_is_media_not_found_whatever_the_status(
    client: Client, aioresponses: Aioresponses
) -> None:
    aioresponses.get(f"{BASE}/{MEDIA_ID}", status=400, payload=NOT_FOUND)
    with pytest.raises(MediaNotFoundError) as caught:
        await client.media.lookup(MEDIA_ID)
    assert caught.value.status == 400


async def test_lookup_returns_the_media_object(client: Client, aioresponses: Aioresponses) -> None:
    add_lookup(aioresponses, DATA, meta_url())
    info = await client.media.lookup(MediaRef(MEDIA_ID))
    assert (info.sha256, info.file_size, info.mime_type) == (
        SHA,
        len(DATA),
        "audio/ogg; codecs=opus",
    )
    assert info.url == meta_url()
    assert MEDIA_ID not in repr(info)
    assert "lookaside" not in repr(info)


@pytest.mark.parametrize(
    "answer",
    [
        {"url": "not a url", "sha256": SHA},
        {"url": "ftp://lookaside.fbsbx.com/x", "sha256": SHA},
        {"url": meta_url()},
        {"url": meta_url(), "sha256": "zz"},
    ],
)
async def test_a_lookup_answer_without_usable_url_or_checksum_is_unreadable(
    client: Client, aioresponses: Aioresponses, answer: dict[str, Any]
) -> None:
    from d360_calling import ResponseDecodeError

    aioresponses.get(f"{BASE}/{MEDIA_ID}", payload=answer)
    with pytest.raises(ResponseDecodeError) as caught:
        await client.media.download(MEDIA_ID, io.BytesIO())
    assert "usable" in str(caught.value)
    assert count(aioresponses) == 1  # nothing downloaded from an unusable URL
