"""Training: BPR sampling, the epoch loop with early stopping, checkpoints and run directories."""

from alignrec.training.sampler import BPRSampler
from alignrec.training.trainer import TrainResult, evaluate_model, train

__all__ = ["BPRSampler", "TrainResult", "evaluate_model", "train"]
