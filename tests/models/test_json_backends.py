"""orjson (the `speedups` extra) and the standard library give the same values and the same
errors for every input, so installing the extra changes speed only."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from d360_calling import jsonutil

pytest.importorskip("orjson")

STDLIB_DUMPS, STDLIB_LOADS = jsonutil.BACKENDS["json"]
ORJSON_DUMPS, ORJSON_LOADS = jsonutil.BACKENDS["orjson"]


def verdict(loads: Any, body: Any) -> tuple[str, Any]:
    try:
        return ("ok", loads(body))
    except ValueError as error:
        return ("error", str(error))


EDGES = [
    b"[" * 100_000,
    ("[" * 2000 + "]" * 2000).encode(),
    ("[" * (jsonutil.MAX_DEPTH + 1) + "]" * (jsonutil.MAX_DEPTH + 1)).encode(),
    ("[" * jsonutil.MAX_DEPTH + "]" * jsonutil.MAX_DEPTH).encode(),
    b"[" * 200,
    b'{"a": NaN}',
    b'{"a": -Infinity}',
    b"\xff\xfe\x00",
    b'"\xed\xa0\x80"',
    b"",
    b"not json",
    b"1e400",
    b'{"a": 1, "a": 2}',
    '{"name": "Zoë ✓"}'.encode(),
    b'{"calls":[{"id":"wacid.1"}]}',
]


@pytest.mark.parametrize("body", EDGES)
def test_both_backends_agree_on_the_edges(body: bytes) -> None:
    assert verdict(ORJSON_LOADS, body) == verdict(STDLIB_LOADS, body)


def test_depth_limit_is_the_same_for_both() -> None:
    limit = jsonutil.MAX_DEPTH
    for loads in (ORJSON_LOADS, STDLIB_LOADS):
        assert loads(("[" * limit + "]" * limit).encode()) is not None
        with pytest.raises(ValueError, match="nested too deeply"):
            loads(("[" * (limit + 1) + "]" * (limit + 1)).encode())


BIG_INTEGERS = [
    2**64,
    20000000000000000001,
    -(2**63) - 1,
    10**40,
    18446744073709551615,
    -9223372036854775808,
]


@pytest.mark.parametrize("number", BIG_INTEGERS)
@pytest.mark.parametrize("form", ["bare", "nested", "text"])
def test_integers_of_any_size_read_exactly_on_both(number: int, form: str) -> None:
    body: bytes | str = {
        "bare": str(number).encode(),
        "nested": b'{"a": [1.5, %d, "x"]}' % number,
        "text": f'{{"a": [1.5, {number}, "x"]}}',
    }[form]
    expected = json.loads(body)
    for loads in (ORJSON_LOADS, STDLIB_LOADS):
        value = loads(body)
        assert value == expected
        assert (value if form == "bare" else value["a"][1]).__class__ is int


@pytest.mark.parametrize("number", BIG_INTEGERS)
def test_integers_of_any_size_are_written_alike(number: int) -> None:
    assert ORJSON_DUMPS({"n": number}) == STDLIB_DUMPS({"n": number})


def test_long_digit_runs_in_strings_and_floats_read_alike() -> None:
    body = b'{"id": "123456789012345678901234", "x": 0.12345678901234567890123, "y": 1e22}'
    assert ORJSON_LOADS(body) == STDLIB_LOADS(body) == json.loads(body)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES)
def test_both_backends_round_trip_alike(value: Any) -> None:
    stdlib, fast = STDLIB_DUMPS(value), ORJSON_DUMPS(value)
    assert json.loads(stdlib) == json.loads(fast)
    assert STDLIB_LOADS(stdlib) == ORJSON_LOADS(fast) == ORJSON_LOADS(stdlib)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
@example(b"20000000000000000001")  # beyond 64 bits: orjson alone read it as 2e+19
@example(b'{"id": -9223372036854775809, "n": [18446744073709551616]}')
def test_both_backends_agree_on_any_bytes(body: bytes) -> None:
    fast, stdlib = verdict(ORJSON_LOADS, body), verdict(STDLIB_LOADS, body)
    if fast[0] == stdlib[0] == "ok" and isinstance(fast[1], float) and math.isnan(fast[1]):
        return  # pragma: no cover - NaN is refused, never parsed
    assert fast == stdlib


def test_the_fastest_installed_backend_is_the_default() -> None:
    assert jsonutil.BACKEND == "orjson"


@pytest.mark.parametrize("offset", range(13))
def test_a_long_integer_at_any_offset_reads_exactly(offset: int) -> None:
    """orjson's path finds 19 digits in a row in its one pass over the body wherever the run
    starts (after any whitespace), and the integer reads exactly."""
    number = 2**70 + offset
    body = b'{"x":' + b" " * offset + str(number).encode() + b"}"
    assert jsonutil.loads(body) == {"x": number}
    assert type(jsonutil.loads(body)["x"]) is int
