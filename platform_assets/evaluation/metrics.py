"""Prediction metrics for a binary classifier, computed in numpy so the gate's bootstrap can afford them.

This module defines the metrics the evaluation suite reports and the quality gate judges:

- `PREDICTION_METRICS`: each metric computed from labels and probabilities, with its direction.
- `rank_auc`: ROC AUC as the Mann-Whitney statistic on mid-ranks, equal to sklearn's `roc_auc_score`
  (ties included) but without sklearn's per-call overhead.
- `expected_calibration_error`, `metric_value` and `classification_metrics` for one scored test set.
- `resampled_metric_values`: one metric on many resamples of the rows at once, without sorting any
  resample, so `platform_assets.evaluation.gate.paired_bootstrap` scores a thousand resamples in well
  under a second; `resampled_metric_differences` pairs two models on the same resamples.
- `slice_metrics`: the metrics per value of categorical columns, for the evaluation report.

The metric names match `platform_assets.spec.METRIC_BOUNDS`, so a gate rule names a metric computed here.
Everything is pure: arrays and frames in, numbers and frames out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "PREDICTION_METRICS",
    "classification_metrics",
    "delong_auc_covariance",
    "expected_calibration_error",
    "metric_value",
    "rank_auc",
    "resampled_metric_differences",
    "resampled_metric_values",
    "slice_metrics",
    "validate_scores",
]

# Which way is better for each metric computed from labels and probabilities. The gate reads this to
# turn "candidate minus champion" into a gain or a loss.
PREDICTION_METRICS: dict[str, Literal["higher", "lower"]] = {
    "auc_roc": "higher",
    "f1": "higher",
    "precision": "higher",
    "recall": "higher",
    "log_loss": "lower",
    "brier": "lower",
    "calibration_ece": "lower",
}

# sklearn's log_loss clips probabilities to [eps, 1 - eps] with the float64 machine epsilon; clipping the
# same way keeps our numbers identical to it and keeps a confident wrong prediction finite.
_LOG_LOSS_EPS = float(np.finfo(np.float64).eps)
_ECE_BINS = 10


def validate_scores(y_true: object, y_prob: object, *, both_classes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels (0/1) and probabilities ([0, 1], no NaN) of equal length; return float64 arrays.

    Raises ValueError naming the problem. `both_classes` also requires at least one 0 and one 1.
    """
    y = np.asarray(y_true)
    p = np.asarray(y_prob)
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and y_prob must be one-dimensional, got shapes {y.shape} and {p.shape}")
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} rows but y_prob has {len(p)}; they must score the same rows")
    if len(y) == 0:
        raise ValueError("no rows to evaluate: y_true and y_prob are empty")
    if not (np.issubdtype(p.dtype, np.number) or p.dtype == bool):
        raise ValueError(f"y_prob must be numeric probabilities, got dtype {p.dtype}")
    p = p.astype(np.float64)
    nan_count = int(np.isnan(p).sum())
    if nan_count:
        raise ValueError(f"y_prob holds {nan_count} NaN value(s); every row needs a probability")
    outside = (p < 0.0) | (p > 1.0)
    if outside.any():
        raise ValueError(
            f"y_prob must lie in [0, 1]; {int(outside.sum())} value(s) lie outside, e.g. {p[outside][0]!r}"
        )
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise ValueError(f"y_true must hold only 0 and 1, got dtype {y.dtype}")
    y = y.astype(np.float64)
    not_binary = ~np.isin(y, (0.0, 1.0))
    if not_binary.any():
        raise ValueError(
            f"y_true must hold only 0 and 1; {int(not_binary.sum())} value(s) do not, e.g. {y[not_binary][0]!r}"
        )
    if both_classes:
        positives = int(y.sum())
        if positives in (0, len(y)):
            only = "positives" if positives else "negatives"
            raise ValueError(f"y_true has only one class ({len(y)} {only}); the metrics need both 0 and 1")
    return y, p


