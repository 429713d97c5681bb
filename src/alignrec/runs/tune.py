"""``alignrec tune``: hyper-parameter search that never reads the test split before the winner is fixed.

Each trial trains one configuration of the model's search space (declared next to the model,
``Recommender.search_space``: the paper's or the authors' grid; a file can replace it) on a copy of the dataset whose
test split is sealed (:class:`alignrec.data.dataset.SealedSplit`: any read raises), and is scored by its best
validation metric. Hopeless trials are pruned (Optuna's median rule on the best-so-far validation metric, never
before ``warmup_epochs``). The study lives in a SQLite file, so an interrupted search resumes and several
processes can work on one study (each runs until the study holds ``trials`` trained trials). A configuration the
sampler proposes again is not trained twice: the trial reuses the earlier outcome and does not count, and the search
ends once every configuration of the space is trained. Then the winner is trained once more, into ``OUT/winner``, and
only that run reads the test split. Optuna: Akiba, Sano, Yanase, Ohta, Koyama, "Optuna: A Next-generation
Hyperparameter Optimization Framework", KDD 2019.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignrec.config import RuntimeOptions, apply_overrides
from alignrec.data import load_dataset
from alignrec.data.dataset import sealed_test
from alignrec.errors import ConfigError
from alignrec.io import write_json, write_text
from alignrec.models import model_class
from alignrec.runs.config import RunConfig
from alignrec.runs.train import train
from alignrec.tables import table
from alignrec.training import LoopState

SAMPLERS = ("tpe", "grid", "random")
REPEAT = "repeat_of"  # user attribute of a trial that reused an earlier trial's outcome


@dataclass
class TuneConfig:
    """``trials``: trained (complete or pruned; repeats not counted) trials in the study at most;
    ``warmup_epochs``: no pruning before this epoch (validation curves here often dip early and climb again)."""

    trials: int = 20
    sampler: str = "tpe"
    prune: bool = True
    warmup_epochs: int = 50
    seed: int = 2024
    storage: str | None = None
    study: str | None = None
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"tune.sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.trials < 1:
            raise ConfigError(f"tune.trials must be >= 1, got {self.trials}")


def search_space(model: str, override: dict[str, Any] | None = None) -> dict[str, list[Any]]:
    """The model's declared grid, or ``override`` (``{path: [values]}``); every path must name a config field."""
    space = dict(override) if override is not None else dict(model_class(model).search_space)
    if not space:
        raise ConfigError(f"model {model!r} declares no search space; give one (--space FILE)")
    for path, values in space.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"search space {path!r}: expected a non-empty list of values, got {values!r}")
        if path.split(".", 1)[0] not in ("params", "train", "data"):
            raise ConfigError(f"search space {path!r}: paths start with params., train. or data.")
    return space


def grid_size(space: dict[str, list[Any]]) -> int:
    """How many distinct configurations ``space`` holds."""
    return math.prod(len(set(map(repr, values))) for values in space.values())


def trial_state(trial: Any) -> str:
    """``complete``/``pruned``, or ``repeat of N`` for a proposal that reused trial N's outcome untrained."""
    return f"repeat of {trial.user_attrs[REPEAT]}" if REPEAT in trial.user_attrs else trial.state.name.lower()


def trial_config(base: RunConfig, choice: dict[str, Any]) -> RunConfig:
    """``base`` with the chosen values set (the same path syntax as ``--set``)."""
    return RunConfig.from_dict(apply_overrides(base.to_dict(), [f"{k}={v}" for k, v in choice.items()]))


def tune(base: RunConfig, cfg: TuneConfig, out_dir: str | Path, space: dict[str, list[Any]] | None = None,
         runtime: RuntimeOptions | None = None) -> dict[str, Any]:
    """Search ``space`` (default: the model's) around ``base``; write the best config, the trials table and the
    winner's run into ``out_dir``; return the summary (also ``out_dir/tune.json``)."""
    import optuna

    runtime = runtime or RuntimeOptions()
    space = search_space(base.model, space)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(base.data)
    sealed = sealed_test(dataset, "during the hyper-parameter search")
    metric = base.train.valid_metric.lower()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = {"tpe": lambda: optuna.samplers.TPESampler(seed=cfg.seed),
               "random": lambda: optuna.samplers.RandomSampler(seed=cfg.seed),
               "grid": lambda: optuna.samplers.GridSampler(space, seed=cfg.seed)}[cfg.sampler]()
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=cfg.warmup_epochs) if cfg.prune
              else optuna.pruners.NopPruner())
    storage = f"sqlite:///{Path(cfg.storage).resolve()}" if cfg.storage else None
    study = optuna.create_study(study_name=cfg.study or f"{base.model}-{dataset.name}", storage=storage,
                                direction="maximize", sampler=sampler, pruner=pruner, load_if_exists=True)
    quiet = RuntimeOptions(progress=False, threads=runtime.threads, device=runtime.device)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def objective(trial: optuna.Trial) -> float:
        choice = {path: trial.suggest_categorical(path, values) for path, values in space.items()}
        earlier = next((t for t in study.get_trials(deepcopy=False, states=finished) if t.params == choice), None)
        if earlier is not None:  # the sampler proposed a configuration already trained: reuse its outcome
            trial.set_user_attr(REPEAT, earlier.number)
            if earlier.state == optuna.trial.TrialState.PRUNED or earlier.value is None:
                raise optuna.TrialPruned()
            return float(earlier.value)

        def report(state: LoopState) -> None:
            trial.report(state.best_score, state.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = train(trial_config(base, choice), dataset=sealed, runtime=quiet, evaluate_test=False,
                       on_epoch=report)
        trial.set_user_attr("best_epoch", result.best_epoch)
        return float(result.valid[metric])

    budget = min(cfg.trials, grid_size(space))

    def trained() -> list[optuna.trial.FrozenTrial]:
        return [t for t in study.get_trials(deepcopy=False, states=finished) if REPEAT not in t.user_attrs]

    def stop_when_spent(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if len(trained()) >= budget:
            study.stop()

    if len(trained()) < budget:
        study.optimize(objective, timeout=cfg.timeout_s, gc_after_trial=True, callbacks=[stop_when_spent],
                       show_progress_bar=False)
    best = study.best_trial
    winner_config = trial_config(base, best.params)
    write_json(out / "best_config.json", winner_config.to_dict())
    rows = [[str(t.number), trial_state(t), *(str(t.params.get(p, "")) for p in space),
             "" if t.value is None else f"{t.value:.4f}", str(t.user_attrs.get("best_epoch", ""))]
            for t in study.trials]
    header = ["trial", "state", *space, f"valid {metric}", "best epoch"]
    write_text(out / "trials.md", table(header, rows))
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    write_text(out / "trials.csv", buffer.getvalue())
    winner = train(winner_config, run_dir=out / "winner", dataset=dataset, overwrite=True, runtime=runtime)
    summary = {"model": base.model, "dataset": dataset.name, "space": space, "best_params": best.params,
               "best_trial_valid": best.value,
               "trials": {**{s.name.lower(): sum(t.state == s for t in trained()) for s in finished},
                          "repeats": len(study.get_trials(deepcopy=False, states=finished)) - len(trained())},
               "winner": {"best_epoch": winner.best_epoch, "valid": winner.valid, "test": winner.test}}
    write_json(out / "tune.json", summary)
    return summary
