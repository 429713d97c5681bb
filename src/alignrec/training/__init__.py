"""Training mechanics: BPR sampling, the shared epoch loop with early stopping, and fitting one model."""

from alignrec.training.loop import LoopState, NonFiniteLossError, StopRule, run_epochs
from alignrec.training.sampler import BPRSampler
from alignrec.training.trainer import Checkpoints, FitResult, configure_cpu, fit, resolve_device

__all__ = ["BPRSampler", "Checkpoints", "FitResult", "LoopState", "NonFiniteLossError", "StopRule", "fit",
           "resolve_device", "run_epochs", "configure_cpu"]
