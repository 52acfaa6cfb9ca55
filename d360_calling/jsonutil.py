"""JSON in and out: orjson when the `speedups` extra is installed, the standard library otherwise.

Both backends behave alike, so the extra changes speed only: compact UTF-8 out; in, `NaN` and
`Infinity` are refused (they are not JSON), as are invalid UTF-8 and nesting deeper than
`MAX_DEPTH`, each as a `ValueError` with the same message whichever backend read it. Integers
beyond 64 bits read and write exactly with both (orjson alone would read them as floats and
refuse to write them), by handing those bodies to the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by the tests' stdlib backend
    orjson = None  # type: ignore[assignment]

MAX_DEPTH: Final = 128
"""Deepest nesting accepted (API answers and webhooks nest fewer than ten levels)."""

TOO_DEEP: Final = "JSON nested too deeply"
NOT_UTF8: Final = "body is not UTF-8"
NOT_JSON: Final = "not valid JSON"

Text = bytes | bytearray | memoryview | str


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _failure(body: Text, error: Exception) -> ValueError:
    """The error for input the standard library could not parse."""
    if isinstance(error, RecursionError):
        return ValueError(TOO_DEEP)
    if not isinstance(body, str):
        try:
            bytes(body).decode()
        except UnicodeDecodeError:
            return ValueError(NOT_UTF8)
    return ValueError(NOT_JSON)


def _brackets(body: Text) -> int:
    """How many `[` and `{` the body holds (one pass: what deleting them takes away)."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return len(raw) - len(raw.translate(None, b"[{"))


def _short(body: Text) -> bool:
    """Whether `body` is too short to nest deeper than `MAX_DEPTH` (it needs an opening and a
    closing bracket per level)."""
    return len(body) <= 2 * MAX_DEPTH + 1 and (body.__class__ is bytes or body.__class__ is str)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests deeper than `limit` (iterative, so any depth is safe to walk)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _checked_depth(value: Any, body: Text) -> Any:
    # Counting brackets is C-speed; the walk runs only when the body could be too deep (and
    # a body without room for MAX_DEPTH + 1 opening and closing brackets cannot be).
    if not _short(body) and _brackets(body) > MAX_DEPTH and _depth_exceeds(value, MAX_DEPTH):
        raise ValueError(TOO_DEEP)
    return value


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = _DECODER.scan_once  # type: ignore[attr-defined]
"""Made once: `json.dumps`/`json.loads` with any option build a new encoder/decoder per call.
Both are stateless between calls (`json` itself keeps one of each for the no-option case)."""


def _stdlib_dumps(payload: Any) -> bytes:
    return _ENCODER.encode(payload).encode()


def _stdlib_loads(body: Text) -> Any:
    try:
        # Decoding first skips json's encoding detection, a measurable share of small bodies.
        text = body.decode() if body.__class__ is bytes else _text(body)
        if text.startswith("\ufeff"):  # as json.loads: a BOM is not JSON
            raise ValueError("Unexpected UTF-8 BOM")
        # The scanner straight away for the usual body (no whitespace around the value);
        # anything else (whitespace, trailing text, an error) gets the decoder's full say.
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            value = _DECODER.decode(text)
    except (ValueError, RecursionError) as error:
        raise _failure(body, error) from None
    return _checked_depth(value, body)


def _text(body: Text) -> str:
    return body if isinstance(body, str) else bytes(body).decode()


_MARKS: Final = bytes(
    48 if 48 <= byte <= 57 else 91 if byte in b"[{" else 32 for byte in range(256)
)
"""A `bytes.translate` table: every digit becomes `0`, `[` and `{` become `[`, every other byte
a space. One pass over a body then answers both of orjson's questions: a run of 19 digits,
and how many brackets open."""

_LONG_RUN: Final = b"0" * 19
"""19 digits in a row: the shortest integer orjson may read as a float (below -2**63)."""


def _marks(body: Text) -> bytes | bytearray:
    """`body` through `_MARKS`: one C-speed pass (about 1 µs for 500 bytes; a regular
    expression finding the digit runs alone takes 15)."""
    raw: bytes | bytearray
    if isinstance(body, str):
        raw = body.encode(errors="surrogatepass")
    elif isinstance(body, memoryview):
        raw = bytes(body)
    else:
        raw = body
    return raw.translate(_MARKS)


def _orjson_dumps(payload: Any) -> bytes:
    # orjson's bytes keep the whole buffer it wrote into (about 8 KiB for a 1 KiB body) for as
    # long as they live, and a request body lives as long as its call is in flight: a copy of
    # the right size (0.3 µs) keeps 10,000 calls in flight 70 MiB smaller.
    try:
        return bytes(memoryview(orjson.dumps(payload)))
    except orjson.JSONEncodeError:
        # What orjson refuses (an integer beyond 64 bits, a non-string key, an unknown type)
        # gets the standard library's verdict, the same whichever backend is installed.
        return _stdlib_dumps(payload)


def _orjson_loads(body: Text) -> Any:
    marks = _marks(body)
    if _LONG_RUN in marks:  # orjson might read an integer beyond 64 bits as a float
        return _stdlib_loads(body)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Input orjson refuses goes to the standard library, whose verdict (and message) is
        # then the same whichever backend is installed; only bad input pays for it.
        return _stdlib_loads(body)
    # `_checked_depth`, with the brackets counted in the pass already made.
    if not _short(body) and marks.count(b"[") > MAX_DEPTH and _depth_exceeds(value, MAX_DEPTH):
        raise ValueError(TOO_DEEP)
    return value


BACKENDS: Final[dict[str, tuple[Callable[[Any], bytes], Callable[[Text], Any]]]] = {
    "json": (_stdlib_dumps, _stdlib_loads),
    **({"orjson": (_orjson_dumps, _orjson_loads)} if orjson is not None else {}),
}
"""The available backends by name; the fastest one installed is used."""

BACKEND: Final = "orjson" if orjson is not None else "json"
dumps, loads = BACKENDS[BACKEND]
"""`dumps(payload) -> bytes` (compact UTF-8) and `loads(body) -> value` (`ValueError` if it is
not JSON, not UTF-8 or too deep)."""


def loads_or_none(body: bytes) -> Any:
    """Parse JSON, or `None` when the body is not JSON (error bodies may be HTML)."""
    try:
        return loads(body)
    except ValueError:
        return None
