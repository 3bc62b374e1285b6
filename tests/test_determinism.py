"""The test suite itself: the same Hypothesis examples on every CI run, a reproducible failure elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOW_PROFILE = (
    "import tests.conftest\n"
    "from hypothesis import settings\n"
    "s = settings.default\n"
    "print(s.derandomize, s.database is None, s.print_blob, s.deadline)\n"
)


def _profile_with(ci: str | None) -> str:
    """The Hypothesis settings in effect once the test configuration is loaded, with CI set to ``ci``."""
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run(
        [sys.executable, "-c", SHOW_PROFILE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_ci_runs_are_derandomised_without_an_example_database() -> None:
    assert _profile_with("true") == "True True True None"


@pytest.mark.parametrize("ci", [None, "false", "1"])
def test_other_runs_draw_fresh_examples_and_print_how_to_reproduce_a_failure(ci: str | None) -> None:
    assert _profile_with(ci) == "False False True None"
