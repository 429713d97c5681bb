"""AlignRec with an item-item term in its score: ``z(AlignRec) + w * z(EASE)``, w chosen on validation.

A measurement for the question "what closes AlignRec's gap to EASE on dense data?", not a model: for each seed,
AlignRec is trained (its tuned settings, given as --param / --set), EASE is fitted once, both score matrices are
standardised per user (z-scores, so ``w`` is scale-free) and ``w`` is picked from a grid by validation Recall@20;
the test split is then read once at that ``w``. Writes per-seed values and the mean ± std to OUT (.json/.md).

    python benchmarks/score_blend.py runs/leaderboard-movielens-posters/dataset --split random --rating-threshold 4 \\
        --seeds 1 2 3 4 999 --set train.lr=0.005 --param align_weight=0.005 --param sim_weight=0.2 \\
        --param feature=unified_cf --threads 1 --out benchmarks/results/alignrec-ease-blend-movielens-100k-posters
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, load_dataset, train
from alignrec.config import apply_overrides, build_dataclass, model_params
from alignrec.evaluation.evaluator import evaluate_split
from alignrec.io import write_json, write_text
from alignrec.models import build_model
from alignrec.tables import table

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
KS = [10, 20]


def standardised(score_fn):  # noqa: ANN001, ANN201  (a score function in, a score function out)
    def scores(users: torch.Tensor) -> torch.Tensor:
        s = score_fn(users)
        return (s - s.mean(1, keepdim=True)) / s.std(1, keepdim=True).clamp_min(1e-12)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--split", default="auto")
    parser.add_argument("--rating-threshold", type=float)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 999])
    parser.add_argument("--param", action="append", default=[], help="AlignRec parameter NAME=VALUE")
    parser.add_argument("--set", action="append", default=[], help="train.FIELD=VALUE")
    parser.add_argument("--ease-reg", type=float, default=200.0)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = build_dataclass(DataConfig, {"path": args.data, "split": args.split,
                                        "rating_threshold": args.rating_threshold}, "data")
    dataset = load_dataset(data)
    ease = build_model("ease", dataset, {"reg_weight": args.ease_reg})
    ease.fit(dataset)
    ease_scores = standardised(ease.score)
    params = model_params([f"alignrec:{p}" for p in args.param], "alignrec")
    overrides = apply_overrides({}, args.set).get("train", {})
    rows = []
    for seed in args.seeds:
        config = RunConfig(data=data, model="alignrec", params=params,
                           train=build_dataclass(TrainConfig, {**overrides, "seed": seed}, "train"))
        model = train(config, dataset=dataset, runtime=RuntimeOptions(progress=False, threads=args.threads)).model
        model.eval()
        align_scores = standardised(model.score)

        def blend(w: float, align=align_scores):  # noqa: ANN001, ANN202
            return lambda users: align(users) + w * ease_scores(users)

        valid = {w: evaluate_split(blend(w), dataset, "valid", KS).means["recall@20"] for w in WEIGHTS}
        best = max(WEIGHTS, key=lambda w: valid[w])
        test = evaluate_split(blend(best), dataset, "test", KS).means
        alone = evaluate_split(blend(0.0), dataset, "test", KS).means
        rows.append({"seed": seed, "valid_by_weight": valid, "weight": best, "test": test, "test_alignrec": alone})
        print(seed, best, round(test["recall@20"], 4), round(alone["recall@20"], 4), flush=True)
    r20 = np.array([r["test"]["recall@20"] for r in rows])
    n20 = np.array([r["test"]["ndcg@20"] for r in rows])
    a20 = np.array([r["test_alignrec"]["recall@20"] for r in rows])
    summary = table(["variant", "test recall@20", "test ndcg@20", "weights picked"], [
        ["AlignRec alone", f"{a20.mean():.4f} ± {a20.std(ddof=1) if len(a20) > 1 else 0:.4f}", "", "0"],
        [f"AlignRec + w·EASE (λ {args.ease_reg:g})", f"{r20.mean():.4f} ± {r20.std(ddof=1) if len(r20) > 1 else 0:.4f}",
         f"{n20.mean():.4f} ± {n20.std(ddof=1) if len(n20) > 1 else 0:.4f}", ", ".join(str(r["weight"]) for r in rows)],
    ])
    write_json(Path(args.out).with_suffix(".json"), {"args": vars(args), "runs": rows})
    write_text(Path(args.out).with_suffix(".md"), summary)
    print(summary)


if __name__ == "__main__":
    main()
