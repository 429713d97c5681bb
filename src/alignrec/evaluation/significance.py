"""Is a difference between two runs real? Paired tests over per-user metrics.

* Paired bootstrap percentile confidence interval of the mean per-user difference (Efron and Tibshirani,
  "An Introduction to the Bootstrap", 1993).
* Paired t-test and Wilcoxon signed-rank test (Wilcoxon, 1945) via ``scipy.stats``; their use for
  ranking evaluation is discussed by Smucker, Allan and Carterette, "A Comparison of Statistical
  Significance Tests for Information Retrieval Evaluation", CIKM 2007.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats


def paired_differences(values_a: np.ndarray, users_a: np.ndarray, values_b: np.ndarray,
                       users_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Align two per-user metric arrays on their common users: ``(a, b, b - a)`` in user order."""
    common, ia, ib = np.intersect1d(users_a, users_b, assume_unique=True, return_indices=True)
    a, b = np.asarray(values_a, dtype=np.float64)[ia], np.asarray(values_b, dtype=np.float64)[ib]
    return a, b, b - a


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 10000, confidence: float = 0.95, seed: int = 0,
                      chunk: int = 500) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling users with replacement).

    Applied to paired differences this is the paired bootstrap. Resamples are drawn in chunks, so memory
    is ``chunk x len(values)``.
    """
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        means[start:start + size] = x[rng.integers(0, len(x), size=(size, len(x)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_t_pvalue(diff: np.ndarray) -> float:
    """Two-sided p-value of the paired t-test (one-sample t-test of the differences against 0)."""
    d = np.asarray(diff, dtype=np.float64)
    if len(d) < 2 or np.allclose(d, d[0]):
        return 1.0 if len(d) == 0 or d[0] == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def wilcoxon_pvalue(diff: np.ndarray) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test; 1.0 when every difference is zero."""
    d = np.asarray(diff, dtype=np.float64)
    if not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox").pvalue)


@dataclass
class PairedComparison:
    metric: str
    users: int
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    confidence: float
    t_pvalue: float
    wilcoxon_pvalue: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(metric: str, values_a: np.ndarray, users_a: np.ndarray, values_b: np.ndarray,
                   users_b: np.ndarray, n_boot: int = 10000, confidence: float = 0.95,
                   seed: int = 0) -> PairedComparison:
    """Difference B − A of one per-user metric, with a paired bootstrap CI and two paired p-values."""
    a, b, diff = paired_differences(values_a, users_a, values_b, users_b)
    low, high = bootstrap_mean_ci(diff, n_boot, confidence, seed)
    return PairedComparison(metric, len(diff), float(a.mean()) if len(a) else float("nan"),
                            float(b.mean()) if len(b) else float("nan"),
                            float(diff.mean()) if len(diff) else float("nan"), low, high, confidence,
                            paired_t_pvalue(diff), wilcoxon_pvalue(diff))
