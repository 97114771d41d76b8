"""Realised performance: how the served models score on predictions whose (delayed) labels have arrived.

This module defines the plain functions the decay monitoring and the canary's A/B evidence are built on:

- `join_labels`: prediction-log rows (`serving.prediction_log.read_predictions`) joined with the labels that have
  arrived. The log's `request_id` is the entity id (the parcel's tracking id), so labels join on it; predictions
  that failed or carry no score, and predictions whose label has not arrived, drop out.
- `realised_performance`: one `GroupPerformance` per (model version, role), with the same metrics the evaluation
  suite reports (`platform_assets.evaluation.metrics.classification_metrics`), judged only on at least
  `PerformanceSpec.min_labelled` rows holding both classes.
- `ab_comparison`: the treatment role's realised AUC minus the control role's, with a bootstrap interval. The two
  roles serve different requests (the router splits traffic by a hash of the unit id), so the groups are resampled
  independently and the interval is the percentile interval of the paired draws' differences.
- `performance_markdown`: both as a markdown table for asset metadata.

Everything is pure: frames in, frozen dataclasses and strings out. The Dagster assets and sensors that read the
lake and act on these results live elsewhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from platform_assets.evaluation.metrics import classification_metrics, rank_auc, resampled_metric_values
from platform_assets.keys import ALIAS_CANARY, ALIAS_CHAMPION

__all__ = [
    "LABEL",
    "ABComparison",
    "GroupPerformance",
    "ab_comparison",
    "join_labels",
    "performance_markdown",
    "realised_performance",
]

LABEL = "label"  # the integer 0/1 column `join_labels` adds

Verdict = Literal["treatment better", "treatment worse", "within noise", "not enough labels"]

# A bootstrap chunk holds at most this many row indices (8 MB of int64), whatever the group size.
_BOOTSTRAP_CHUNK_ELEMENTS = 1_000_000
_NONE = "n/a"


# ------------------------------------------------------------------------------------------------- join


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} has no column(s) {missing}; it has {sorted(map(str, frame.columns))}")


def _binary_labels(values: pd.Series, column: str) -> pd.Series:
    """`values` (no nulls) as int64 0/1, or ValueError naming the column and the values that are not 0/1."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(np.int64)
    if pd.api.types.is_numeric_dtype(values):
        bad = values[~values.isin((0, 1))]
    else:
        # Object columns: only Python/numpy numbers and booleans equal to 0 or 1 count; the string "1" does not.
        def is_binary(value: object) -> bool:
            return isinstance(value, bool | int | float | np.number | np.bool_) and value in (0, 1)

        bad = values[~values.map(is_binary).astype(bool)]
    if len(bad):
        shown = sorted({repr(value) for value in bad.tolist()})[:10]
        raise ValueError(
            f"label column {column!r} must hold only 0/1 (or booleans); {len(bad):,} value(s) do not: "
            f"{', '.join(shown)}"
        )
    return values.astype(np.int64)


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame, *, id_column: str, label_column: str) -> pd.DataFrame:
    """Prediction-log rows whose label has arrived, with the label as an integer 0/1 column `label`.

    An inner join on `predictions.request_id == labels[id_column]` (both compared as strings, so an integer id in
    the labels still meets the log's string request id). Prediction rows with an error or a null/NaN score drop
    out, as do labels that are null (not arrived yet). One label row per id is expected; repeated identical rows
    are harmless, while one id labelled both 0 and 1 raises ValueError naming the ids. A request scored by several
    models (served and shadow) keeps one row per model. A label column holding anything but 0/1 or booleans raises
    ValueError naming the column and the bad values; a missing column raises ValueError naming it.
    """
    _require(predictions, ("request_id", "score", "error"), "the prediction log")
    _require(labels, (id_column, label_column), "the labels frame")
    if LABEL in predictions.columns:
        raise ValueError(f"the prediction log already has a {LABEL!r} column; join the raw log, not a joined frame")

    arrived = labels.loc[labels[id_column].notna() & labels[label_column].notna(), [id_column, label_column]]
    keyed = pd.DataFrame(
        {
            "_key": arrived[id_column].astype(str).to_numpy(),
            LABEL: _binary_labels(arrived[label_column], label_column).to_numpy(),
        }
    ).drop_duplicates()
    conflicting = keyed["_key"][keyed["_key"].duplicated()]
    if len(conflicting):
        shown = sorted(conflicting.unique())[:5]
        raise ValueError(
            f"{conflicting.nunique():,} id(s) in labels column {id_column!r} carry both 0 and 1 in "
            f"{label_column!r}, e.g. {shown}; deduplicate the labels before joining"
        )

    error = predictions["error"]
    failed = error.notna() & (error.astype(str) != "")
    usable = predictions.loc[~failed & predictions["score"].notna() & predictions["request_id"].notna()]
    joined = usable.assign(_key=usable["request_id"].astype(str)).merge(keyed, on="_key", how="inner", sort=False)
    joined = joined.drop(columns="_key").reset_index(drop=True)
    joined[LABEL] = joined[LABEL].astype(np.int64)
    return joined


