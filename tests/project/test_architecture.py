"""The invariants ARCHITECTURE.md states, checked: small files, no import cycle (`TYPE_CHECKING`
and function-level imports included), layers that import only downward, and a bare
`import d360_calling` that loads no optional extra."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "d360_calling"
MAX_LINES = 400

# What each area must never import (prefixes of module names), as ARCHITECTURE.md says.
FORBIDDEN = {
    "d360_calling.sandbox": (
        "d360_calling.models",
        "d360_calling.endpoints",
        "d360_calling.client",
        "d360_calling.session",
        "d360_calling.middleware",
        "d360_calling.webhooks",
        "d360_calling.validation",
    ),
    "d360_calling.media": (
        "d360_calling.endpoints",
        "d360_calling.webhooks",
        "d360_calling.client",
        "d360_calling.session",
        "d360_calling.sandbox",
    ),
    "d360_calling.models": (
        "d360_calling.endpoints",
        "d360_calling.client",
        "d360_calling.session",
        "d360_calling.webhooks",
        "d360_calling.sandbox",
        "d360_calling.media",
    ),
    "d360_calling.session": (
        "d360_calling.endpoints",
        "d360_calling.client",
        "d360_calling.webhooks",
        "d360_calling.sandbox",
        "d360_calling.media",
    ),
    "d360_calling.endpoints": (
        "d360_calling.client",
        "d360_calling.webhooks",
        "d360_calling.sandbox",
        "d360_calling.media",
    ),
    "d360_calling.client": ("d360_calling.webhooks", "d360_calling.sandbox", "d360_calling.media"),
    "d360_calling.webhooks": ("d360_calling.sandbox",),
    "d360_calling.pipecat": (
        "d360_calling.sandbox",
        "d360_calling.endpoints",
        "d360_calling.session",
        "d360_calling.middleware",
        "d360_calling.shared_state",
        "d360_calling.testing",
    ),
    "d360_calling.shared_state": (
        "d360_calling.client",
        "d360_calling.endpoints",
        "d360_calling.webhooks",
        "d360_calling.sandbox",
        "d360_calling.media",
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> Iterator[str]:
    """Every package module `name` imports anywhere in its file (module level,
    `TYPE_CHECKING` blocks, functions), resolved to the module itself where a name is one."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules() else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target in modules():
                yield target


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it names. A module's parent packages run before it but are
    not what its importer depends on, so they are no edges of their own."""
    return {name: set(imported(name)) - {name} for name in modules()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    done: set[str] = set()
    for start in sorted(graph):
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        on_path = [start]
        if start in done:
            continue
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.pop()
                done.add(node)
            elif child in on_path:
                return [*on_path[on_path.index(child) :], child]
            elif child not in done:
                stack.append((child, iter(sorted(graph[child]))))
                on_path.append(child)
    return None


def test_no_file_in_the_package_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in modules().values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these along their jobs: {long}"


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        name
        for name, path in modules().items()
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert not missing, f"say what each is for in its opening docstring: {missing}"


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None, f"import cycle: {find_cycle(import_graph())}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("area", sorted(FORBIDDEN))
def test_each_area_imports_only_what_it_may(area: str) -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name in graph
        if name == area or name.startswith(area + ".")
        for target in graph[name]
        if target.startswith(FORBIDDEN[area])
    }
    assert not wrong, f"{area} must not import these: {sorted(wrong)}"


def test_nothing_imports_the_pipecat_layer() -> None:
    """`d360_calling.pipecat` sits on top (it may use media, webhooks, client, models): no
    other module of the package may import it."""
    area = "d360_calling.pipecat"
    wrong = {
        (name, target)
        for name, targets in import_graph().items()
        if name != area and not name.startswith(area + ".")
        for target in targets
        if target == area or target.startswith(area + ".")
    }
    assert not wrong, f"nothing may import {area}: {sorted(wrong)}"


def test_importing_the_sdk_loads_no_optional_extra() -> None:
    code = (
        "import sys, d360_calling, d360_calling.webhooks, d360_calling.sandbox;"
        "extras = ('aiortc', 'av', 'redis', 'opentelemetry', 'pipecat', 'loguru');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in extras))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"
