"""Paired bootstrap intervals and paired tests."""

from __future__ import annotations

import numpy as np
import pytest

from alignrec.evaluation.significance import (
    bootstrap_mean_ci,
    compare_paired,
    paired_differences,
    paired_t_pvalue,
    wilcoxon_pvalue,
)


def test_interval_covers_true_difference_on_synthetic_data() -> None:
    rng = np.random.default_rng(0)
    true_diff, covered = 0.05, 0
    n_trials = 100
    for trial in range(n_trials):
        a = rng.random(300)
        b = a + true_diff + rng.normal(0, 0.2, size=300)
        low, high = bootstrap_mean_ci(b - a, n_boot=1000, seed=trial)
        covered += low <= true_diff <= high
    assert covered >= 88  # nominal 95%


def test_compare_paired_detects_a_real_difference() -> None:
    rng = np.random.default_rng(1)
    users = np.arange(400)
    a = rng.random(400)
    b = a + 0.05 + rng.normal(0, 0.1, size=400)
    out = compare_paired("recall@20", a, users, b, users, n_boot=2000)
    assert out.users == 400
    assert out.ci_low <= 0.05 <= out.ci_high and out.ci_low > 0
    assert out.t_pvalue < 1e-6 and out.wilcoxon_pvalue < 1e-6
    assert out.mean_diff == pytest.approx(out.mean_b - out.mean_a)


def test_identical_runs_are_not_different() -> None:
    a = np.random.default_rng(2).random(50)
    users = np.arange(50)
    out = compare_paired("ndcg@10", a, users, a.copy(), users, n_boot=500)
    assert out.mean_diff == 0 and out.ci_low == 0 and out.ci_high == 0
    assert out.t_pvalue == 1.0 and out.wilcoxon_pvalue == 1.0


def test_noise_only_difference_is_not_significant() -> None:
    rng = np.random.default_rng(3)
    diff = rng.normal(0, 0.1, size=200)
    diff -= diff.mean()
    low, high = bootstrap_mean_ci(diff, n_boot=2000)
    assert low < 0 < high
    assert paired_t_pvalue(diff) > 0.5 and wilcoxon_pvalue(diff) > 0.05


def test_paired_differences_align_users() -> None:
    a, b, d = paired_differences(np.array([1.0, 2.0, 3.0]), np.array([5, 1, 9]),
                                 np.array([10.0, 30.0]), np.array([9, 1]))
    assert a.tolist() == [2.0, 3.0] and b.tolist() == [30.0, 10.0] and d.tolist() == [28.0, 7.0]