# ---------------------------------------------------------------------------------------- per group


@dataclass(frozen=True)
class GroupPerformance:
    """Realised performance of one model version in one role; metrics are None when the group is not judged."""

    model_version: str
    role: str
    labelled: int
    positives: int
    auc: float | None
    f1: float | None
    precision: float | None
    recall: float | None
    calibration_ece: float | None
    brier: float | None
    mean_score: float | None
    judged: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _version_key(version: str) -> tuple[int, int, str]:
    # Registry versions are integers: "10" sorts after "9".
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _check_min_labelled(min_labelled: int) -> None:
    if min_labelled < 1:
        raise ValueError(f"min_labelled must be at least 1, got {min_labelled}")


def _judgeable(labelled: int, positives: int, min_labelled: int) -> str | None:
    """Why a group of `labelled` rows cannot be judged, or None when it can."""
    if labelled < min_labelled:
        return f"only {labelled:,} labelled predictions (< {min_labelled:,})"
    if positives in (0, labelled):
        only = "positive" if positives else "negative"
        return f"all {labelled:,} labelled predictions are {only}; AUC needs both classes"
    return None


def _group_performance(
    version: str, role: str, labels: np.ndarray, scores: np.ndarray, threshold: float, min_labelled: int
) -> GroupPerformance:
    labelled = len(labels)
    positives = int(labels.sum())
    mean_score = float(scores.mean()) if labelled else None
    problem = _judgeable(labelled, positives, min_labelled)
    if problem is not None:
        return GroupPerformance(
            model_version=version,
            role=role,
            labelled=labelled,
            positives=positives,
            auc=None,
            f1=None,
            precision=None,
            recall=None,
            calibration_ece=None,
            brier=None,
            mean_score=mean_score,
            judged=False,
            reason=problem,
        )
    metrics = classification_metrics(labels, scores, threshold)
    return GroupPerformance(
        model_version=version,
        role=role,
        labelled=labelled,
        positives=positives,
        auc=metrics["auc_roc"],
        f1=metrics["f1"],
        precision=metrics["precision"],
        recall=metrics["recall"],
        calibration_ece=metrics["calibration_ece"],
        brier=metrics["brier"],
        mean_score=mean_score,
        judged=True,
        reason=f"judged on {labelled:,} labelled predictions",
    )


