"""Serving: turn a trained run into recommendations."""

from alignrec.runs import LoadedRun, load_run
from alignrec.serving.recommend import recommend

__all__ = ["LoadedRun", "load_run", "recommend"]
