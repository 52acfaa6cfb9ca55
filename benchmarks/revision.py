"""Another revision's code beside the working tree, for a before/after comparison in one run:
`git archive` of its `d360_calling` and `benchmarks` into a temporary folder."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.procs import ROOT


def describe(revision: str) -> str:
    """`revision` as a short hash and its date, e.g. `2135953 (2026-12-07)`."""
    out = subprocess.run(
        ["git", "log", "-1", "--format=%h (%cs)", revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@contextlib.contextmanager
def exported(revision: str) -> Iterator[Path]:
    """A folder holding `revision`'s `d360_calling` and `benchmarks`, removed afterwards."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "d360_calling", "benchmarks"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="d360-before-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)
