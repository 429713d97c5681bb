"""Progress of long work: a live bar on a terminal, a few plain lines anywhere else.

On a terminal :func:`progress` is a tqdm bar. When standard error is not a terminal (CI, ``nohup``, a log file)
carriage-return redraws would fill the log with hundreds of frames, so it prints one plain line when the work
starts, then at most one line every ``interval`` seconds, and one when it ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tqdm.auto import tqdm

LINE_INTERVAL_SECONDS = 30.0


class LineProgress:
    """The subset of tqdm's interface alignrec uses, printed as whole lines (no ``\\r``)."""

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, interval: float = LINE_INTERVAL_SECONDS,
                 stream: TextIO | None = None) -> None:
        self.iterable = iterable
        self.total = total if total is not None else _length(iterable)
        self.desc, self.unit, self.n, self.interval = desc, unit, initial, interval
        self.stream = stream or sys.stderr
        self.postfix = ""
        self.start = self.last_print = time.monotonic()
        self.closed = False
        self._print()

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("LineProgress was built without an iterable")
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last_print >= self.interval:
            self._print()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._print(final=True)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _print(self, final: bool = False) -> None:
        self.last_print = time.monotonic()
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        state = "done" if final else "elapsed"
        extra = f", {self.postfix}" if self.postfix else ""
        seconds = self.last_print - self.start
        self.stream.write(f"{self.desc}: {done} {self.unit}{pct}, {seconds:.0f} s {state}{extra}\n")
        self.stream.flush()


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             initial: int = 0, enabled: bool = True) -> Any:
    """A progress reporter over ``iterable`` (or updated by hand up to ``total``).

    ``enabled=False`` reports nothing; on a terminal it is a tqdm bar; otherwise a :class:`LineProgress`.
    """
    if enabled and not _is_terminal(sys.stderr):
        return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial)
    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=not enabled)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _length(iterable: Iterable[Any] | None) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None
