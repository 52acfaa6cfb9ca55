"""The aiortc internals the keypress hook patches are where aiortc 1.16 keeps them."""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("aiortc")

from aiortc import codecs
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from d360_calling import _dtmf_rtp


def test_the_patched_internals_exist_with_their_signatures() -> None:
    try:
        _dtmf_rtp.check_internals()
    except RuntimeError as exc:  # pragma: no cover - only on an aiortc whose internals moved
        pytest.fail(str(exc))


def test_install_is_once_and_puts_telephone_event_right_after_opus() -> None:
    assert _dtmf_rtp.install()
    assert _dtmf_rtp.install()
    mimes = [c.mimeType.lower() for c in codecs.CODECS["audio"]]
    assert mimes.count("audio/telephone-event") == 1
    assert mimes.index("audio/telephone-event") == mimes.index("audio/opus") + 1
    entry = codecs.CODECS["audio"][mimes.index("audio/telephone-event")]
    assert (entry.payloadType, entry.clockRate, entry.parameters) == (126, 8000, {"0-16": None})
    hook = RTCRtpReceiver._handle_rtp_packet
    assert getattr(hook, "_d360_dtmf", False)
    assert list(inspect.signature(hook).parameters) == ["self", "packet", "arrival_time_ms"]
    _dtmf_rtp.check_internals()  # still passes once patched


def test_a_moved_name_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def moved(self: object, packet: object) -> None:
        return None

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", moved)
    with pytest.raises(RuntimeError, match=r"RTCRtpReceiver\._handle_rtp_packet.*aiortc 1\.16"):
        _dtmf_rtp.check_internals()
