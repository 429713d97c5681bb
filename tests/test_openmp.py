"""alignrec shortens libgomp's idle spinning when it is imported before torch, and leaves a user's setting alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "import {first}, os; import {second}; print(os.environ.get('GOMP_SPINCOUNT'))"


@pytest.mark.parametrize(("first", "second", "preset", "expected"), [
    ("alignrec", "torch", None, "20000"),
    ("torch", "alignrec", None, "None"),  # too late: libgomp has read its settings already
    ("alignrec", "torch", "300000", "300000"),
])
def test_spin_count(first: str, second: str, preset: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if preset:
        env["GOMP_SPINCOUNT"] = preset
    done = subprocess.run([sys.executable, "-c", SHOW.format(first=first, second=second)], env=env,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == expected
