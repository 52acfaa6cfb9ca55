"""The README's first snippets run as a newcomer copies them: the Quick start against the
sandbox says something useful in the common case (no permission yet), and the sandbox snippet
signs its webhooks, so a receiver built from the README accepts them."""

from __future__ import annotations

import contextlib
import functools
import io
import re
from pathlib import Path
from typing import Any

import d360_calling
from d360_calling.sandbox import OFFER_SDP, Sandbox

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def block_after(heading: str) -> str:
    """The first Python block under `heading`."""
    section = README[README.index(heading) :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, heading
    return found.group(1)


async def quick_start_output(sandbox: Sandbox) -> str:
    """What the Quick start prints against `sandbox` (its `asyncio.run(main())` awaited here)."""
    source = block_after("## Quick start").replace("asyncio.run(main())", "")
    bound = functools.partial(d360_calling.Client, "sandbox-key", base_url=sandbox.base_url)
    namespace: dict[str, Any] = {"my_offer_sdp": OFFER_SDP}
    exec(compile(source, "README.md", "exec"), namespace)  # the README's own code
    namespace["Client"] = bound
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        await namespace["main"]()
    return out.getvalue()


async def test_the_quick_start_says_what_to_do_when_there_is_no_permission() -> None:
    async with Sandbox(api_key="sandbox-key") as sandbox:
        text = await quick_start_output(sandbox)
    assert text == "no permission yet; may ask now: True\n"
    assert "None" not in text


async def test_the_quick_start_rings_a_user_who_granted_permission() -> None:
    async with Sandbox(api_key="sandbox-key") as sandbox:
        sandbox.set_permission("14155550123", "permanent")
        text = await quick_start_output(sandbox)
        assert text.startswith("ringing wacid.")
        assert [call.wa_id for call in sandbox.calls.values()] == ["14155550123"]


def test_the_sandbox_snippet_signs_its_webhooks() -> None:
    source = block_after("## The sandbox")
    assert 'webhook_secret="S"' in source
    assert 'Receiver(secret="S")' in source
