"""Training refuses to go on silently with a broken loss, and MMRec-style early stopping rules hold."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, train
from alignrec.models.alignrec import AlignRec
from alignrec.runs.rundir import load_torch
from alignrec.training import NonFiniteLossError, configure_cpu

QUIET = RuntimeOptions(progress=False)


def test_nan_loss_stops_with_epoch_and_term_and_keeps_last_good_checkpoint(
        tiny_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = AlignRec.loss

    def loss_turning_nan(self: AlignRec, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict:
        terms = original(self, users, pos, neg)
        calls["n"] += 1
        if calls["n"] >= 3:  # one batch per epoch here: epoch 2 goes wrong
            terms["sim"] = terms["sim"] * math.nan
            terms["loss"] = terms["loss"] + terms["sim"]
        return terms

    monkeypatch.setattr(AlignRec, "loss", loss_turning_nan)
    run_dir = tiny_folder.parent / "run"
    config = RunConfig(data=DataConfig(path=str(tiny_folder)), model="alignrec", params={"knn_k": 3},
                       train=TrainConfig(epochs=10, batch_size=4096))
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, batch 0: loss term 'sim' is nan"):
        train(config, run_dir=run_dir, runtime=QUIET)
    last = load_torch(run_dir / "last.pt")
    assert last["state"]["epoch"] == 1  # the last good epoch
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert len((run_dir / "epochs.jsonl").read_text().splitlines()) == 2
    assert not (run_dir / "metrics.json").exists()
    assert (run_dir / "best.pt").is_file()


def test_nan_term_is_named(tiny_folder: Path) -> None:
    from alignrec.training.loop import check_finite

    check_finite({"loss": torch.tensor(1.0), "bpr": torch.tensor(0.5)}, 3, 7)
    with pytest.raises(NonFiniteLossError, match=r"epoch 3, batch 7: loss term 'align' is inf"):
        check_finite({"align": torch.tensor(math.inf), "loss": torch.tensor(1.0)}, 3, 7)


def test_min_epochs_honoured_when_validation_stops_improving(tiny_folder: Path) -> None:
    data = DataConfig(path=str(tiny_folder))
    # A learning rate this small leaves the validation metric where epoch 0 put it: it never improves again.
    frozen = dict(model="bpr", data=data)
    early = train(RunConfig(**frozen, train=TrainConfig(epochs=30, patience=1, min_epochs=0, lr=1e-12)), runtime=QUIET)
    assert len(early.history) == 2  # without a floor it stops at the first epoch without a gain
    floored = train(RunConfig(**frozen, train=TrainConfig(epochs=30, patience=1, min_epochs=10, lr=1e-12)),
                    runtime=QUIET)
    assert len(floored.history) == 10 and floored.best_epoch == 0 and floored.history[-1]["epoch"] == 9


def test_configure_cpu_flushes_subnormal_floats_to_zero() -> None:
    configure_cpu(1)
    assert torch.get_num_threads() == 1
    assert float(torch.tensor([1e-39]) * 0.5) == 0.0  # a subnormal result, flushed