def _scored_frame(labelled: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    _require(labelled, ("model_version", "role", "score", LABEL, *extra), "the labelled predictions")
    for column in ("model_version", "role"):
        if labelled[column].isna().any():
            raise ValueError(
                f"{int(labelled[column].isna().sum()):,} labelled prediction(s) have no {column}; every logged "
                "prediction names the model version and role that made it"
            )
    return labelled


def realised_performance(
    labelled: pd.DataFrame, *, threshold: float, min_labelled: int
) -> tuple[GroupPerformance, ...]:
    """One `GroupPerformance` per (model_version, role) of `join_labels` output, sorted by role then version.

    A group is judged on its rows when it has at least `min_labelled` of them and both classes; its metrics are
    then exactly `classification_metrics` on those rows (F1, precision and recall at `threshold`). Otherwise every
    metric is None and `reason` says why; `mean_score` is reported either way. Served and shadow rows alike count,
    since a shadow's realised performance is the point of running it. An empty frame gives an empty tuple.
    """
    _check_min_labelled(min_labelled)
    frame = _scored_frame(labelled)
    groups = []
    for (version, role), group in frame.groupby(["model_version", "role"], sort=False):
        groups.append(
            _group_performance(
                str(version),
                str(role),
                group[LABEL].to_numpy(dtype=np.float64),
                group["score"].to_numpy(dtype=np.float64),
                threshold,
                min_labelled,
            )
        )
    return tuple(sorted(groups, key=lambda g: (g.role, _version_key(g.model_version))))


# ---------------------------------------------------------------------------------------------- A/B


@dataclass(frozen=True)
class ABComparison:
    """Treatment minus control on realised AUC, with a bootstrap interval and the verdict it supports."""

    control_version: str
    treatment_version: str
    metric: str
    control: float | None
    treatment: float | None
    difference: float | None
    low: float | None
    high: float | None
    confidence: float
    verdict: Verdict
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _current_version(rows: pd.DataFrame) -> str:
    """The version that served a role most recently (a role changes hands at most a few times in a window)."""
    if "event_time" in rows.columns and rows["event_time"].notna().any():
        return str(rows.loc[rows["event_time"].idxmax(), "model_version"])
    return str(rows["model_version"].value_counts().idxmax())


def _bootstrap_auc(labels: np.ndarray, scores: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """AUC on `resamples` draws (with replacement) of the group's rows, in chunks of bounded memory."""
    rows = len(labels)
    chunk = max(1, min(resamples, _BOOTSTRAP_CHUNK_ELEMENTS // rows))
    values = []
    for start in range(0, resamples, chunk):
        draws = rng.integers(0, rows, size=(min(chunk, resamples - start), rows), dtype=np.int64)
        values.append(resampled_metric_values("auc_roc", labels, scores, draws))
    return np.concatenate(values)


def ab_comparison(
    labelled: pd.DataFrame,
    *,
    control_role: str = ALIAS_CHAMPION,
    treatment_role: str = ALIAS_CANARY,
    confidence: float,
    min_labelled: int,
    resamples: int = 1_000,
    seed: int = 0,
) -> ABComparison | None:
    """Realised AUC of the treatment role minus the control role on served, labelled rows; None if a role is absent.

    Only rows with `served == True` count: they are the A/B split, while shadow rows score requests the champion
    answered. When a role changed hands within the window, the version that served it most recently is compared
    (on its own rows). Each role needs at least `min_labelled` labelled rows holding both classes, else the verdict
    is "not enough labels" and no difference is given.

    The two groups are different requests, so each is bootstrapped on its own (`resamples` draws with replacement
    from independent streams of one seed) and the k-th treatment draw is paired with the k-th control draw; the
    interval is the percentile interval of those differences at `confidence`. Draws holding one class have no AUC
    and are left out. The verdict is "treatment better" when the interval lies above 0, "treatment worse" when it
    lies below 0, else "within noise". Requests are resampled as independent rows; when one unit sends many
    requests the interval is somewhat too narrow. Deterministic for a seed.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    _check_min_labelled(min_labelled)
    frame = _scored_frame(labelled, ("served",))
    served = frame[frame["served"].eq(True).fillna(False).astype(bool)]
    control_rows = served[served["role"] == control_role]
    treatment_rows = served[served["role"] == treatment_role]
    if control_rows.empty or treatment_rows.empty:
        return None
    control_version = _current_version(control_rows)
    treatment_version = _current_version(treatment_rows)
    groups = {}
    problems = []
    for name, role, rows, version in (
        ("control", control_role, control_rows, control_version),
        ("treatment", treatment_role, treatment_rows, treatment_version),
    ):
        rows = rows[rows["model_version"].astype(str) == version]
        y = rows[LABEL].to_numpy(dtype=np.float64)
        p = rows["score"].to_numpy(dtype=np.float64)
        problem = _judgeable(len(y), int(y.sum()), min_labelled)
        if problem is not None:
            problems.append(f"{role} version {version}: {problem.replace('predictions', 'served predictions', 1)}")
        groups[name] = (y, p, None if problem else rank_auc(y, p))

    common = {
        "control_version": control_version,
        "treatment_version": treatment_version,
        "metric": "auc_roc",
        "control": groups["control"][2],
        "treatment": groups["treatment"][2],
        "confidence": confidence,
    }
    if problems:
        return ABComparison(
            **common, difference=None, low=None, high=None, verdict="not enough labels", reason="; ".join(problems)
        )

    control_stream, treatment_stream = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    control_draws = _bootstrap_auc(groups["control"][0], groups["control"][1], resamples, control_stream)
    treatment_draws = _bootstrap_auc(groups["treatment"][0], groups["treatment"][1], resamples, treatment_stream)
    differences = treatment_draws - control_draws
    differences = differences[np.isfinite(differences)]
    if len(differences) == 0:
        return ABComparison(
            **common,
            difference=None,
            low=None,
            high=None,
            verdict="not enough labels",
            reason=f"AUC is undefined on every one of {resamples:,} bootstrap draws (one class per draw)",
        )
    tail = (1.0 - confidence) / 2.0
    low, high = (float(value) for value in np.quantile(differences, [tail, 1.0 - tail]))
    difference = float(groups["treatment"][2] - groups["control"][2])
    verdict: Verdict
    if low > 0.0:
        verdict, reading = "treatment better", "lies above 0"
    elif high < 0.0:
        verdict, reading = "treatment worse", "lies below 0"
    else:
        verdict, reading = "within noise", "covers 0"
    dropped = resamples - len(differences)
    reason = (
        f"{treatment_role} {treatment_version} minus {control_role} {control_version}: AUC {difference:+.4f}, "
        f"{confidence:.0%} interval [{low:+.4f}, {high:+.4f}] {reading}; on {len(groups['treatment'][0]):,} and "
        f"{len(groups['control'][0]):,} labelled served predictions"
        + (f" ({dropped:,} one-class draws left out)" if dropped else "")
    )
    return ABComparison(**common, difference=difference, low=low, high=high, verdict=verdict, reason=reason)


# ------------------------------------------------------------------------------------------- report


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return _NONE
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def performance_markdown(groups: Sequence[GroupPerformance], ab: ABComparison | None) -> str:
    """A markdown table of the groups, then the A/B comparison (or a line saying there is none)."""
    lines = [
        "| role | version | labelled | positives | AUC | F1 | precision | recall | ECE | Brier | mean score | judged |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for g in groups:
        judged = "yes" if g.judged else f"no: {g.reason}"
        lines.append(
            f"| {g.role} | {g.model_version} | {g.labelled:,} | {g.positives:,} | {_number(g.auc)} | {_number(g.f1)} "
            f"| {_number(g.precision)} | {_number(g.recall)} | {_number(g.calibration_ece)} | {_number(g.brier)} "
            f"| {_number(g.mean_score)} | {judged} |"
        )
    if not groups:
        lines = ["No labelled predictions in the window."]
    lines.append("")
    if ab is None:
        lines.append("**A/B**: no comparison (the window has no served rows of one of the two roles).")
    else:
        lines += [
            f"**A/B ({ab.metric})**: {ab.verdict}",
            "",
            "| control | treatment | control AUC | treatment AUC | difference | interval |",
            "|---|---|---:|---:|---:|---|",
            f"| {ab.control_version} | {ab.treatment_version} | {_number(ab.control)} | {_number(ab.treatment)} "
            f"| {_number(ab.difference, signed=True)} | {ab.confidence:.0%}: "
            f"[{_number(ab.low, signed=True)}, {_number(ab.high, signed=True)}] |",
            "",
            ab.reason,
        ]
    return "\n".join(lines) + "\n"
