"""The dev toolchain pinned in pyproject.toml is the one installed, so CI runs what was tested."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
EXACT_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^;\s]+)$")


def dev_pins() -> dict[str, str]:
    """Every `name==version` of the `dev` extra."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    pins = {}
    for requirement in extras["dev"]:
        match = EXACT_PIN.match(requirement)
        assert match, f"dev requirement {requirement!r} is not pinned exactly (name==version)"
        pins[match.group(1)] = match.group(2)
    return pins


def test_the_dev_extra_pins_the_whole_toolchain() -> None:
    names = {name.lower().replace("_", "-") for name in dev_pins()}
    for tool in ("mypy", "ruff", "pytest", "pytest-asyncio", "hypothesis", "redis", "aiohttp"):
        assert tool in names, f"{tool} is missing from the dev pins"


def test_installed_versions_are_the_pinned_ones() -> None:
    wrong = {
        name: (pinned, importlib.metadata.version(name))
        for name, pinned in dev_pins().items()
        if importlib.metadata.version(name) != pinned
    }
    assert not wrong, f"installed differs from the dev pins (pinned, installed): {wrong}"


def test_runtime_dependencies_keep_their_ranges() -> None:
    runtime = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert runtime
    assert not [r for r in runtime if "==" in r], "runtime dependencies must stay ranges"
