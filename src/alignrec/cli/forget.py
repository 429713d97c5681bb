"""``alignrec forget`` and ``alignrec forget-check``: remove interactions, users or items from a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignrec.cli.common import add_runtime_args, print_json, runtime_options
from alignrec.errors import ConfigError, DataError
from alignrec.training.unlearning import UnlearnConfig

EXAMPLES = """examples:
  alignrec forget runs/sci-alignrec --out runs/sci-forget-users --users 12,40,977
  alignrec forget runs/sci-alignrec --out runs/sci-forget-items --items items.txt --method retrain
  alignrec forget runs/sci-alignrec --out runs/sci-forget-pairs --interactions pairs.tsv
  alignrec forget-check runs/sci-forget-users --gold runs/sci-forget-users-gold --original runs/sci-alignrec
An ID list is comma-separated, or a file with one ID per line; an interactions file has one "user<TAB>item" pair per
line (a header line naming user and item columns is skipped). The original run directory is never modified.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forget", help="a new run without some interactions, users or items", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", required=True, help="the new run directory (must not exist)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--interactions", metavar="FILE", help="user<TAB>item pairs to forget")
    what.add_argument("--users", metavar="IDS|FILE", help="users to forget entirely")
    what.add_argument("--items", metavar="IDS|FILE", help="items to forget entirely (content included)")
    p.add_argument("--method", default="reverse-bpr", choices=["reverse-bpr", "retrain"],
                   help="reverse-bpr: unlearn from the trained model (MMRecUn); retrain: train from scratch on what "
                        "is retained (the gold model)")
    u = p.add_argument_group("reverse BPR (seed: the run's)")
    defaults = UnlearnConfig()
    u.add_argument("--retain-weight", type=float, default=defaults.retain_weight,
                   help=f"weight of the retain-set loss, λ (default {defaults.retain_weight})")
    u.add_argument("--max-epochs", type=int, default=defaults.max_epochs,
                   help=f"passes over the forget set at most (default {defaults.max_epochs})")
    u.add_argument("--lr", type=float, default=defaults.lr, help=f"default {defaults.lr}")
    u.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"default {defaults.batch_size}")
    add_runtime_args(p)
    p.set_defaults(func=run_forget)

    c = sub.add_parser("forget-check", help="verify a forget run: forget/retain/test recall, membership AUC",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("run_dir", metavar="NEW_RUN_DIR", help="a run made by alignrec forget")
    c.add_argument("--gold", metavar="RUN_DIR", help="the retrained run of the same request, for comparison")
    c.add_argument("--original", metavar="RUN_DIR", help="the run before forgetting, for comparison")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_check)


def read_ids(value: str) -> list[str]:
    path = Path(value)
    if path.is_file():
        ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids:
        raise ConfigError(f"{value}: no ids given")
    return ids


def read_pairs(value: str) -> list[tuple[str, str]]:
    path = Path(value)
    if not path.is_file():
        raise DataError(f"{path}: interactions file not found")
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.replace(",", "\t").split("\t") if line.strip() else []
        if not fields:
            continue
        if len(fields) < 2:
            raise DataError(f"{path}: line {number}: expected user<TAB>item, got {line!r}")
        if number == 1 and fields[0].strip().lower().startswith("user"):
            continue
        pairs.append((fields[0].strip(), fields[1].strip()))
    if not pairs:
        raise DataError(f"{path}: no interactions in the file")
    return pairs


def run_forget(args: argparse.Namespace) -> int:
    from alignrec.runs.forget import ForgetRequest, forget

    request = ForgetRequest(interactions=read_pairs(args.interactions) if args.interactions else None,
                            users=read_ids(args.users) if args.users else None,
                            items=read_ids(args.items) if args.items else None)
    unlearn = None
    if args.method == "reverse-bpr":
        from alignrec.runs import rundir

        unlearn = UnlearnConfig(retain_weight=args.retain_weight, lr=args.lr, batch_size=args.batch_size,
                                max_epochs=args.max_epochs, seed=rundir.read_config(Path(args.run_dir)).train.seed)
    report = forget(args.run_dir, args.out, request, args.method, unlearn, runtime_options(args))
    print((Path(args.out) / "forget_report.md").read_text())
    print(f"seconds: {report['seconds']:.1f}; new run: {args.out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    import dataclasses

    from alignrec.data import load_dataset
    from alignrec.data.removal import Removal
    from alignrec.io import read_json
    from alignrec.runs import LoadedRun, load_run
    from alignrec.runs.forget_check import check, report_markdown

    run = load_run(args.run_dir)
    if not run.config.data.removal:
        raise ConfigError(f"{args.run_dir}: not a run made by alignrec forget (its data config has no removal)")
    removal = Removal.load(run.config.data.removal)
    original = load_dataset(dataclasses.replace(run.config.data, removal=None))
    results = {"this run": check(run, original, removal)}
    if args.gold:
        results["gold"] = check(load_run(args.gold), original, removal)
    if args.original:  # the model before forgetting, judged on the retained data like the others
        before = load_run(args.original)
        results["original"] = check(LoadedRun(before.config, run.dataset, before.model, before.best_epoch),
                                    original, removal)
    if args.json:
        print_json(results)
        return 0
    report = read_json(Path(args.run_dir) / "forget_report.json")
    report["verification"] = results.pop("this run")
    print(report_markdown(report, results), end="")
    return 0
