"""Input and prediction drift: each feature and the prediction scores against a reference profile, by PSI.

`build_reference_profile` bins every feature of a reference window once (numeric: bins at the reference's
quantiles, the edges `psi.quantile_edges` gives, plus a NaN bin; categorical: the reference's categories plus a
missing and an unseen bin) and keeps the counts, as a `ReferenceProfile` that round-trips through JSON.
`drift_report` bins a current window on those same bins (`bin_counts`) and judges each column with
`psi.psi_from_counts`; the drift assets and sensors in `platform_assets` call it, and
`platform_assets.monitoring.health` uses the same profile for the production-health input PSI.
`evidently_drift_html` renders evidently's data-drift report on a sample of both sides, for people to look at;
the decisions are made here, not by evidently.

PSI is biased upward on small samples: a current window drawn from the reference itself scores above 0, and
the fewer its rows, the higher. So a column drifts only when its PSI exceeds both the spec's threshold and the
`critical_psi`, the PSI that `quantile` of no-drift windows of the same size stay below (multinomial draws from
the reference's bin proportions). A window with fewer than `DriftSpec.min_rows` rows is not judged at all.

The reference is binned from one sort per numeric column (the quantiles and the counts both come from it) and
the current window by one comparison per edge, never by `np.searchsorted` over the raw values, which is several
times slower; categories are counted with one hash pass (`value_counts`). See benchmarks/README.md, "Drift".
"""

from __future__ import annotations

import math
import os
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from platform_assets.monitoring.psi import psi_from_counts, quantile_edges
from platform_assets.spec import DriftSpec

__all__ = [
    "SCORE_COLUMN",
    "BinnedProfile",
    "ColumnDrift",
    "DriftResult",
    "ReferenceProfile",
    "bin_counts",
    "build_reference_profile",
    "critical_psi",
    "drift_report",
    "evidently_drift_html",
]

SCORE_COLUMN = "prediction score"  # the name the output goes by in a DriftResult

# psi_from_counts's default floor for empty bins; critical_psi must compute PSI exactly as drift_report does.
_EPS = 1e-4
# Up to this many edges a current column is binned by one comparison pass per edge (about 0.3 ms per edge per
# million values); beyond it one sort (about 17 ms per million) is cheaper.
_MAX_COMPARISON_EDGES = 24
# Columns of at least this many values are profiled on two threads: np.sort releases the GIL.
_THREADED_ROWS = 200_000

Kind = Literal["numeric", "categorical"]
_T = TypeVar("_T")
_R = TypeVar("_R")
Verdict = Literal["drift", "stable", "too small"]


# ------------------------------------------------------------------------------------------------ profile


