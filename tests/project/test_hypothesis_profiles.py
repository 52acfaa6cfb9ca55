"""Hypothesis runs derandomized unless asked otherwise, so a run repeats the last one exactly;
`HYPOTHESIS_PROFILE=explore` draws fresh random examples on a developer's machine."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


def test_the_default_profile_is_derandomized() -> None:
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci":
        pytest.skip("another Hypothesis profile was chosen for this run")
    assert settings.default.derandomize is True
    assert settings.default.database is None  # no replay of examples saved by an earlier run
    assert settings.default.deadline is None  # no timed failure on a busy machine


def test_explore_is_random() -> None:
    explore = settings.get_profile("explore")
    assert explore.derandomize is False
    assert explore.max_examples > settings.get_profile("ci").max_examples
