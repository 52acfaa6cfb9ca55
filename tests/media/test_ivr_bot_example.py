"""`examples/ivr_bot.py`: a menu, a choice, a PIN (masked), and the bot hangs up; with `--sandbox`,
and served against a sandbox it did not start."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from d360_calling.sandbox import Sandbox
from tests.project.test_examples_serve import free_port, served, stop

pytest.importorskip("aiortc")

from examples import ivr_bot

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.mark.parametrize("name", list(ivr_bot.SCENARIOS))
async def test_each_scenario_goes_as_expected_and_the_bot_hangs_up(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    [(reported, outcome, ok)] = await ivr_bot.demo_with_sandbox([name], wait=1.0)
    assert reported == name
    assert ok, outcome
    assert outcome is not None
    assert outcome.hung_up, outcome.problem
    assert outcome == ivr_bot.Outcome(
        outcome.call_id, **ivr_bot._fields(ivr_bot.SCENARIOS[name][1])
    )
    ours = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("ivr_bot", "d360_calling"))
    )  # aiortc's own DEBUG records print RTP timestamps, which may contain any digits
    if outcome.choice == "support":  # the PIN is reported masked, never logged or kept
        verdict = "accepted" if outcome.pin_ok else "refused"
        assert f"PIN **** {verdict}" in ours
    for pin in (ivr_bot.SANDBOX_PIN, "9999"):
        assert pin not in ours
        assert pin not in repr(outcome) + ivr_bot.describe(outcome)


def test_describe_masks_and_explains() -> None:
    support = ivr_bot.Outcome("c", choice="support", menus=1, pin="****", pin_ok=False)
    assert ivr_bot.describe(support) == (
        "menu played 1x, choice support, PIN **** refused, bot did not hang up"
    )
    assert ivr_bot.describe(None) == "the call did not go through"
    left = ivr_bot.Outcome("c", menus=1, problem="audio ended: MediaConnectionError")
    assert ivr_bot.describe(left).endswith("audio ended: MediaConnectionError")


def test_scenarios_never_show_a_pin() -> None:
    for steps, _ in ivr_bot.SCENARIOS.values():
        for step in steps:
            if isinstance(step, ivr_bot.Press) and "#" in step.keys:
                assert step.shown == "a PIN and #"


async def test_served_against_a_sandbox_it_did_not_start_with_loopback_audio(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhook"
    async with Sandbox(api_key="sandbox-key", webhook_url=url, webhook_secret="s") as box:
        flags = ["--base-url", box.base_url, "--listen", f"127.0.0.1:{port}", "--secret", "s"]
        async with served("ivr_bot.py", *flags, errors=tmp_path / "stderr") as example:
            await example.line_with("webhook receiver at")
            call_id = await box.ring("14155550123", media=True, tone_hz=None)
            await box.voice(call_id).wait_connected(timeout=10.0)  # audio on 127.0.0.1 only
            await ivr_bot.hears(box, call_id, ivr_bot.MENU_HZ)
            await box.press(call_id, "1")
            await ivr_bot.hears(box, call_id, ivr_bot.SALES_HZ)
            for _ in range(300):  # the bot hangs up after the sales message
                if not box.calls[call_id].active:
                    break
                await asyncio.sleep(0.05)
            assert box.stats.effects["calls.terminate"] == 1
            await stop(example)
    assert "call " + call_id + ": sales" in example.errors.read_text()


def test_the_demo_pin_check_compares_the_whole_pin() -> None:
    check = ivr_bot.demo_pin_check("1234")
    assert asyncio.run(check("14155550123", "1234"))
    assert not asyncio.run(check("14155550123", "123"))
    assert not asyncio.run(check("14155550123", "12345"))