@dataclass(frozen=True)
class BinnedProfile:
    """One column's reference bins and counts (the bins are fixed on the reference).

    numeric: `edges` are the interior edges from `psi.quantile_edges`, bins are closed on the right as in
    `psi.psi_numeric`, and `counts` holds len(edges) + 1 bins then a NaN bin. categorical: `categories` are the
    reference's categories (as strings, sorted), and `counts` holds one bin per category, then missing values,
    then unseen categories (0 in the reference).
    """

    kind: Kind
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind == "numeric":
            if self.categories:
                raise ValueError("a numeric profile has edges, not categories")
            edges = np.asarray(self.edges, dtype=np.float64)
            if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
                raise ValueError(f"numeric edges must be finite and strictly increasing, got {self.edges}")
            expected = len(self.edges) + 2
        elif self.kind == "categorical":
            if self.edges:
                raise ValueError("a categorical profile has categories, not edges")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"categories repeat: {self.categories}")
            expected = len(self.categories) + 2
        else:
            raise ValueError(f"kind must be 'numeric' or 'categorical', got {self.kind!r}")
        if len(self.counts) != expected:
            raise ValueError(
                f"a {self.kind} profile with {len(self.edges) or len(self.categories)} "
                f"{'edges' if self.kind == 'numeric' else 'categories'} needs {expected} counts, got {len(self.counts)}"
            )
        if any(count < 0 for count in self.counts):
            raise ValueError(f"counts must be non-negative, got {self.counts}")

    @property
    def rows(self) -> int:
        """Values counted, missing ones included."""
        return int(sum(self.counts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "edges": [float(edge) for edge in self.edges],
            "categories": [str(category) for category in self.categories],
            "counts": [int(count) for count in self.counts],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BinnedProfile:
        return cls(
            kind=d["kind"],
            edges=tuple(float(edge) for edge in d.get("edges", ())),
            categories=tuple(str(category) for category in d.get("categories", ())),
            counts=tuple(int(count) for count in d["counts"]),
        )


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference window's bins and counts for every feature and, when given, the prediction scores."""

    window: tuple[str, ...]
    rows: int
    columns: dict[str, BinnedProfile]
    scores: BinnedProfile | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": list(self.window),
            "rows": int(self.rows),
            "columns": {name: profile.to_dict() for name, profile in self.columns.items()},
            "scores": None if self.scores is None else self.scores.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceProfile:
        scores = d.get("scores")
        return cls(
            window=tuple(str(day) for day in d.get("window", ())),
            rows=int(d["rows"]),
            columns={str(name): BinnedProfile.from_dict(column) for name, column in d["columns"].items()},
            scores=None if scores is None else BinnedProfile.from_dict(scores),
        )


def _raw_values(values: np.ndarray | pd.Series) -> np.ndarray:
    """The values as a one-dimensional numpy array, without a copy when they already are one."""
    if isinstance(values, pd.Series):
        dtype = values.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
            return values.to_numpy(copy=False)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable and object columns
    array = np.asarray(values)
    if array.dtype.kind in "fiub":
        return array.ravel()
    return pd.Series(array.ravel()).to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_array(values: np.ndarray | pd.Series, name: str) -> np.ndarray:
    try:
        return _raw_values(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"numeric column {name!r} has values that are not numbers ({exc})") from exc


def _cumulative_to_counts(at_most: np.ndarray, present: int, missing: int) -> np.ndarray:
    """Bin counts from the number of present values <= each edge (bins closed on the right), then the NaN bin."""
    cumulative = np.concatenate(([0], np.asarray(at_most, dtype=np.int64), [present]))
    return np.append(np.diff(cumulative), missing).astype(np.int64)


def _sorted_present(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The non-NaN values sorted ascending as float64, and how many were NaN."""
    if values.dtype.kind == "b":
        values = values.astype(np.int8)
    if values.dtype.kind in "iu":
        # Integers have no NaN and sort by radix, about 4x faster than the same values as floats.
        return np.sort(values).astype(np.float64), 0
    values = values.astype(np.float64, copy=False)
    missing = int(np.count_nonzero(np.isnan(values)))
    ordered = np.sort(values)  # NaNs sort to the end
    return ordered[: len(ordered) - missing], missing


def _sorted_quantile_edges(ordered: np.ndarray, bins: int) -> np.ndarray:
    """`psi.quantile_edges` of values already sorted (NaN-free), read off the sorted array.

    The same arithmetic as np.quantile's default "linear" method (virtual index (n - 1) * q, then its `_lerp`),
    which `quantile_edges` calls: the tests assert that the edges are identical. np.quantile would partition
    the whole column again, which on sorted columns with many ties costs more than the sort itself.
    """
    finite = ordered
    if len(ordered) and not (np.isfinite(ordered[0]) and np.isfinite(ordered[-1])):
        # Infinities sit at the ends of the sorted values; quantile_edges ignores them.
        finite = ordered[np.searchsorted(ordered, -np.inf, side="right") : np.searchsorted(ordered, np.inf)]
    count = len(finite)
    if count == 0 or bins == 1:
        return quantile_edges(finite, bins)  # no edges, and the same argument checks
    levels = np.arange(1, bins) / bins
    virtual = (count - 1) * levels
    previous = np.floor(virtual)
    following = previous + 1
    at_end = virtual >= count - 1
    previous[at_end] = following[at_end] = count - 1
    low = finite[previous.astype(np.intp)]
    high = finite[following.astype(np.intp)]
    gamma = virtual - previous
    difference = high - low
    values = np.where(gamma >= 0.5, high - difference * (1 - gamma), low + difference * gamma)
    return np.unique(values)


def _numeric_profile(values: np.ndarray, bins: int) -> BinnedProfile:
    present, missing = _sorted_present(values)
    edges = _sorted_quantile_edges(present, bins)
    at_most = np.searchsorted(present, edges, side="right")
    counts = _cumulative_to_counts(at_most, len(present), missing)
    return BinnedProfile("numeric", tuple(float(edge) for edge in edges), (), tuple(int(c) for c in counts))


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts on the profile's numeric bins (as `psi._numeric_counts`, which uses np.searchsorted)."""
    if len(edges) > _MAX_COMPARISON_EDGES:
        present, missing = _sorted_present(values)
        return _cumulative_to_counts(np.searchsorted(present, edges, side="right"), len(present), missing)
    thresholds: np.ndarray = edges
    if values.dtype.kind == "i" and len(edges) and np.abs(edges).max() < 2.0**62:
        # For an integer x, x > e exactly when x > floor(e); integer comparisons are about 3x faster than
        # comparing integers with floats.
        thresholds = np.floor(edges).astype(np.int64)
    elif values.dtype.kind in "ub":
        values = values.astype(np.float64)
    missing = 0 if values.dtype.kind == "i" else int(np.count_nonzero(np.isnan(values)))
    present = len(values) - missing
    # NaN > edge is False, so every count below is of present values.
    at_most = present - np.array([np.count_nonzero(values > edge) for edge in thresholds.tolist()], dtype=np.int64)
    return _cumulative_to_counts(at_most, present, missing)


def _value_counts(values: np.ndarray | pd.Series) -> tuple[dict[str, int], int]:
    """Counts per category (as a string) and the number of missing values (None, NaN, pd.NA, NaT)."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object).ravel())
    counts: dict[str, int] = {}
    missing = 0
    for key, count in series.value_counts(dropna=False, sort=False).items():
        if count == 0:
            continue  # a pandas Categorical lists its unused categories
        if pd.isna(key):
            missing += int(count)
        else:
            label = str(key)
            counts[label] = counts.get(label, 0) + int(count)
    return counts, missing


def _categorical_profile(values: np.ndarray | pd.Series) -> BinnedProfile:
    counts, missing = _value_counts(values)
    categories = tuple(sorted(counts))
    return BinnedProfile("categorical", (), categories, (*(counts[c] for c in categories), missing, 0))


def _categorical_counts(profile: BinnedProfile, values: np.ndarray | pd.Series) -> np.ndarray:
    counts, missing = _value_counts(values)
    binned = np.zeros(len(profile.categories) + 2, dtype=np.int64)
    position = {category: index for index, category in enumerate(profile.categories)}
    for category, count in counts.items():
        binned[position.get(category, len(profile.categories) + 1)] += count
    binned[len(profile.categories)] = missing
    return binned


def bin_counts(profile: BinnedProfile, values: np.ndarray | pd.Series) -> np.ndarray:
    """The current values' counts on the profile's bins, in the profile's order (same length as its counts)."""
    if profile.kind == "categorical":
        return _categorical_counts(profile, values)
    return _numeric_counts(_numeric_array(values, "values"), np.asarray(profile.edges, dtype=np.float64))


def _check_columns(frame: pd.DataFrame, wanted: Sequence[str], what: str) -> None:
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise ValueError(
            f"the {what} frame lacks column(s) {missing}; it has {[str(c) for c in frame.columns]}. "
            "Pass a frame with every profiled feature."
        )


def _score_values(scores: np.ndarray | pd.Series) -> np.ndarray:
    return _numeric_array(scores, SCORE_COLUMN)


def _map(function: Callable[[_T], _R], items: Sequence[_T], rows: int) -> list[_R]:
    """`function` over the items in order; on two threads for large columns.

    Sorting, comparisons and counting release the GIL, so a second thread does real work (and value counts of
    strings, which hold it, overlap with the other thread's sorts).
    """
    workers = min(2, os.cpu_count() or 1, len(items))
    if rows < _THREADED_ROWS or workers < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def build_reference_profile(
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    bins: int,
    scores: np.ndarray | None = None,
    window: Sequence[str] = (),
) -> ReferenceProfile:
    """Bin and count every feature of the reference window (numeric ones first, each group in the order given).

    `scores` are the model's prediction scores over the same window (optional; without them `drift_report`
    cannot judge the output); they need not be aligned with the frame's rows (e.g. the scores of the prediction
    log). `window` names the reference's event days, for the record.
    """
    overlap = sorted(set(numeric) & set(categorical))
    if overlap:
        raise ValueError(f"column(s) {overlap} are listed as both numeric and categorical")
    repeated = sorted({name for name in [*numeric, *categorical] if [*numeric, *categorical].count(name) > 1})
    if repeated:
        raise ValueError(f"column(s) {repeated} are listed more than once")
    _check_columns(frame, [*numeric, *categorical], "reference")
    if len(frame) == 0:
        raise ValueError("the reference frame has no rows; a profile needs at least one value per column")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    score_values = None if scores is None else _score_values(scores)
    if score_values is not None and len(score_values) == 0:
        raise ValueError("the reference scores are empty; pass scores=None to build a profile without the output")

    tasks: list[tuple[str, Kind, np.ndarray | pd.Series]] = [
        *((name, "numeric", _numeric_array(frame[name], name)) for name in numeric),
        *((name, "categorical", frame[name]) for name in categorical),
    ]
    if score_values is not None:
        tasks.append((SCORE_COLUMN, "numeric", score_values))

    def profile_of(task: tuple[str, Kind, np.ndarray | pd.Series]) -> BinnedProfile:
        _, kind, values = task
        if kind == "numeric":
            return _numeric_profile(np.asarray(values), bins)
        return _categorical_profile(values)

    profiles = dict(zip((name for name, _, _ in tasks), _map(profile_of, tasks, len(frame)), strict=True))
    score_profile = profiles.pop(SCORE_COLUMN) if score_values is not None else None
    return ReferenceProfile(
        window=tuple(str(day) for day in window), rows=len(frame), columns=profiles, scores=score_profile
    )


# ------------------------------------------------------------------------------------------ critical value


def _psi_rows(reference_counts: np.ndarray, current_counts: np.ndarray) -> np.ndarray:
    """`psi_from_counts` of each row of `current_counts` against the same row of `reference_counts`, vectorised."""
    reference = np.maximum(reference_counts / reference_counts.sum(axis=-1, keepdims=True), _EPS)
    current = np.maximum(current_counts / current_counts.sum(axis=-1, keepdims=True), _EPS)
    return np.sum((current - reference) * np.log(current / reference), axis=-1)


def critical_psi(reference_counts: np.ndarray, rows: int, quantile: float, *, draws: int = 200, seed: int = 0) -> float:
    """The PSI that `quantile` of no-drift windows of `rows` values stay below.

    Both sides of a PSI are samples: the reference window as much as the current one. So each of `draws` no-drift
    pairs draws a reference of the reference's size and a window of `rows` values, both multinomial from the
    reference's bin proportions (a world that has NOT drifted), and the `quantile` of their PSI (computed as
    `psi_from_counts` does) is returned. With a reference much larger than the window this is the window's own
    sampling noise; with one of similar size it is about twice that. Deterministic for a seed.
    """
    counts = np.asarray(reference_counts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0 or (counts < 0).any() or not np.isfinite(counts).all():
        raise ValueError(f"reference_counts must be one-dimensional, finite and non-negative, got {reference_counts}")
    if counts.sum() <= 0:
        raise ValueError("reference_counts hold no values; a critical value needs a reference")
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    proportions = counts / counts.sum()
    rng = np.random.default_rng(seed)
    references = rng.multinomial(int(counts.sum()), proportions, size=draws).astype(np.float64)
    windows = rng.multinomial(int(rows), proportions, size=draws).astype(np.float64)
    return float(np.quantile(_psi_rows(references, windows), quantile))


# ---------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict on one feature, or on the prediction scores (`column == SCORE_COLUMN`, `kind == "score"`)."""

    column: str
    kind: str  # "numeric" | "categorical" | "score"
    critical: bool  # a critical feature or the output: drift here triggers retraining
    rows: int  # current values judged, missing ones included (they have a bin of their own)
    psi: float | None  # None when the window is too small
    critical_value: float | None
    threshold: float
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class DriftResult:
    """Every column's verdict: features in profile order, then the output when scores were given."""

    columns: tuple[ColumnDrift, ...]
    rows: int
    min_rows: int = 0  # the spec's min_rows the window was held to

    @property
    def drifted_critical(self) -> tuple[str, ...]:
        """Critical columns (the output included) whose verdict is drift: the retraining trigger."""
        return tuple(column.column for column in self.columns if column.critical and column.verdict == "drift")

    @property
    def too_small(self) -> bool:
        """The window had fewer than the spec's min_rows rows, so nothing was judged."""
        return self.rows < self.min_rows

    def to_frame(self) -> pd.DataFrame:
        fields = list(ColumnDrift.__dataclass_fields__)
        return pd.DataFrame([asdict(column) for column in self.columns], columns=fields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": int(self.rows),
            "min_rows": int(self.min_rows),
            "too_small": self.too_small,
            "drifted_critical": list(self.drifted_critical),
            "columns": [
                {
                    **asdict(column),
                    "rows": int(column.rows),
                    "psi": _json_float(column.psi),
                    "critical_value": _json_float(column.critical_value),
                    "threshold": float(column.threshold),
                }
                for column in self.columns
            ],
        }

    def to_markdown(self) -> str:
        if self.too_small:
            summary = f"{self.rows:,} rows, fewer than the {self.min_rows:,} needed: not judged."
        elif self.drifted_critical:
            summary = f"{self.rows:,} rows. Drift in critical columns: {', '.join(self.drifted_critical)}."
        else:
            summary = f"{self.rows:,} rows. No critical column has drifted."
        lines = [
            summary,
            "",
            "| column | kind | critical | rows | PSI | no-drift critical value | threshold | verdict | reason |",
            "|---|---|---|--:|--:|--:|--:|---|---|",
        ]
        for column in self.columns:
            verdict = f"**{column.verdict}**" if column.verdict == "drift" else column.verdict
            lines.append(
                f"| {column.column} | {column.kind} | {'yes' if column.critical else 'no'} | {column.rows:,} "
                f"| {_number(column.psi)} | {_number(column.critical_value)} | {_number(column.threshold)} "
                f"| {verdict} | {column.reason} |"
            )
        return "\n".join(lines)


def _json_float(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _number(value: float | None) -> str:
    """0.41, 0.20, 0.013, 0.00042: two decimals from 0.1 up, two significant digits below."""
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def _judge(
    column: str,
    kind: str,
    critical: bool,
    reference: BinnedProfile,
    current: np.ndarray,
    threshold: float,
    spec: DriftSpec,
    seed: int,
) -> ColumnDrift:
    rows = int(current.sum())
    psi = psi_from_counts(np.asarray(reference.counts, dtype=np.float64), current, eps=_EPS)
    critical_value = critical_psi(np.asarray(reference.counts), rows, spec.critical_quantile, seed=seed)
    at = f"no-drift critical value {_number(critical_value)} at {rows:,} rows"
    if psi > threshold and psi > critical_value:
        verdict: Verdict = "drift"
        reason = f"PSI {_number(psi)} > threshold {_number(threshold)} and > {at}"
    elif psi > threshold:
        verdict = "stable"
        reason = f"PSI {_number(psi)} > threshold {_number(threshold)} but <= {at}: within sampling noise"
    else:
        verdict = "stable"
        reason = f"PSI {_number(psi)} <= threshold {_number(threshold)} ({at})"
    return ColumnDrift(column, kind, critical, rows, float(psi), float(critical_value), threshold, verdict, reason)


def drift_report(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    spec: DriftSpec,
    *,
    critical: Sequence[str],
    scores: np.ndarray | None = None,
    seed: int = 0,
) -> DriftResult:
    """Judge every profiled feature, and the prediction scores when given, of `current` against the reference.

    A column drifts when its PSI exceeds both its threshold (`spec.feature_psi` for features, `spec.output_psi`
    for the output) and its no-drift critical value at the window's size (`critical_psi` at
    `spec.critical_quantile`, the same `seed` for every column). A window of fewer than `spec.min_rows` rows is
    "too small" in every column. `critical` names the critical features; the output is always critical.
    `scores` are the prediction scores over the same window; they need not be aligned with `current`'s rows (the
    served predictions of a day, say), and fewer than `spec.min_rows` of them make the output alone "too small".
    """
    _check_columns(current, list(profile.columns), "current")
    unknown = sorted(set(critical) - set(profile.columns))
    if unknown:
        raise ValueError(f"critical feature(s) {unknown} are not in the reference profile {list(profile.columns)}")
    if scores is not None and profile.scores is None:
        raise ValueError(
            "scores were given but the reference profile has no prediction scores (it was built without them), "
            "so the output cannot be compared; rebuild the profile with scores, or call drift_report without them"
        )
    rows = len(current)
    score_values = None if scores is None else _score_values(scores)
    judged: list[tuple[str, str, bool, BinnedProfile, float]] = [
        (name, column.kind, name in critical, column, spec.feature_psi) for name, column in profile.columns.items()
    ]
    if score_values is not None and profile.scores is not None:
        judged.append((SCORE_COLUMN, "score", True, profile.scores, spec.output_psi))

    if rows < spec.min_rows:
        reason = f"window of {rows:,} rows < min_rows {spec.min_rows:,}: too small to judge"
        columns = tuple(
            ColumnDrift(name, kind, is_critical, rows, None, None, threshold, "too small", reason)
            for name, kind, is_critical, _, threshold in judged
        )
        return DriftResult(columns, rows, spec.min_rows)

    too_few_scores: ColumnDrift | None = None
    if score_values is not None and len(score_values) < spec.min_rows:
        # The scores are a sample of their own (e.g. the served predictions of the window): too few is judged
        # like a small window, for the output alone.
        too_few_scores = ColumnDrift(
            SCORE_COLUMN,
            "score",
            True,
            len(score_values),
            None,
            None,
            spec.output_psi,
            "too small",
            f"{len(score_values):,} scores < min_rows {spec.min_rows:,}: too small to judge",
        )
        judged = judged[:-1]

    def values_of(name: str) -> np.ndarray | pd.Series:
        return current[name] if score_values is None or name != SCORE_COLUMN else score_values

    counts = _map(lambda item: bin_counts(item[3], values_of(item[0])), judged, rows)
    columns = tuple(
        _judge(name, kind, is_critical, reference, current_counts, threshold, spec, seed)
        for (name, kind, is_critical, reference, threshold), current_counts in zip(judged, counts, strict=True)
    )
    if too_few_scores is not None:
        columns = (*columns, too_few_scores)
    return DriftResult(columns, rows, spec.min_rows)


# ----------------------------------------------------------------------------------------------- evidently


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    positions = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[positions].reset_index(drop=True)


def evidently_drift_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    path: Path,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    sample_rows: int,
    seed: int = 0,
) -> Path:
    """evidently's `DataDriftPreset` report (its default tests) on a seeded sample of both sides, as HTML.

    At most `sample_rows` rows per side, drawn without replacement and kept in their order. The file is written
    under a temporary name in the same directory and renamed into place, so a reader never sees half a report.
    Returns `path`. The report is for people; the platform's verdicts come from `drift_report`.
    """
    # evidently takes seconds to import (up to 15 s on a busy machine); only this function needs it.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    if sample_rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {sample_rows}")
    columns = [*numeric, *categorical]
    _check_columns(reference, columns, "reference")
    _check_columns(current, columns, "current")
    if len(reference) == 0 or len(current) == 0:
        raise ValueError(f"the evidently report needs rows on both sides; got {len(reference)} and {len(current)}")
    definition = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))
    sides = [
        Dataset.from_pandas(_sample(frame[columns], sample_rows, seed + offset), data_definition=definition)
        for offset, frame in enumerate((reference, current))
    ]
    with warnings.catch_warnings():
        # scipy's chi-square divides by zero for a category one side lacks; evidently handles the result.
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"scipy\.")
        snapshot = Report([DataDriftPreset()]).run(sides[1], sides[0])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.parent / f".tmp-{uuid.uuid4().hex}-{path.name}"
    try:
        snapshot.save_html(str(staged))
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    return path
