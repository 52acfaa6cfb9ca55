"""Place one call from the sandbox's /phone page, in headless Chromium, to the built-in bot of
`python -m d360_calling phone`, as a newcomer would in their browser: the page must hear the
bot's greeting (its pitch, measured in the page), 1 on the keypad must bring the bot's tone,
and # must end the call. Exit code 0 only if all of that happened.

It needs only selenium and Debian's chromium and chromium-driver (run.sh runs it with the
Python that has selenium, outside the newcomer's fresh venv). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
VOICE_HZ = 440.0
"""What the fake microphone says."""
PITCH_TOLERANCE_HZ = 8.0


def write_tone(path: Path, frequency_hz: float, seconds: float = 2.0) -> Path:
    """A 48 kHz mono WAV of whole cycles, so Chromium's looping of it has no seam."""
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


def chromium(voice: Path, profile: Path) -> WebDriver:
    """Headless Chromium with a fake microphone, offering 127.0.0.1 to WebRTC (README)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={voice}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(15)
    return driver


def wait_for(driver: WebDriver, expression: str, what: str, timeout: float) -> Any:
    """Poll a JavaScript expression until it is truthy; its value. Fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := driver.execute_script(f"return {expression}"):
            return value
        time.sleep(0.1)
    stats = driver.execute_script("return JSON.stringify(window.phoneStats)")
    raise SystemExit(f"FAILED: {what} did not happen within {timeout:g} s; phoneStats: {stats}")


def hears(driver: WebDriver, hz: float, what: str, timeout: float) -> float:
    near = f"Math.abs(phoneStats.heardHz - {hz}) <= {PITCH_TOLERANCE_HZ}"
    heard_near = f"phoneStats.heardHz !== null && {near} && phoneStats.heardHz"
    heard = wait_for(driver, heard_near, what, timeout)
    print(f"  the page hears {what}: {heard} Hz", flush=True)
    return float(heard)


def call(driver: WebDriver, url: str, greeting_hz: float, tone_hz: float, timeout: float) -> None:
    driver.get(url)
    connected = "window.phoneStats && phoneStats.socket === 'connected'"
    wait_for(driver, connected, "the page connecting", timeout)
    driver.find_element(By.ID, "call").click()
    wait_for(driver, "phoneStats.state === 'in-call'", "the bot answering", timeout)
    print("  the bot answered; the call is connected", flush=True)
    hears(driver, greeting_hz, "the bot's greeting", timeout)
    wait_for(driver, "phoneStats.keypad", "the keypad", timeout)
    driver.find_element(By.CSS_SELECTOR, "#keypad button[data-key='1']").click()
    hears(driver, tone_hz, "the tone that key 1 asks for", timeout)
    driver.find_element(By.CSS_SELECTOR, "#keypad button[data-key='#']").click()
    wait_for(driver, "phoneStats.state === 'idle'", "the bot hanging up after #", timeout)
    state = driver.find_element(By.ID, "state").text
    print(f"  after #: {state}", flush=True)
    errors = driver.execute_script("return phoneStats.errors")
    if errors:
        raise SystemExit(f"FAILED: the page showed problems: {errors}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the phone page, http://127.0.0.1:PORT/phone")
    parser.add_argument("--greeting-hz", type=float, required=True)
    parser.add_argument("--tone-hz", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for each wait")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newcomer-chromium-") as scratch:
        voice = write_tone(Path(scratch) / "voice.wav", VOICE_HZ)
        driver = chromium(voice, Path(scratch) / "profile")
        try:
            call(driver, args.url, args.greeting_hz, args.tone_hz, args.timeout)
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
