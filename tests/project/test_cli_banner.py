"""The standalone sandbox's banner names what a bot needs: the URL, the API key and the webhook
secret it signs with (issue 26: a newcomer should not have to guess them)."""

from __future__ import annotations

import subprocess
import sys


def banner(*flags: str) -> list[str]:
    """The first lines `python -m d360_calling sandbox` prints, then it is stopped."""
    command = [sys.executable, "-m", "d360_calling", "sandbox", "--port", "0", *flags]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline().strip() for _ in range(3)]
        finally:
            process.terminate()
            process.wait(timeout=10)
    return lines


def test_the_banner_prints_the_api_key_and_the_webhook_secret() -> None:
    lines = banner("--webhook-url", "http://127.0.0.1:9/webhook", "--webhook-secret", "S3")
    assert lines[0].startswith("sandbox serving the Calling API at http://127.0.0.1:")
    assert lines[1] == "API key: sandbox-key"
    assert lines[2] == "webhooks to http://127.0.0.1:9/webhook, webhook secret: S3"


def test_unsigned_webhooks_are_called_out() -> None:
    lines = banner("--webhook-url", "http://127.0.0.1:9/webhook", "--api-key", "k1")
    assert lines[1] == "API key: k1"
    assert "unsigned" in lines[2]
