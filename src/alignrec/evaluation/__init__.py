"""Ranking metrics and full-ranking evaluation."""

from alignrec.evaluation.evaluator import evaluate_scores, top_k_items
from alignrec.evaluation.metrics import per_user_metrics

__all__ = ["evaluate_scores", "per_user_metrics", "top_k_items"]