# ------------------------------------------------------------------------------------------------ AUC


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def rank_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney U statistic: (rank sum of positives - P(P+1)/2) / (P * N).

    Tied scores get their mid-rank, so a tied positive/negative pair counts one half; this is exactly the
    trapezoidal area sklearn's `roc_auc_score` computes. `y_true` must hold both classes.
    """
    y = np.asarray(y_true, dtype=np.float64)
    score = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 1 or y.shape != score.shape:
        raise ValueError(
            f"y_true and y_score must be one-dimensional and equally long, got {y.shape} and {score.shape}"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    positives = float(y.sum())
    negatives = float(len(y) - positives)
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both classes in y_true")
    # A stable sort keeps the result independent of the input order of tied rows.
    order = np.argsort(score, kind="stable")
    starts = _tie_groups(score[order])
    ends = np.r_[starts[1:], len(score)]
    # Ranks are 1-based: a run occupying sorted positions a..b-1 has mid-rank (a + 1 + b) / 2.
    mid_ranks = (starts + 1 + ends) / 2.0
    ranks = np.repeat(mid_ranks, ends - starts)
    rank_sum = float(ranks @ y[order])
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


# ------------------------------------------------------------------------------------------ calibration


def _bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    # Equal-width bins [k/bins, (k+1)/bins); a probability of exactly 1 belongs to the last bin.
    return np.minimum((p * bins).astype(np.int64), bins - 1)


def expected_calibration_error(y_true: np.ndarray, y_prob: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |observed rate - mean probability| per equal-width bin, weighted by bin size.

    Bins split [0, 1] into `bins` equal intervals; empty bins contribute nothing.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    y, p = validate_scores(y_true, y_prob, both_classes=False)
    # sum_b (n_b / n) |mean_b(y) - mean_b(p)| is sum_b |sum_b(y - p)| / n: only per-bin sums are needed.
    gap = np.bincount(_bin_index(p, bins), weights=y - p, minlength=bins)
    return float(np.abs(gap).sum() / len(y))


# ---------------------------------------------------------------------------------------- all metrics


def _confusion_ratio(name: str, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, undefined: float) -> np.ndarray:
    """Precision, recall or F1 from confusion counts; `undefined` where the denominator is 0."""
    if name == "precision":
        numerator, denominator = tp, tp + fp
    elif name == "recall":
        numerator, denominator = tp, tp + fn
    else:
        numerator, denominator = 2 * tp, 2 * tp + fp + fn
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, undefined)


def _log_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, _LOG_LOSS_EPS, 1.0 - _LOG_LOSS_EPS)
    return -(y * np.log(clipped) + (1.0 - y) * np.log1p(-clipped))


def _metric(name: str, y: np.ndarray, p: np.ndarray, threshold: float, zero_division: float) -> float:
    """One metric on validated arrays (the unresampled reference path)."""
    if name == "auc_roc":
        return rank_auc(y, p)
    if name in ("f1", "precision", "recall"):
        predicted = p >= threshold
        positive = y == 1.0
        tp = np.count_nonzero(predicted & positive)
        fp = np.count_nonzero(predicted & ~positive)
        fn = np.count_nonzero(~predicted & positive)
        return float(_confusion_ratio(name, np.asarray(tp), np.asarray(fp), np.asarray(fn), zero_division))
    if name == "log_loss":
        return float(_log_losses(y, p).mean())
    if name == "brier":
        return float(((p - y) ** 2).mean())
    if name == "calibration_ece":
        return expected_calibration_error(y, p, _ECE_BINS)
    raise ValueError(f"unknown prediction metric {name!r}; expected one of {sorted(PREDICTION_METRICS)}")


def metric_value(name: str, y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> float:
    """One of `PREDICTION_METRICS` on a scored test set; F1, precision and recall predict 1 when prob >= threshold.

    Precision with no predicted positives is 0, as in sklearn's default.
    """
    if name not in PREDICTION_METRICS:
        raise ValueError(f"unknown prediction metric {name!r}; expected one of {sorted(PREDICTION_METRICS)}")
    y, p = validate_scores(y_true, y_prob)
    return _metric(name, y, p, threshold, 0.0)


def classification_metrics(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Every prediction metric plus `rows` and `positive_rate`, or ValueError naming what is wrong with the input."""
    y, p = validate_scores(y_true, y_prob)
    metrics = {name: _metric(name, y, p, threshold, 0.0) for name in PREDICTION_METRICS}
    metrics["rows"] = float(len(y))
    metrics["positive_rate"] = float(y.mean())
    return metrics


def _counts_per_resample(codes: np.ndarray | None, rows: np.ndarray, width: int) -> np.ndarray:
    """For each resample (row of `rows`), how many of its rows carry each code in [0, width): shape (k, width).

    `codes=None` codes each row by its own index (row multiplicities). One flat bincount serves all
    resamples at once: resample j's codes are shifted by j * width.
    """
    k = rows.shape[0]
    dtype = np.int32 if k * width < 2**31 else np.int64
    keys = rows.astype(dtype) if codes is None else codes.astype(dtype, copy=False)[rows]
    keys += (np.arange(k, dtype=dtype) * width)[:, None]
    return np.bincount(keys.ravel(), minlength=k * width).reshape(k, width)


