"""Progress output: live bars on a terminal, a few whole lines in a log."""

from __future__ import annotations

import io

import pytest

from alignrec import progress as progress_module
from alignrec.progress import LineProgress, progress


def test_line_progress_prints_whole_lines_at_most_every_interval() -> None:
    stream = io.StringIO()
    bar = LineProgress(range(500), desc="train x", unit="epochs", interval=3600.0, stream=stream)
    for n in bar:
        bar.set_postfix(loss=f"{1 / (n + 1):.3f}")
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("train x: 0/500 epochs (0%)")
    assert lines[-1].startswith("train x: 500/500 epochs (100%)") and "done" in lines[-1] and "loss=0.002" in lines[-1]
    assert len(lines) == 2  # start and end only: the interval never passed


def test_line_progress_reports_when_the_interval_passes() -> None:
    stream = io.StringIO()
    bar = LineProgress(total=10, desc="encode", unit="items", interval=0.0, stream=stream)
    for _ in range(10):
        bar.update()
    bar.close()
    bar.close()  # a second close prints nothing
    assert len(stream.getvalue().splitlines()) == 12


def test_progress_picks_lines_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: False)
    assert isinstance(progress(range(3), desc="x"), LineProgress)
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: True)
    assert not isinstance(progress(range(3), desc="x"), LineProgress)
    assert not isinstance(progress(range(3), desc="x", enabled=False), LineProgress)
