"""Serving: load a finished run and turn it into recommendations."""

from alignrec.serving.recommend import LoadedRun, load_run, recommend

__all__ = ["LoadedRun", "load_run", "recommend"]