def _auc_from_counts(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUC of each resample given its row multiplicities `counts` (k, rows), with no sort per resample.

    2 x AUC x P x N = sum over positive rows i of count_i x (negatives scored below s_i + negatives scored
    at or below s_i), where both negative counts are read off a cumulative sum of the resample's negative
    counts in score order at the positions `searchsorted` finds once: a tie counts one half, as in sklearn.
    The counts stay integers until the final division, so no rounding accumulates over 15,000 rows.
    """
    positive = np.flatnonzero(y == 1.0)
    negative = np.flatnonzero(y == 0.0)
    negative = negative[np.argsort(p[negative], kind="stable")]
    negative_scores = p[negative]
    below = np.searchsorted(negative_scores, p[positive], side="left")
    at_or_below = np.searchsorted(negative_scores, p[positive], side="right")
    cumulative = np.zeros((len(counts), len(negative) + 1), dtype=np.int64)
    np.cumsum(counts[:, negative], axis=1, out=cumulative[:, 1:])
    positive_counts = counts[:, positive]
    twice_concordant = 2 * (positive_counts * cumulative[:, below]).sum(axis=1)
    # Only positives tied with some negative need the second lookup; with continuous scores there are none.
    tied = np.flatnonzero(at_or_below != below)
    if len(tied):
        tied_negatives = cumulative[:, at_or_below[tied]] - cumulative[:, below[tied]]
        twice_concordant += (positive_counts[:, tied] * tied_negatives).sum(axis=1)
    pairs = positive_counts.sum(axis=1) * cumulative[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, twice_concordant / (2.0 * pairs), np.nan)


def _as_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.atleast_2d(np.asarray(rows))
    if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(f"rows must be a (resamples, rows) array of integer row indices, got shape {rows.shape}")
    return rows


def resampled_metric_values(
    name: str, y_true: np.ndarray, y_prob: np.ndarray, rows: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """One metric on each resample of the test rows: `rows` is a (k, m) array of row indices; returns k values.

    This is the bootstrap's inner loop, vectorised across resamples. No resample is materialised or sorted:
    a resample reduces to per-code counts from one flat `bincount` (codes: the row itself for AUC, its
    confusion cell, its calibration bin), or to a gathered mean for the per-row losses. AUC then follows from
    cumulative negative counts in score order (see `_auc_from_counts`), equal to `metric_value` on
    `y_prob[rows[j]]` up to float rounding in the final division. AUC is NaN for a resample with one class;
    precision, recall and F1 are 0 where undefined, as in `metric_value`. Inputs are validated by the caller.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_prob, dtype=np.float64)
    rows = _as_rows(rows)
    k, m = rows.shape
    if name == "auc_roc":
        return _auc_from_counts(y, p, _counts_per_resample(None, rows, len(y)))
    if name in ("f1", "precision", "recall"):
        # Code = 2 * class + predicted: cells 0 TN, 1 FP, 2 FN, 3 TP.
        cells = _counts_per_resample(2 * y.astype(np.int64) + (p >= threshold), rows, 4)
        return _confusion_ratio(name, cells[:, 3], cells[:, 1], cells[:, 2], 0.0)
    if name == "log_loss":
        return _log_losses(y, p)[rows].mean(axis=1)
    if name == "brier":
        return ((p - y) ** 2)[rows].mean(axis=1)
    if name == "calibration_ece":
        bins = _bin_index(p, _ECE_BINS)
        keys = bins[rows] + (np.arange(k) * _ECE_BINS)[:, None]
        gap = np.bincount(keys.ravel(), weights=(y - p)[rows].ravel(), minlength=k * _ECE_BINS)
        return np.abs(gap.reshape(k, _ECE_BINS)).sum(axis=1) / m
    raise ValueError(f"unknown prediction metric {name!r}; expected one of {sorted(PREDICTION_METRICS)}")


