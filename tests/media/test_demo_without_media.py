"""Without the media extra the demo still passes and says how to get its audio steps."""

from __future__ import annotations

import io
import sys

import pytest

from d360_calling.demo import run_demo


async def test_the_demo_without_aiortc_says_how_to_get_audio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "aiortc" or m.startswith("d360_calling.media")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "aiortc", None)  # `import aiortc` now raises ImportError
    monkeypatch.setitem(sys.modules, "av", None)  # and so does `import av`
    out = io.StringIO()
    code = await run_demo(out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "pip install 'd360-calling[media]' for the audio steps" in text
    assert "pip install 'd360-calling[media]' for the recorded call" in text
    assert "tone" not in text
    assert "Summary: 14 steps passed, 0 failed" in text
