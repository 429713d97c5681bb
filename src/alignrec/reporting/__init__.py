"""Reports: a self-contained HTML page and a Markdown summary of one or more runs."""

from alignrec.reporting.collect import ReportData, collect

__all__ = ["ReportData", "collect"]
