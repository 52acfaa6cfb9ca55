"""`python -m d360_calling phone` in headless Chromium: the page calls the built-in bot and
hears its greeting (measured by pitch in the page), 1 on the page's keypad brings the tone,
and # makes the bot say goodbye and hang up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from d360_calling.phone_bot_menu import GREETING_HZ, TONE_HZ

from .conftest import Browser
from .test_phone_bot import printed, serving_phone

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 40.0


def near(hz: float) -> Callable[[Any], bool]:
    return lambda heard: heard is not None and abs(heard - hz) <= 8.0


async def test_the_browser_calls_the_built_in_bot_and_uses_its_menu(browser: Browser) -> None:
    async with asyncio.timeout(BOUND), serving_phone() as (url, out):
        await browser.open(url)
        await browser.click("#call")
        await browser.wait_for("phoneStats.state === 'in-call'")
        await browser.wait_for("phoneStats.heardHz", near(GREETING_HZ))
        await browser.wait_for("phoneStats.keypad")
        await browser.click("#keypad button[data-key='1']")
        await browser.wait_for("phoneStats.heardHz", near(TONE_HZ))
        await browser.click("#keypad button[data-key='#']")
        await browser.wait_for("phoneStats.state === 'idle'", timeout=15.0)
        assert (await browser.find("#state")).text.startswith("Call ended after")
        await printed(out, "ended, the caller pressed #")
