"""Issue 26, CallAudio's errors: made only by `answer()`/`offer()`, used only on its own event
loop (another fails at once instead of hanging), warned about when dropped open, and timeouts
given as strings refused naming the field. Loopback only."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiortc")

from d360_calling import ValidationError
from d360_calling.media import CallAudio, MediaError, tone
from d360_calling.sandbox import ANSWER_SDP

BOUND = 10.0
"""Seconds any one test's waiting may take."""

OTHER_LOOP = "CallAudio belongs to the event loop it was made in"


@pytest.fixture
def own_loop() -> Iterator[asyncio.Runner]:
    """An event loop of the test's own, open between `run` calls (no loop is running)."""
    with asyncio.Runner() as runner:
        yield runner


def bounded(work: Awaitable[Any]) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        async with asyncio.timeout(BOUND):
            return await work

    return run


# --- made by answer() or offer() ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), (("v=0",), {}), ((), {"ice_servers": (), "codecs": ("opus",), "loopback": True})],
)
def test_calling_the_class_points_to_the_classmethods(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError) as refused:
        CallAudio(*args, **kwargs)
    text = str(refused.value)
    assert "await CallAudio.answer(offer_sdp)" in text
    assert "await CallAudio.offer()" in text
    assert "call.answer_with_audio()" in text


async def test_the_classmethods_still_make_one() -> None:
    async with asyncio.timeout(BOUND):
        audio = await CallAudio.offer(loopback=True)
        assert repr(audio) == "CallAudio(outbound call, new)"
        await audio.close()
        assert repr(audio) == "CallAudio(outbound call, closed)"
        assert "a=setup:actpass" in audio.sdp


# --- one event loop -----------------------------------------------------------------------


def test_use_from_another_loop_fails_at_once(own_loop: asyncio.Runner, tmp_path: Path) -> None:
    audio = own_loop.run(bounded(CallAudio.offer(loopback=True))())
    recording = tmp_path / "never.wav"

    async def elsewhere() -> list[str]:
        async def first_frame() -> bytes:
            return await anext(audio.frames())

        uses: list[Callable[[], Awaitable[Any]]] = [
            lambda: audio.play(tone(440.0, seconds=1.0)),
            lambda: audio.listen(0.1),
            first_frame,
            lambda: audio.record(recording, duration=0.1),
            lambda: audio.wait_connected(timeout=1.0),
            audio.wait_ended,
            lambda: audio.apply_answer(ANSWER_SDP),
            lambda: audio.send_dtmf("1"),
            audio.close,
        ]
        errors = []
        async with asyncio.timeout(BOUND):  # today's hang would end here, failing the test
            for use in uses:
                with pytest.raises(MediaError) as refused:
                    await use()
                errors.append(str(refused.value))
        for sync_use in (audio.interrupt, lambda: audio.dtmf):
            with pytest.raises(MediaError) as refused:
                sync_use()
            errors.append(str(refused.value))
        return errors

    try:
        errors = asyncio.run(elsewhere())
        assert len(errors) == 11
        assert all(error.startswith(OTHER_LOOP) for error in errors)
        assert "play() was called from another one" in errors[0]
        assert not recording.exists()
        assert repr(audio) == "CallAudio(outbound call, new)"  # untouched by the attempts
    finally:
        own_loop.run(bounded(audio.close())())
    assert repr(audio) == "CallAudio(outbound call, closed)"


def test_outside_any_loop_a_plain_call_still_works(own_loop: asyncio.Runner) -> None:
    audio = own_loop.run(bounded(CallAudio.offer(loopback=True))())
    try:
        audio.interrupt()  # a plain callback, no loop running: allowed
        assert audio.dtmf is not None
    finally:
        own_loop.run(bounded(audio.close())())


# --- unclosed -----------------------------------------------------------------------------


def forget(held: list[Any]) -> None:
    """Drop the last reference and collect (the peer connection and its sockets form cycles)."""
    held.clear()
    for _ in range(3):
        gc.collect()


def test_an_unclosed_call_audio_warns_naming_itself() -> None:
    async def dropped() -> CallAudio:
        async with asyncio.timeout(BOUND):
            return await CallAudio.offer(loopback=True)

    held = [asyncio.run(dropped())]  # its loop is gone: close() can no longer run
    with pytest.warns(ResourceWarning) as seen:
        forget(held)
    ours = [str(w.message) for w in seen if "CallAudio" in str(w.message)]
    assert ours == [
        "CallAudio(outbound call, new) was not closed; use 'async with' or "
        "'await audio.close()' (its peer connection's sockets stay open until then)"
    ]


async def test_a_closed_call_audio_does_not_warn(recwarn: pytest.WarningsRecorder) -> None:
    async with asyncio.timeout(BOUND):
        async with await CallAudio.offer(loopback=True) as audio:
            assert audio.sdp
    del audio
    gc.collect()
    assert not [w for w in recwarn if "CallAudio" in str(w.message)]


# --- timeouts given as strings ------------------------------------------------------------


async def test_string_timeouts_are_validation_errors() -> None:
    async with asyncio.timeout(BOUND):
        with pytest.raises(ValidationError) as refused:
            await CallAudio.offer(loopback=True, connect_timeout="5")  # type: ignore[arg-type]
        assert refused.value.field == "connect_timeout"
        assert "must be a number of seconds, got str '5'" in str(refused.value)
        audio = await CallAudio.offer(loopback=True)
        try:
            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "timeout": lambda: audio.wait_connected(timeout="5"),  # type: ignore[arg-type]
                "seconds": lambda: audio.listen("1"),  # type: ignore[arg-type]
                "skip": lambda: audio.listen(1.0, skip="0.1"),  # type: ignore[arg-type]
                "duration": lambda: audio.record(
                    "/nonexistent/x.wav",
                    duration="1",  # type: ignore[arg-type]
                ),
                "first_timeout": lambda: audio.dtmf.collect(first_timeout="5"),  # type: ignore[arg-type]
                "inter_digit_timeout": lambda: audio.dtmf.collect(inter_digit_timeout=float("inf")),
            }
            for field, call in calls.items():
                with pytest.raises(ValidationError) as refused:
                    await call()
                assert refused.value.field == field
                assert "number of seconds" in str(refused.value)
        finally:
            await audio.close()
