"""Where a media download's bytes go on their way: hashed as they arrive, capped, and written to
a temporary file (or memory) that only a verified download leaves.

A path destination gets a temporary file beside it (`.name.XXXX.part`, readable by its owner
only), renamed over the destination once the SHA-256 matches; a file object gets an anonymous
temporary file, copied into it only after the check, so no unverified byte reaches either.
Disk writes run in a worker thread, so a slow disk never stalls the event loop (live calls).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Final, Protocol

from ..errors import D360Error, MediaIntegrityError, ResponseDecodeError, ValidationError

BUFFER: Final = 256 * 1024
"""Bytes gathered before a write to disk (and the most a download holds in memory)."""
COPY_CHUNK: Final = 256 * 1024

_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")


class Writable(Protocol):
    """A binary file object a download can be written into (`open(..., "wb")`, `BytesIO`)."""

    def write(self, data: bytes, /) -> object: ...


Destination = str | os.PathLike[str] | os.PathLike[bytes] | Writable
"""A file path (a missing file, in a folder that exists) or a binary file object."""


def sha256_digest(text: str) -> bytes | None:
    """The 32 bytes a SHA-256 announcement spells (base64, URL-safe base64 or hex), or `None`."""
    text = text.strip()
    if _HEX.fullmatch(text):
        return bytes.fromhex(text)
    normal = text.replace("-", "+").replace("_", "/")
    try:
        digest = base64.b64decode(normal + "=" * (-len(normal) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 32 else None


def check_destination(destination: object) -> Path | Writable:
    """The destination as a `Path` or a writable binary file object; `ValidationError` (before
    anything is sent) for a folder, a file in a folder that does not exist, or anything else."""
    if isinstance(destination, str | os.PathLike):
        path = Path(os.fsdecode(destination))
        if not str(path) or path.is_dir():
            raise ValidationError("destination", "is a folder; name the file to write")
        if not path.parent.is_dir():
            raise ValidationError("destination", "is in a folder that does not exist")
        return path
    if isinstance(destination, io.TextIOBase):
        raise ValidationError("destination", "is a text file; open it in binary mode ('wb')")
    write = getattr(destination, "write", None)
    if not callable(write):
        raise ValidationError(
            "destination", f"must be a path or a binary file object, got {type(destination)}"
        )
    writable = getattr(destination, "writable", None)
    if callable(writable) and writable() is False:
        raise ValidationError("destination", "is not open for writing")
    return destination  # type: ignore[return-value]  # it has a callable write


class Spool:
    """A `BodySink` that hashes and counts each attempt's body and keeps it in `file`.

    `limit` caps the body (a `ResponseDecodeError`, before any byte past it is kept).
    `threaded` writes through a worker thread (a disk file), else in place (memory).
    """

    def __init__(self, file: IO[bytes], *, operation: str, limit: int, threaded: bool) -> None:
        self.file = file
        self.operation = operation
        self.limit = limit
        self.threaded = threaded
        self.size = 0
        self._hash = hashlib.sha256()
        self._buffer: list[bytes] = []
        self._buffered = 0

    async def begin(self, headers: Mapping[str, str]) -> None:
        length = headers.get("Content-Length", "")
        if length.isascii() and length.isdigit() and int(length) > self.limit:
            raise self._too_large()
        self.size = 0
        self._hash = hashlib.sha256()
        self._buffer.clear()
        self._buffered = 0
        await self._run(_truncate, self.file)

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise self._too_large()
        self._hash.update(chunk)
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= BUFFER:
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered."""
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            await self._run(self.file.write, data)

    def verify(self, expected: str | None) -> str:
        """The base64 SHA-256 of the body, once it matches `expected`; `MediaIntegrityError`
        if it does not (or there is nothing to check against)."""
        actual = self._hash.digest()
        shown = base64.b64encode(actual).decode()
        wanted = None if expected is None else sha256_digest(expected)
        if wanted is None:
            raise MediaIntegrityError(
                "no usable SHA-256 came with the media, so its bytes cannot be checked; "
                "nothing was kept",
                operation=self.operation,
                expected=expected,
                actual=shown,
            )
        if not hmac.compare_digest(wanted, actual):
            raise MediaIntegrityError(
                f"the {self.size} bytes received do not match the SHA-256 announced for "
                "them; nothing was kept",
                operation=self.operation,
                expected=expected,
                actual=shown,
            )
        return shown

    async def _run(self, call: object, *args: object) -> object:
        assert callable(call)
        try:
            if self.threaded:
                return await asyncio.to_thread(call, *args)
            return call(*args)
        except OSError as error:
            raise D360Error(
                f"cannot write the download: {error.strerror or type(error).__name__}",
                operation=self.operation,
            ) from None

    def _too_large(self) -> ResponseDecodeError:
        return ResponseDecodeError(
            f"response body larger than {self.limit} bytes (raise max_body_size= to accept it)",
            operation=self.operation,
            status=200,
        )


def _truncate(file: IO[bytes]) -> None:
    file.seek(0)
    file.truncate()


class FileSpool(Spool):
    """A `Spool` on a temporary file for one destination: `commit` hands the verified bytes
    over (a rename, or a copy into the file object), `discard` leaves nothing behind."""

    def __init__(
        self,
        file: IO[bytes],
        destination: Path | Writable,
        temp_path: str | None,
        *,
        operation: str,
        limit: int,
    ) -> None:
        super().__init__(file, operation=operation, limit=limit, threaded=True)
        self.destination = destination
        self.temp_path = temp_path

    @classmethod
    async def open(cls, destination: Path | Writable, *, operation: str, limit: int) -> FileSpool:
        """A spool beside `destination` (a path) or in the system's temporary folder."""
        try:
            if isinstance(destination, Path):
                file, temp_path = await asyncio.to_thread(_temp_beside, destination)
                return cls(file, destination, temp_path, operation=operation, limit=limit)
            anonymous = await asyncio.to_thread(tempfile.TemporaryFile)
        except OSError as error:
            raise D360Error(
                f"cannot create a temporary file: {error.strerror or type(error).__name__}",
                operation=operation,
            ) from None
        return cls(anonymous, destination, None, operation=operation, limit=limit)

    async def commit(self) -> str | None:
        """Give the destination the bytes (after `verify`); the path written, or `None` for
        a file object."""
        await self.flush()
        destination = self.destination
        if isinstance(destination, Path):
            assert self.temp_path is not None
            await self._run(_sync_and_close, self.file)
            await self._run(os.replace, self.temp_path, destination)
            self.temp_path = None
            return str(destination)
        await self._run(self.file.seek, 0)
        while chunk := await self._run_read():
            destination.write(chunk)
            await asyncio.sleep(0)
        self.file.close()
        return None

    async def _run_read(self) -> bytes:
        data = await self._run(self.file.read, COPY_CHUNK)
        assert isinstance(data, bytes)
        return data

    def discard(self) -> None:
        """Close and delete the temporary file (synchronous, so a cancelled call cleans up)."""
        with contextlib.suppress(OSError, ValueError):
            self.file.close()
        if self.temp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_path)
            self.temp_path = None


def _temp_beside(destination: Path) -> tuple[IO[bytes], str]:
    fd, temp_path = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    try:
        return os.fdopen(fd, "w+b"), temp_path
    except BaseException:
        os.close(fd)
        os.unlink(temp_path)
        raise


def _sync_and_close(file: IO[bytes]) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()
