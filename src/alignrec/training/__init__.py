"""Training mechanics: BPR sampling, the shared epoch loop with early stopping, and fitting one model."""

from alignrec.training.loop import LoopState, NonFiniteLossError, StopRule, run_epochs
from alignrec.training.sampler import BPRSampler
from alignrec.training.trainer import Checkpoints, FitResult, fit, resolve_device, set_threads

__all__ = ["BPRSampler", "Checkpoints", "FitResult", "LoopState", "NonFiniteLossError", "StopRule", "fit",
           "resolve_device", "run_epochs", "set_threads"]
