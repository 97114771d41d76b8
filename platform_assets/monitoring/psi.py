"""The Population Stability Index (PSI): how far a current sample's distribution has moved from a reference.

This module defines PSI for numeric values (`psi_numeric`, with bins at the reference's quantiles from
`quantile_edges`), for categories (`psi_categorical`) and for counts already binned (`psi_from_counts`,
which the other two reduce to). The canary gate (`platform_assets.deployment.judges`) compares canary
scores with production scores here; drift monitoring compares feature batches with the reference window.

PSI = sum over bins of (c - r) * ln(c / r), where r and c are the reference and current proportions of
the bin. Every term is >= 0, so PSI is 0 exactly when the binned distributions agree. The bins are fixed
on the REFERENCE only, so a current sample is always judged on the same grid as its reference, and two
current samples against one reference are comparable. An empty bin would make ln(c / r) infinite, so
proportions are floored at `eps` (without renormalising: a floored bin adds at most eps to the total).
Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.

Everything is pure: arrays in, a float out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["psi_categorical", "psi_from_counts", "psi_numeric", "quantile_edges"]


def psi_from_counts(reference_counts: np.ndarray, current_counts: np.ndarray, eps: float = 1e-4) -> float:
    """PSI from per-bin counts of the reference and the current sample (same bins, same order)."""
    reference = np.asarray(reference_counts, dtype=np.float64)
    current = np.asarray(current_counts, dtype=np.float64)
    if reference.ndim != 1 or reference.shape != current.shape:
        raise ValueError(
            f"reference and current counts must be one-dimensional over the same bins, got shapes "
            f"{reference.shape} and {current.shape}"
        )
    if not (np.isfinite(reference).all() and np.isfinite(current).all()):
        raise ValueError("bin counts must be finite")
    if (reference < 0).any() or (current < 0).any():
        raise ValueError("bin counts must be non-negative")
    if reference.sum() <= 0 or current.sum() <= 0:
        raise ValueError(
            f"PSI needs at least one value on each side; the reference has {reference.sum():g} and the "
            f"current sample {current.sum():g}"
        )
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    r = np.maximum(reference / reference.sum(), eps)
    c = np.maximum(current / current.sum(), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def quantile_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """The interior bin edges at the reference's 1/bins, 2/bins, ... quantiles, deduplicated and ascending.

    NaNs are ignored (they get their own bin in `psi_numeric`). A reference with many equal values
    yields fewer edges, hence fewer bins, rather than empty bins of zero width. With no finite values or
    `bins == 1` there are no interior edges: one bin holds every number.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    values = np.asarray(reference, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if len(values) == 0 or bins == 1:
        return np.empty(0, dtype=np.float64)
    return np.unique(np.quantile(values, np.arange(1, bins) / bins))


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin: len(edges) + 1 numeric bins, then one NaN bin.

    Bins are closed on the right, (edge[i-1], edge[i]]: an edge is a quantile q with P(X <= q) >= its
    level, so a reference heavy at its minimum keeps that mass in the first bin rather than the second.
    Infinities fall in the outermost bins.
    """
    missing = np.isnan(values)
    index = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return np.append(counts, np.count_nonzero(missing))


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """PSI of a numeric sample against a reference, on `bins` quantile bins of the reference plus a NaN bin.

    The NaN bin is always present; when neither side has NaNs it contributes exactly 0.
    """
    reference_values = np.asarray(reference, dtype=np.float64).ravel()
    current_values = np.asarray(current, dtype=np.float64).ravel()
    if len(reference_values) == 0 or len(current_values) == 0:
        raise ValueError(
            f"PSI needs values on both sides; got {len(reference_values)} reference and {len(current_values)} current"
        )
    edges = quantile_edges(reference_values, bins)
    return psi_from_counts(_numeric_counts(reference_values, edges), _numeric_counts(current_values, edges), eps=eps)


class _Missing:
    """The one key every missing value (None, NaN, pd.NA, NaT) is counted under."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _category_counts(values: Sequence[object]) -> pd.Series:
    # object dtype keeps mixed values as they are; pandas would keep None and NaN as separate keys, and
    # NaN != NaN would split them further, so every missing value is first mapped to one sentinel.
    series = pd.Series(list(values), dtype=object)
    series[series.isna()] = _MISSING
    return series.value_counts(sort=False)


def psi_categorical(reference: Sequence[object], current: Sequence[object], eps: float = 1e-4) -> float:
    """PSI of categories: one bin per category seen in the reference, plus one for everything unseen.

    Missing values (None, NaN) form one category of their own. A current sample full of categories the
    reference never had lands in the "unseen" bin, which the reference holds at the eps floor, so new
    categories raise PSI rather than vanish.
    """
    reference_counts = _category_counts(reference)
    current_counts = _category_counts(current)
    if reference_counts.sum() == 0 or current_counts.sum() == 0:
        raise ValueError(
            f"PSI needs values on both sides; got {int(reference_counts.sum())} reference and "
            f"{int(current_counts.sum())} current"
        )
    aligned = current_counts.reindex(reference_counts.index, fill_value=0)
    unseen = int(current_counts.sum() - aligned.sum())
    return psi_from_counts(
        np.append(reference_counts.to_numpy(dtype=np.float64), 0.0),
        np.append(aligned.to_numpy(dtype=np.float64), float(unseen)),
        eps=eps,
    )
