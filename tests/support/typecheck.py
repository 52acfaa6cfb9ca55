"""Type-check a snippet of user code with `mypy --strict`, as the decorator typing tests do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def mypy_strict(tmp_path: Path, source: str) -> tuple[list[str], str]:
    """`source` written to `handlers.py` and checked in a fresh cache: its error lines, and
    mypy's whole output (for `reveal_type`)."""
    module = tmp_path / "handlers.py"
    module.write_text(source)
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    result = subprocess.run(
        [*command, "--cache-dir", str(tmp_path / "cache"), str(module)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    return errors, result.stdout
