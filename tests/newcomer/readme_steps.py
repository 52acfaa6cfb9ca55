"""What the newcomer script (run.sh) takes from the README, so it follows the README as written:
the first command (install and demo), and the files of "Testing your own code" (its first
Python block as the test module, any ini or toml block as the project's configuration).

    python readme_steps.py first-command README.md
    python readme_steps.py pytest-project README.md DIR    # writes the files into DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
TESTING_SECTION = "## Testing your own code"
CONFIG_FILES = {"ini": "pytest.ini", "toml": "pyproject.toml", "cfg": "setup.cfg"}


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of `text`: (language, body)."""
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(text)]


def section(text: str, heading: str) -> str:
    """`text` from `heading` to the next heading of the same level."""
    start = text.index(heading)
    level = heading.split(" ", 1)[0]
    end = text.find(f"\n{level} ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def first_command(text: str) -> str:
    """The first command line of the README's first shell block (comments skipped)."""
    for language, body in blocks(text):
        if language in ("bash", "sh", "shell", "console"):
            for line in body.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    return line.strip().removeprefix("$ ")
    raise ValueError("the README has no shell block with a command")


def pytest_project(text: str) -> dict[str, str]:
    """The files of the README's pytest example: test_bot.py and any configuration shown."""
    files: dict[str, str] = {}
    for language, body in blocks(section(text, TESTING_SECTION)):
        if language == "python" and "test_bot.py" not in files:
            files["test_bot.py"] = body
        elif language in CONFIG_FILES:
            files.setdefault(CONFIG_FILES[language], body)
    if "test_bot.py" not in files:
        raise ValueError(f"{TESTING_SECTION!r} has no Python block")
    return files


def main(argv: list[str]) -> int:
    action, readme = argv[0], Path(argv[1]).read_text(encoding="utf-8")
    if action == "first-command":
        print(first_command(readme))
    elif action == "pytest-project":
        for name, body in pytest_project(readme).items():
            (Path(argv[2]) / name).write_text(body, encoding="utf-8")
            print(name)
    else:
        raise SystemExit(f"unknown action {action!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
