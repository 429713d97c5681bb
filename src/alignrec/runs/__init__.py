"""Runs: the config of a run, its directory, training one, loading and evaluating one, analysing it for a report,
and the pipeline that chains content encoding, pre-training and training (``alignrec run``)."""

from alignrec.runs.config import RunConfig
from alignrec.runs.load import LoadedRun, evaluate_run, load_run
from alignrec.runs.train import TrainResult, train

__all__ = ["LoadedRun", "RunConfig", "TrainResult", "evaluate_run", "load_run", "train"]
