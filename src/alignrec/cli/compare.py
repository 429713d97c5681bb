"""``alignrec compare``: is the difference between two runs real? Paired per-user tests on the test split."""

from __future__ import annotations

import argparse

from alignrec.cli.common import print_json
from alignrec.config import parse_metric
from alignrec.errors import ConfigError

EXAMPLES = """examples:
  alignrec compare runs/sci-lightgcn runs/sci-alignrec
  alignrec compare runs/sci-lightgcn runs/sci-alignrec --metric ndcg@10 --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired significance test between two runs", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_a", metavar="RUN_A", help="baseline run directory")
    p.add_argument("run_b", metavar="RUN_B", help="run directory compared with the baseline (difference = B - A)")
    p.add_argument("--metric", default="recall@20")
    p.add_argument("--split", default="test", choices=["valid", "test"])
    p.add_argument("--bootstrap", type=int, default=10000, help="bootstrap resamples (default 10000)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alignrec.evaluation.significance import compare_paired
    from alignrec.runs import evaluate_run, load_run

    parse_metric(args.metric)
    metric = args.metric.lower()
    per_run = []
    for run_dir in (args.run_a, args.run_b):
        loaded = load_run(run_dir)
        ks = sorted({*loaded.config.topk, int(metric.split("@")[1])})
        ranking = evaluate_run(loaded, args.split, ks)
        per_run.append((loaded, ranking.per_user[metric], ranking.users))
    (a, va, ua), (b, vb, ub) = per_run
    if a.dataset.name != b.dataset.name or a.dataset.n_items != b.dataset.n_items:
        raise ConfigError(f"the runs use different datasets ({a.dataset.name!r} and {b.dataset.name!r})")
    result = compare_paired(metric, va, ua, vb, ub, args.bootstrap, args.confidence, args.seed)
    if args.json:
        print_json({"run_a": args.run_a, "run_b": args.run_b, "split": args.split, **result.to_dict()})
        return 0
    pct = int(round(100 * args.confidence))
    print(f"{args.split} {metric} over {result.users} users (paired)")
    print(f"  A {a.config.model:<10} {result.mean_a:.4f}   ({args.run_a})")
    print(f"  B {b.config.model:<10} {result.mean_b:.4f}   ({args.run_b})")
    print(f"  B - A = {result.mean_diff:+.4f}, {pct}% bootstrap CI [{result.ci_low:+.4f}, {result.ci_high:+.4f}]")
    print(f"  paired t-test p = {result.t_pvalue:.4g}, Wilcoxon signed-rank p = {result.wilcoxon_pvalue:.4g}")
    verdict = "real at this level" if result.ci_low > 0 or result.ci_high < 0 else "not distinguishable from noise"
    print(f"  the difference is {verdict} (the CI {'excludes' if 'real' in verdict else 'includes'} 0)")
    return 0
