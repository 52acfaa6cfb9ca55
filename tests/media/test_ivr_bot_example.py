"""`examples/ivr_bot.py --sandbox`: a menu, a choice, a PIN (masked), and the bot hangs up."""

from __future__ import annotations

import logging

import pytest

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
