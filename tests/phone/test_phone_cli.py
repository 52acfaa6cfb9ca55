"""`python -m d360_calling phone` as a newcomer runs it, in a subprocess: it prints the page's
real URL (port 0 picks a free one), the API key and the webhook secret, serves the page, and
Ctrl-C stops it with exit code 0 and nothing on stderr."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
BOUND = 30.0
PHONE_URL = re.compile(rb"http://127\.0\.0\.1:(\d+)/phone\b")


async def test_the_command_serves_the_page_until_ctrl_c() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "d360_calling",
        "phone",
        "--port",
        "0",
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(BOUND):
            banner = b""
            while not (found := PHONE_URL.search(banner)) or b"Ctrl-C stops." not in banner:
                line = await process.stdout.readline()
                assert line, f"the command ended early: {banner!r}"
                banner += line
            url = found.group(0).decode()
            assert found.group(1) != b"0"
            assert b"API key: sandbox-key" in banner
            assert re.search(rb"webhook secret: [0-9a-f]{32}\b", banner)
            async with aiohttp.ClientSession() as http, http.get(url) as page:
                assert page.status == 200
                assert "Sandbox phone" in await page.text()
            process.send_signal(signal.SIGINT)
            _, errors = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, errors.decode()
    assert errors == b"", errors.decode()
