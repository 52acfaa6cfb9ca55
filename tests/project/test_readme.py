"""The README is a contract: every Python block in it compiles, every name it imports is there,
and every attribute it reads off an imported module or class exists."""

from __future__ import annotations

import ast
import contextlib
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
BLOCKS = BLOCK.findall(README.read_text())


def parsed(source: str) -> ast.Module:
    """A README block as a module (top-level `await` allowed, as in a notebook or REPL)."""
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree: ast.Module = compile(source, "README.md", "exec", flags=flags)
    return tree


def bound_names(tree: ast.Module) -> dict[str, Any]:
    """What the block's imports bind: name -> module or object, imported for real."""
    bound: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                bound[alias.asname or top] = importlib.import_module(
                    alias.name if alias.asname else top
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                bound[alias.asname or alias.name] = imported_name(module, alias.name)
    return bound


def imported_name(module: Any, name: str) -> Any:
    """`from module import name`: an attribute, or else a submodule (as Python does)."""
    if not hasattr(module, name):
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(f"{module.__name__}.{name}")
    assert hasattr(module, name), f"{module.__name__} has no {name}"
    return getattr(module, name)


def attribute_chains(tree: ast.Module) -> list[list[str]]:
    """`a.b.c` reads as ["a", "b", "c"], for every attribute read off a plain name."""
    chains = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            chain.insert(0, current.attr)
            current = current.value
        if isinstance(current, ast.Name):
            chains.append([current.id, *chain])
    return chains


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{n}" for n in range(len(BLOCKS))])
def test_each_block_compiles_and_its_imports_and_attributes_exist(source: str) -> None:
    tree = parsed(source)
    bound = bound_names(tree)
    for root, *attributes in attribute_chains(tree):
        if root not in bound:
            continue  # a local variable of the example (client, call, ...)
        target = bound[root]
        for attribute in attributes:
            if not (
                isinstance(target, type)
                or hasattr(target, "__path__")
                or type(target).__name__ == "module"
            ):
                break  # past a module or class: a value the example computes
            assert hasattr(target, attribute), f"README: {root}.{'.'.join(attributes)}"
            target = getattr(target, attribute)
