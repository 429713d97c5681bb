"""Markdown tables and number formatting: the one place every command, report and benchmark builds them."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table, ending with a newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fmt(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` for None and NaN."""
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"
