"""Datasets: readers, validation, splits and the processed-dataset cache."""

from alignrec.data.cache import load_dataset
from alignrec.data.dataset import Dataset, build_dataset, concat_normalised, is_stage1_feature

__all__ = ["Dataset", "build_dataset", "concat_normalised", "is_stage1_feature", "load_dataset"]
