"""The PCM helpers and the loopback switch the media tests and the demo rely on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("aiortc")

from d360_calling._loopback_ice import keep_loopback_candidates, loopback_gathering
from d360_calling._pcm import FRAME_BYTES, SILENCE, Tone
from d360_calling.media import dominant_frequency, tone
from d360_calling.media.sources import frames_of


@pytest.mark.parametrize("hz", [97.0, 440.0, 660.0, 1000.0, 3100.0])
def test_dominant_frequency_finds_a_tone_after_silence(hz: float) -> None:
    generator = Tone(hz)
    pcm = SILENCE * 10 + b"".join(generator.next_frame() for _ in range(25))
    found = dominant_frequency(pcm)
    assert found == pytest.approx(hz, abs=1.0)


def test_dominant_frequency_of_silence_or_too_little_is_none() -> None:
    assert dominant_frequency(SILENCE * 5) is None
    assert dominant_frequency(Tone(440.0).next_frame()[:100]) is None


async def test_frames_of_cuts_chunks_into_whole_frames_padding_the_last() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"\1" * 1000
        yield b"\2" * 3000

    frames = [frame async for frame in frames_of(chunks())]
    assert [len(f) for f in frames] == [FRAME_BYTES] * 3
    assert frames[-1].endswith(b"\0" * (3 * FRAME_BYTES - 4000))


async def test_tone_lasts_its_duration() -> None:
    assert len([frame async for frame in tone(440.0, seconds=0.5)]) == 25


def test_keep_loopback_candidates_drops_every_other_address() -> None:
    sdp = (
        "v=0\r\n"
        "a=candidate:1 1 udp 2122260223 157.240.19.130 3480 typ host generation 0\r\n"
        "a=candidate:2 1 udp 2122260223 127.0.0.1 3481 typ host\r\n"
        "a=candidate:3 1 udp 2122260223 2a03:2880::1 3480 typ host\r\n"
        "a=candidate:4 1 udp 2122260223 abc.local 3480 typ host\r\n"
    )
    assert keep_loopback_candidates(sdp) == (
        "v=0\r\na=candidate:2 1 udp 2122260223 127.0.0.1 3481 typ host\r\n"
    )


def test_loopback_gathering_is_scoped_to_its_block() -> None:
    import aioice.ice

    with loopback_gathering():
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    outside = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert "127.0.0.1" not in outside


def test_importing_the_sdk_and_sandbox_does_not_import_aiortc() -> None:
    code = (
        "import sys, d360_calling, d360_calling.sandbox;"
        "assert not {'aiortc', 'av', 'aioice'} & set(sys.modules), 'media imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
