"""The /phone page in headless Chromium when no bot listens (issue 26, item 7): a call placed
from the page stops ringing and the page names the webhook URL it could not reach and how to
start a bot, instead of ringing until the timeout."""

from __future__ import annotations

import asyncio

import pytest

from d360_calling.sandbox import Sandbox

from .conftest import Browser
from .test_no_bot import refusing_port

pytestmark = pytest.mark.usefixtures("no_leaks")

BOUND = 20.0


async def test_the_page_says_no_bot_answered_and_how_to_start_one(browser: Browser) -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/webhook"
        async with asyncio.timeout(BOUND), Sandbox(webhook_url=url, phone=True) as box:
            await browser.open(box.phone_url)
            await browser.click("#call")
            told = await browser.wait_for("phoneStats.noBot")
            assert told == (
                f"No bot answered: the sandbox could not reach {url} (connection refused). "
                "Start your bot there, or run `python -m d360_calling phone` for a built-in one."
            )
            problem = await browser.find("#problem")
            assert problem.is_displayed()
            assert problem.text == told
            await browser.wait_for("phoneStats.state === 'idle'")
            assert (await browser.find("#state")).text == "No bot answered"
            assert (await browser.find("#call")).is_displayed()
            [call] = box.calls.values()
            assert call.state.value == "terminated"


async def test_without_a_webhook_url_the_page_says_there_is_none(browser: Browser) -> None:
    async with asyncio.timeout(BOUND), Sandbox(phone=True) as box:
        await browser.open(box.phone_url)
        await browser.click("#call")
        told = await browser.wait_for("phoneStats.noBot")
        assert "the sandbox has no webhook URL" in told
        assert (await browser.find("#problem")).text == told
        await browser.wait_for("phoneStats.state === 'idle'")
