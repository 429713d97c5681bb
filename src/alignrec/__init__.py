"""alignrec: multimodal recommendation built around AlignRec (Liu et al., CIKM 2024).

The public API in a few names::

    from alignrec import RunConfig, DataConfig, load_dataset, train

    config = RunConfig(data=DataConfig(path="data/amazon-scientific"), model="alignrec")
    result = train(config, run_dir="runs/sci-alignrec")
    print(result.test["recall@20"])
"""

from alignrec import openmp  # noqa: F401  (first: before anything imports torch)
from alignrec.config import DataConfig, RuntimeOptions, TrainConfig
from alignrec.data import Dataset, load_dataset
from alignrec.models import available_models, build_model
from alignrec.runs import LoadedRun, RunConfig, TrainResult, evaluate_run, load_run, train

__version__ = "0.3.0"  # the one version number: pyproject.toml reads it from here

__all__ = [
    "DataConfig", "Dataset", "LoadedRun", "RunConfig", "RuntimeOptions", "TrainConfig", "TrainResult",
    "available_models", "build_model", "evaluate_run", "load_dataset", "load_run", "train",
]
