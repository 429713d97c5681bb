"""One table of several 5-seed result files (``benchmarks/compare.py`` or ``benchmarks/score_blend.py`` outputs):
validation and test Recall@20, test NDCG@20, the validation-to-test gap, and a paired t-test of test Recall@20
against the first file's runs over the seeds both share.

    python benchmarks/variant_table.py --row "unified_cf=runs/exp/gap-ml-unified_cf.json" \\
        --row "unified_cf, train-slice selection=runs/exp/gap-ml-unified_cf_ts.json" \\
        --out benchmarks/results/alignrec-stage1-gap-movielens-100k-posters
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

from alignrec.io import write_json, write_text
from alignrec.tables import table


def per_seed(path: str) -> dict[int, dict[str, float]]:
    """seed -> valid / test Recall@20 and test NDCG@20 of one results file."""
    runs = json.loads(Path(path).read_text())["runs"]
    out = {}
    for r in runs:
        valid = r.get("valid") or {"recall@20": max(r["valid_by_weight"].values())}
        test = r["test"]
        out[int(r["seed"])] = {"valid": valid["recall@20"], "test": test["recall@20"], "ndcg": test["ndcg@20"]}
    return out


def cell(values: np.ndarray) -> str:
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", action="append", required=True, metavar="LABEL=FILE")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows, data = [], {}
    for spec in args.row:
        label, _, path = spec.rpartition("=")
        data[label] = per_seed(path)
    reference = next(iter(data))
    for label, seeds in data.items():
        order = sorted(seeds)
        valid, test, ndcg = (np.array([seeds[s][k] for s in order]) for k in ("valid", "test", "ndcg"))
        shared = [s for s in order if s in data[reference]]
        if label == reference or len(shared) < 2:
            versus = ""
        else:
            a = np.array([seeds[s]["test"] for s in shared])
            b = np.array([data[reference][s]["test"] for s in shared])
            p = stats.ttest_rel(a, b).pvalue
            versus = f"{(a - b).mean():+.4f}, {int((a > b).sum())} of {len(shared)} higher, p {p:.3f}"
        rows.append([label, str(len(order)), cell(valid), cell(test), cell(ndcg), cell(valid - test), versus])
    headers = ["variant", "seeds", "valid recall@20", "test recall@20", "test ndcg@20", "valid - test",
               f"test recall@20 vs {reference} (paired)"]
    write_text(Path(args.out).with_suffix(".md"), table(headers, rows) + "\n")
    write_json(Path(args.out).with_suffix(".json"), {"rows": args.row, "per_seed": data})
    print(table(headers, rows))


if __name__ == "__main__":
    main()
