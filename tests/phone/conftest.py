"""Headless Chromium for the /phone page, a tone WAV for its fake microphone, and the media
tests' guard that every datagram this process sends goes to 127.0.0.1.

The browser tests never skip: CI installs Chromium and its driver (.ci/run), and a missing one
fails them with the command that installs it. Chromium sends ICE checks to the bot's 127.0.0.1
from each of its own addresses; a loopback-only aioice connection ignores those from anywhere
but 127.0.0.1 (`_loopback_ice`), so media never goes to a peer-reflexive interface address.
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.media.conftest import loopback_guard, no_leaks
from tests.support.bots import Bot, running_bot

__all__ = ["loopback_guard", "no_leaks"]

CHROMIUM: Final = "/usr/bin/chromium"
CHROMEDRIVER: Final = "/usr/bin/chromedriver"
USER_TONE_HZ: Final = 440.0
"""What the browser's fake microphone says (the WAV the tests write)."""
WINDOW: Final = (480, 1000)


def write_tone(path: Path, frequency_hz: float, seconds: float = 2.0) -> Path:
    """A 48 kHz mono WAV of a whole number of cycles, so Chromium's looping has no seam."""
    rate = 48_000
    samples = round(seconds * frequency_hz) * rate // int(frequency_hz)
    frames = b"".join(
        struct.pack("<h", round(9_830 * math.sin(2 * math.pi * frequency_hz * i / rate)))
        for i in range(samples)
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def chromium_options(tone_wav: Path, profile: Path) -> webdriver.ChromeOptions:
    """Headless, offline, fake microphone and camera, loopback candidates without mDNS."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={tone_wav}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


class Browser:
    """A WebDriver used from async tests: every blocking call runs in a thread."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    async def open(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)
        await self.wait_for("window.phoneStats && phoneStats.socket === 'connected'")

    async def run(self, script: str) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, script)

    async def wait_for(
        self, expression: str, accept: Callable[[Any], bool] = bool, timeout: float = 10.0
    ) -> Any:
        """Poll a JavaScript expression until `accept` takes its value; its last value."""
        value = None
        try:
            async with asyncio.timeout(timeout):
                while not accept(value := await self.run(f"return {expression}")):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            state = await self.run("return JSON.stringify(window.phoneStats)")
            raise AssertionError(f"{expression} stayed {value!r}; phoneStats: {state}") from None
        return value

    async def find(self, css: str) -> WebElement:
        return await asyncio.to_thread(self.driver.find_element, By.CSS_SELECTOR, css)

    async def click(self, css: str) -> None:
        element = await self.find(css)
        await asyncio.to_thread(element.click)

    async def screenshot(self, path: Path) -> None:
        assert await asyncio.to_thread(self.driver.save_screenshot, str(path)), path


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone(tmp_path_factory.mktemp("wav") / "tone.wav", USER_TONE_HZ)


@pytest.fixture(scope="module")
def chromium(tone_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium for the module, with a fresh profile."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(
                f"{path} is missing: the browser tests need Debian's chromium and "
                "chromium-driver (apt-get install chromium chromium-driver; .ci/run does)"
            )
    options = chromium_options(tone_wav, tmp_path_factory.mktemp("chromium-profile"))
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(10)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium: WebDriver) -> Iterator[Browser]:
    """The module's Chromium; afterwards the page must have logged no error to its console."""
    chromium.get_log("browser")  # drop what an earlier test left
    yield Browser(chromium)
    errors = [entry for entry in chromium.get_log("browser") if entry["level"] == "SEVERE"]
    chromium.get("about:blank")  # leave the page: its calls end, its socket closes
    assert not errors, errors


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """The developer's bot with the sandbox's `/phone` page (`tests/support/bots.py`)."""
    async with running_bot(phone=True) as running:
        yield running
