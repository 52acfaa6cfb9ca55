"""The newcomer script follows the README as written: these check what it takes from it (the
first command, the pytest example's files), on the real README and on made-up ones, and that
`.ci/run` runs the script. The script itself (run.sh) needs the network and a minute, so CI
runs it as its own step, not from pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

from .readme_steps import first_command, pytest_project

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_first_command_installs_and_runs_the_demo() -> None:
    command = first_command(README)
    assert command.startswith("python -m pip install")
    assert "python -m d360_calling demo" in command


def test_the_pytest_example_is_a_test_module_using_the_plugins_fixtures() -> None:
    files = pytest_project(README)
    assert "async def test_" in files["test_bot.py"]
    assert "d360_sandbox" in files["test_bot.py"]
    compile(files["test_bot.py"], "test_bot.py", "exec")


def test_configuration_shown_in_the_section_is_written_too() -> None:
    readme = "\n".join(
        [
            "# x",
            "```bash",
            "# a comment",
            "$ pip install x && x demo",
            "```",
            "## Testing your own code",
            "```toml",
            "[tool.pytest.ini_options]",
            'asyncio_mode = "auto"',
            "```",
            "```python",
            "async def test_a(): ...",
            "```",
            "```python",
            "def not_this(): ...",
            "```",
            "## Command line",
            "```ini",
            "[not this]",
            "```",
            "",
        ]
    )
    assert first_command(readme) == "pip install x && x demo"
    assert pytest_project(readme) == {
        "pyproject.toml": '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n',
        "test_bot.py": "async def test_a(): ...\n",
    }


def test_a_readme_without_the_example_is_refused() -> None:
    with pytest.raises(ValueError, match="no Python block"):
        pytest_project("## Testing your own code\nnothing\n")
    with pytest.raises(ValueError, match="no shell block"):
        first_command("```python\nx\n```\n")


def test_ci_runs_the_newcomer_script() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "tests/newcomer/run.sh" in ci
    assert (ROOT / "tests" / "newcomer" / "run.sh").stat().st_mode & 0o111