def resampled_metric_differences(
    name: str,
    y_true: np.ndarray,
    candidate_prob: np.ndarray,
    champion_prob: np.ndarray,
    rows: np.ndarray,
    threshold: float = 0.5,
) -> np.ndarray:
    """Candidate minus champion on each resample of the shared rows (`rows` as in `resampled_metric_values`).

    Both models see the same resampled rows (a paired bootstrap). For AUC the row multiplicities are counted
    once and shared, the most expensive step of a resample.
    """
    rows = _as_rows(rows)
    if name == "auc_roc":
        y = np.asarray(y_true, dtype=np.float64)
        counts = _counts_per_resample(None, rows, len(y))
        candidate = _auc_from_counts(y, np.asarray(candidate_prob, dtype=np.float64), counts)
        return candidate - _auc_from_counts(y, np.asarray(champion_prob, dtype=np.float64), counts)
    candidate = resampled_metric_values(name, y_true, candidate_prob, rows, threshold)
    return candidate - resampled_metric_values(name, y_true, champion_prob, rows, threshold)


# --------------------------------------------------------------------------------------------- slices

_SLICE_FRAME_COLUMNS = ["slice", "value", "rows", "positive_rate", "auc_roc", "f1", "precision", "recall"]


def slice_metrics(
    frame: pd.DataFrame,
    label: str,
    prob: str,
    slice_columns: Sequence[str],
    min_rows: int = 30,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Metrics per (slice column, value), one row each, sorted by slice column name and then value.

    A slice with one class or fewer than `min_rows` rows gets a NaN AUC rather than an error: small slices are
    normal and must not break the report. Precision, recall and F1 are NaN when undefined in a slice (no
    predicted positives, no positives), since a 0 there would read as a bad model rather than no evidence.
    Missing slice values form their own slice (value NaN) so no rows silently drop out.
    """
    if min_rows < 1:
        raise ValueError(f"min_rows must be at least 1, got {min_rows}")
    missing = [column for column in (label, prob, *slice_columns) if column not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the frame; it has {sorted(map(str, frame.columns))}")
    y, p = validate_scores(frame[label].to_numpy(), frame[prob].to_numpy(), both_classes=False)
    scored = pd.DataFrame({"_y": y, "_p": p}, index=frame.index)
    rows: list[dict[str, object]] = []
    # Sorted and de-duplicated, so the report reads the same whatever order the caller listed the columns in.
    for column in sorted(set(slice_columns)):
        scored["_slice"] = frame[column]
        for value, group in scored.groupby("_slice", dropna=False, sort=True, observed=True):
            gy = group["_y"].to_numpy()
            gp = group["_p"].to_numpy()
            positives = gy.sum()
            has_both = 0 < positives < len(gy)
            row: dict[str, object] = {
                "slice": column,
                "value": value,
                "rows": len(gy),
                "positive_rate": float(positives / len(gy)),
                "auc_roc": rank_auc(gy, gp) if has_both and len(gy) >= min_rows else float("nan"),
            }
            for name in ("f1", "precision", "recall"):
                row[name] = _metric(name, gy, gp, threshold, zero_division=float("nan"))
            rows.append(row)
    return pd.DataFrame(rows, columns=_SLICE_FRAME_COLUMNS)


def delong_auc_covariance(y_true: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The AUCs of several scorings of the same labelled rows and DeLong's covariance matrix of them.

    DeLong, DeLong and Clarke-Pearson (1988), computed with midranks as in Sun and Xu (2014): O(n log n) per
    scoring, where a bootstrap costs O(resamples x n). The variance of a paired difference a - b is
    cov[a, a] + cov[b, b] - 2 cov[a, b]; of two independent samples' AUCs, the sum of their variances. Both
    classes must be present (`validate_scores`).
    """
    from scipy.stats import rankdata

    y = np.asarray(y_true)
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise ValueError(f"DeLong's AUC variance needs both classes; got {m} positive and {n} negative labels")
    aucs, v01, v10 = [], [], []
    for score in scores:
        values = np.asarray(score, dtype=np.float64)
        x, z = values[positive], values[~positive]
        tx, tz = rankdata(x), rankdata(z)
        combined = rankdata(np.concatenate([x, z]))
        aucs.append((combined[:m].sum() - m * (m + 1) / 2) / (m * n))
        v01.append((combined[:m] - tx) / n)  # per positive: the share of negatives it outranks
        v10.append(1.0 - (combined[m:] - tz) / m)  # per negative: the share of positives that outrank it
    s01 = np.atleast_2d(np.cov(np.vstack(v01))) if m > 1 else np.zeros((len(scores), len(scores)))
    s10 = np.atleast_2d(np.cov(np.vstack(v10))) if n > 1 else np.zeros((len(scores), len(scores)))
    return np.asarray(aucs), s01 / m + s10 / n
