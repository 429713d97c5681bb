"""Evaluation as pure functions of scores, splits and features: ranking metrics, full-ranking evaluation,
beyond-accuracy metrics, slices, significance tests and the training-free feature metrics."""

from alignrec.evaluation.evaluator import Ranking, ScoreFn, evaluate_split, rank_and_evaluate, top_k_items
from alignrec.evaluation.metrics import per_user_metrics
from alignrec.evaluation.sequential import evaluate_next_item, rank_next_items

__all__ = ["Ranking", "ScoreFn", "evaluate_next_item", "evaluate_split", "per_user_metrics", "rank_and_evaluate",
           "rank_next_items", "top_k_items"]
