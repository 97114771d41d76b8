"""Realised performance: the label join, per-group metrics, the A/B comparison's verdicts and coverage, the report."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from platform_assets.evaluation.metrics import classification_metrics, rank_auc
from platform_assets.monitoring.performance import (
    LABEL,
    ABComparison,
    GroupPerformance,
    ab_comparison,
    join_labels,
    performance_markdown,
    realised_performance,
)
from serving.prediction_log import PredictionLogWriter, read_predictions

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _log(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A prediction-log frame with the log's columns; unspecified fields take served-champion defaults."""
    defaults: dict[str, object] = {
        "unit_id": "u",
        "event_time": T0,
        "model_name": "m",
        "model_version": "1",
        "role": "champion",
        "served": True,
        "score": 0.5,
        "latency_ms": 1.0,
        "error": None,
    }
    return pd.DataFrame([{**defaults, **row} for row in rows])


def _group(
    rng: np.random.Generator,
    rows: int,
    separation: float,
    *,
    role: str,
    version: str,
    served: bool = True,
    positive_rate: float = 0.3,
) -> pd.DataFrame:
    """Labelled predictions of one model: scores are a logistic of noise plus `separation` for positives."""
    labels = (rng.random(rows) < positive_rate).astype(np.int64)
    scores = 1.0 / (1.0 + np.exp(-(rng.normal(0.0, 1.0, rows) + separation * labels - 1.0)))
    return pd.DataFrame(
        {
            "request_id": [f"{role}-{version}-{i}" for i in range(rows)],
            "event_time": T0 + pd.to_timedelta(np.arange(rows), unit="s"),
            "model_version": version,
            "role": role,
            "served": served,
            "score": scores,
            "error": None,
            LABEL: labels,
        }
    )


# ------------------------------------------------------------------------------------------------- join


def test_join_keeps_scored_labelled_rows_and_drops_the_rest() -> None:
    predictions = _log(
        [
            {"request_id": "a", "score": 0.9},
            {"request_id": "a", "role": "shadow", "model_version": "2", "served": False, "score": 0.8},
            {"request_id": "b", "score": 0.2},
            {"request_id": "c", "score": None, "error": "scorer crashed"},  # failed: dropped
            {"request_id": "d", "score": 0.4, "error": "late feature"},  # an error, even with a score: dropped
            {"request_id": "e", "score": float("nan")},  # no score: dropped
            {"request_id": "f", "score": 0.7},  # label not arrived (null): dropped
            {"request_id": "g", "score": 0.6},  # no label row at all: dropped
        ]
    )
    labels = pd.DataFrame(
        {
            "tracking_id": ["a", "b", "c", "d", "e", "f", "z"],
            "is_delayed": [1, 0, 1, 1, 0, None, 1],
        }
    )
    joined = join_labels(predictions, labels, id_column="tracking_id", label_column="is_delayed")
    assert list(zip(joined["request_id"], joined["role"], joined[LABEL], strict=True)) == [
        ("a", "champion", 1),
        ("a", "shadow", 1),
        ("b", "champion", 0),
    ]
    assert joined[LABEL].dtype == np.int64
    assert set(predictions.columns) < set(joined.columns)


def test_join_on_the_real_prediction_log(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "parcels", {"distance_km": "float"}, start=False)
    for i, score in enumerate([0.1, 0.9, None, 0.6]):
        writer.log(
            {
                "request_id": f"TRK{i}",
                "event_time": T0,
                "model_version": "3",
                "role": "champion",
                "served": True,
                "features": {"distance_km": 1.0},
                "score": score,
                "error": None if score is not None else "boom",
            }
        )
    writer.close()
    log = read_predictions(tmp_path, "parcels")
    labels = pd.DataFrame({"tracking_id": ["TRK0", "TRK1", "TRK2", "TRK3"], "is_delayed": [False, True, True, False]})
    joined = join_labels(log, labels, id_column="tracking_id", label_column="is_delayed")
    assert joined["request_id"].tolist() == ["TRK0", "TRK1", "TRK3"]
    assert joined[LABEL].tolist() == [0, 1, 0]
    assert joined["distance_km"].tolist() == [1.0, 1.0, 1.0]


def test_join_matches_integer_ids_and_accepts_identical_repeated_labels() -> None:
    predictions = _log([{"request_id": "17", "score": 0.3}, {"request_id": "18", "score": 0.8}])
    labels = pd.DataFrame({"id": [17, 18, 18], "y": [0.0, 1.0, 1.0]})
    joined = join_labels(predictions, labels, id_column="id", label_column="y")
    assert joined[LABEL].tolist() == [0, 1]


def test_an_id_labelled_both_ways_raises() -> None:
    predictions = _log([{"request_id": "a"}])
    labels = pd.DataFrame({"id": ["a", "a"], "y": [0, 1]})
    with pytest.raises(ValueError, match=r"both 0 and 1.*'a'"):
        join_labels(predictions, labels, id_column="id", label_column="y")


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([0, 1, 2], "2"),
        ([0.0, 0.5, 1.0], "0.5"),
        (["0", "1"], "'0'"),
        (["yes", "no"], "'yes'"),
        ([1, -1], "-1"),
    ],
)
def test_label_values_other_than_0_1_raise_naming_column_and_values(values: list[object], shown: str) -> None:
    predictions = _log([{"request_id": str(i)} for i in range(len(values))])
    labels = pd.DataFrame({"id": [str(i) for i in range(len(values))], "is_delayed": values})
    with pytest.raises(ValueError, match="'is_delayed'") as raised:
        join_labels(predictions, labels, id_column="id", label_column="is_delayed")
    assert shown in str(raised.value)


@pytest.mark.parametrize(
    ("drop_from", "column"),
    [("labels", "id"), ("labels", "y"), ("predictions", "score"), ("predictions", "request_id")],
)
def test_a_missing_column_raises_naming_it(drop_from: str, column: str) -> None:
    predictions = _log([{"request_id": "a"}])
    labels = pd.DataFrame({"id": ["a"], "y": [1]})
    if drop_from == "labels":
        labels = labels.drop(columns=column)
    else:
        predictions = predictions.drop(columns=column)
    with pytest.raises(ValueError, match=f"'{column}'"):
        join_labels(predictions, labels, id_column="id", label_column="y")


def test_join_of_an_empty_log_is_empty() -> None:
    empty = read_predictions(Path("/nonexistent-lake"), "m")
    joined = join_labels(empty, pd.DataFrame({"id": ["a"], "y": [1]}), id_column="id", label_column="y")
    assert joined.empty and LABEL in joined.columns
    assert realised_performance(joined, threshold=0.5, min_labelled=10) == ()
    assert ab_comparison(joined, confidence=0.95, min_labelled=10) is None


# ---------------------------------------------------------------------------------------- per group


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_group_metrics_equal_classification_metrics_on_the_same_rows(threshold: float) -> None:
    rng = np.random.default_rng(3)
    frame = pd.concat(
        [
            _group(rng, 400, 1.0, role="champion", version="1"),
            _group(rng, 300, 2.0, role="canary", version="2"),
            _group(rng, 250, 1.5, role="shadow", version="3", served=False),
        ],
        ignore_index=True,
    )
    groups = realised_performance(frame, threshold=threshold, min_labelled=200)
    assert [(g.role, g.model_version) for g in groups] == [("canary", "2"), ("champion", "1"), ("shadow", "3")]
    for group in groups:
        rows = frame[(frame["role"] == group.role) & (frame["model_version"] == group.model_version)]
        expected = classification_metrics(rows[LABEL].to_numpy(), rows["score"].to_numpy(), threshold)
        assert group.judged and group.reason == f"judged on {len(rows):,} labelled predictions"
        assert (group.labelled, group.positives) == (len(rows), int(rows[LABEL].sum()))
        assert group.auc == expected["auc_roc"]
        assert group.f1 == expected["f1"]
        assert group.precision == expected["precision"]
        assert group.recall == expected["recall"]
        assert group.calibration_ece == expected["calibration_ece"]
        assert group.brier == expected["brier"]
        assert group.mean_score == pytest.approx(rows["score"].mean())


@pytest.mark.parametrize(("rows", "judged"), [(199, False), (200, True)])
def test_fewer_than_min_labelled_rows_are_not_judged(rows: int, judged: bool) -> None:
    frame = _group(np.random.default_rng(5), rows, 1.0, role="champion", version="1", positive_rate=0.5)
    [group] = realised_performance(frame, threshold=0.5, min_labelled=200)
    assert group.judged is judged
    assert group.labelled == rows
    if judged:
        assert group.auc is not None
    else:
        assert group.reason == "only 199 labelled predictions (< 200)"
        metrics = (group.auc, group.f1, group.precision, group.recall, group.calibration_ece, group.brier)
        assert metrics == (None,) * 6
        assert group.mean_score is not None


@pytest.mark.parametrize(("label", "word"), [(0, "negative"), (1, "positive")])
def test_a_group_with_one_class_is_not_judged(label: int, word: str) -> None:
    frame = _group(np.random.default_rng(6), 300, 1.0, role="champion", version="1").assign(**{LABEL: label})
    [group] = realised_performance(frame, threshold=0.5, min_labelled=10)
    assert not group.judged and group.auc is None
    assert f"all 300 labelled predictions are {word}" in group.reason


def test_groups_sort_by_role_then_numeric_version() -> None:
    rng = np.random.default_rng(7)
    frame = pd.concat(
        [_group(rng, 20, 1.0, role=role, version=version) for role, version in [("shadow", "10"), ("shadow", "9")]]
        + [_group(rng, 20, 1.0, role="canary", version="11")]
    )
    groups = realised_performance(frame, threshold=0.5, min_labelled=10)
    assert [(g.role, g.model_version) for g in groups] == [("canary", "11"), ("shadow", "9"), ("shadow", "10")]


def test_bad_arguments_and_rows_without_a_role_raise() -> None:
    frame = _group(np.random.default_rng(8), 50, 1.0, role="champion", version="1")
    with pytest.raises(ValueError, match="min_labelled"):
        realised_performance(frame, threshold=0.5, min_labelled=0)
    with pytest.raises(ValueError, match="no role"):
        realised_performance(frame.assign(role=None), threshold=0.5, min_labelled=10)
    with pytest.raises(ValueError, match="'label'"):
        realised_performance(frame.drop(columns=LABEL), threshold=0.5, min_labelled=10)


# ---------------------------------------------------------------------------------------------- A/B


def _ab_frame(seed: int, rows: int, control: float, treatment: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat(
        [
            _group(rng, rows, control, role="champion", version="1"),
            _group(rng, rows, treatment, role="canary", version="2"),
        ],
        ignore_index=True,
    )


def test_a_clearly_better_treatment_is_better_with_an_interval_above_zero() -> None:
    frame = _ab_frame(11, 800, control=0.8, treatment=2.0)
    ab = ab_comparison(frame, confidence=0.95, min_labelled=200)
    assert ab is not None and ab.verdict == "treatment better"
    assert (ab.control_version, ab.treatment_version, ab.metric) == ("1", "2", "auc_roc")
    assert ab.low is not None and ab.high is not None and ab.difference is not None
    assert 0.0 < ab.low < ab.difference < ab.high
    champion = frame[frame["role"] == "champion"]
    canary = frame[frame["role"] == "canary"]
    assert ab.control == rank_auc(champion[LABEL].to_numpy(), champion["score"].to_numpy())
    assert ab.treatment == rank_auc(canary[LABEL].to_numpy(), canary["score"].to_numpy())
    assert ab.difference == pytest.approx(ab.treatment - ab.control)
    assert "lies above 0" in ab.reason


def test_a_clearly_worse_treatment_is_worse() -> None:
    ab = ab_comparison(_ab_frame(12, 800, control=2.0, treatment=0.8), confidence=0.95, min_labelled=200)
    assert ab is not None and ab.verdict == "treatment worse"
    assert ab.high is not None and ab.high < 0.0


def test_identical_distributions_cover_zero_at_about_the_confidence() -> None:
    """Coverage of the true difference (0) over seeded repetitions, within a 3-sigma binomial tolerance."""
    confidence, repetitions = 0.9, 200
    covered = 0
    for repetition in range(repetitions):
        frame = _ab_frame(1_000 + repetition, 300, control=1.5, treatment=1.5)
        ab = ab_comparison(frame, confidence=confidence, min_labelled=100, resamples=400, seed=repetition)
        assert ab is not None and ab.low is not None and ab.high is not None
        covers = ab.low <= 0.0 <= ab.high
        assert (ab.verdict == "within noise") is covers
        covered += covers
    tolerance = 3.0 * math.sqrt(repetitions * confidence * (1.0 - confidence))
    assert abs(covered - confidence * repetitions) <= tolerance, f"covered 0 in {covered} of {repetitions}"


def test_the_comparison_is_deterministic_for_a_seed() -> None:
    frame = _ab_frame(13, 400, control=1.0, treatment=1.2)
    first = ab_comparison(frame, confidence=0.95, min_labelled=100, seed=4)
    again = ab_comparison(frame.sample(frac=1.0, random_state=0), confidence=0.95, min_labelled=100, seed=4)
    other = ab_comparison(frame, confidence=0.95, min_labelled=100, seed=5)
    assert first is not None and again is not None and other is not None
    assert first.to_dict() == ab_comparison(frame, confidence=0.95, min_labelled=100, seed=4).to_dict()
    assert (again.control, again.treatment) == (first.control, first.treatment)
    assert (other.low, other.high) != (first.low, first.high)


def test_a_wider_confidence_gives_a_wider_interval() -> None:
    frame = _ab_frame(14, 400, control=1.0, treatment=1.2)
    narrow = ab_comparison(frame, confidence=0.8, min_labelled=100)
    wide = ab_comparison(frame, confidence=0.99, min_labelled=100)
    assert narrow is not None and wide is not None
    assert narrow.low is not None and narrow.high is not None and wide.low is not None and wide.high is not None
    assert wide.low < narrow.low < narrow.high < wide.high


def test_only_served_rows_count() -> None:
    frame = _ab_frame(15, 300, control=1.0, treatment=1.0)
    # A perfect shadow and unserved canary rows must change nothing.
    rng = np.random.default_rng(0)
    shadow = _group(rng, 300, 50.0, role="shadow", version="3", served=False)
    unserved_canary = _group(rng, 300, 50.0, role="canary", version="2", served=False)
    with_noise = pd.concat([frame, shadow, unserved_canary], ignore_index=True)
    baseline = ab_comparison(frame, confidence=0.95, min_labelled=100)
    assert baseline is not None
    assert ab_comparison(with_noise, confidence=0.95, min_labelled=100) == baseline
    assert ab_comparison(with_noise, treatment_role="shadow", confidence=0.95, min_labelled=100) is None


def test_no_comparison_without_served_rows_of_both_roles() -> None:
    frame = _ab_frame(16, 100, control=1.0, treatment=1.0)
    assert ab_comparison(frame[frame["role"] == "champion"], confidence=0.95, min_labelled=10) is None
    assert ab_comparison(frame.assign(served=False), confidence=0.95, min_labelled=10) is None


def test_too_few_labels_is_not_enough_labels() -> None:
    rng = np.random.default_rng(17)
    frame = pd.concat(
        [
            _group(rng, 500, 1.0, role="champion", version="1"),
            _group(rng, 80, 3.0, role="canary", version="2"),
        ],
        ignore_index=True,
    )
    ab = ab_comparison(frame, confidence=0.95, min_labelled=200)
    assert ab is not None and ab.verdict == "not enough labels"
    assert (ab.difference, ab.low, ab.high, ab.treatment) == (None, None, None, None)
    assert ab.control is not None
    assert ab.reason == "canary version 2: only 80 labelled served predictions (< 200)"


def test_the_most_recent_version_of_a_role_is_compared() -> None:
    rng = np.random.default_rng(18)
    old = _group(rng, 300, 0.0, role="champion", version="1")
    current = _group(rng, 300, 1.0, role="champion", version="4")
    current["event_time"] += dt.timedelta(days=1)
    canary = _group(rng, 300, 1.0, role="canary", version="5")
    ab = ab_comparison(pd.concat([old, current, canary], ignore_index=True), confidence=0.95, min_labelled=100)
    assert ab is not None and ab.control_version == "4"
    assert ab.control == rank_auc(current[LABEL].to_numpy(), current["score"].to_numpy())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"confidence": 1.0}, "confidence"), ({"resamples": 0}, "resamples"), ({"min_labelled": 0}, "min_labelled")],
)
def test_bad_comparison_arguments_raise(kwargs: dict[str, float], match: str) -> None:
    arguments: dict[str, float] = {"confidence": 0.95, "min_labelled": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        ab_comparison(_ab_frame(19, 50, 1.0, 1.0), **arguments)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- report


def test_markdown_shows_every_group_and_the_comparison() -> None:
    frame = _ab_frame(20, 400, control=0.8, treatment=2.0)
    small = _group(np.random.default_rng(0), 50, 1.0, role="shadow", version="3", served=False)
    groups = realised_performance(pd.concat([frame, small]), threshold=0.5, min_labelled=100)
    ab = ab_comparison(frame, confidence=0.95, min_labelled=100)
    assert ab is not None
    text = performance_markdown(groups, ab)
    assert text.count("\n| canary | 2 |") == 1 and "| champion | 1 |" in text
    assert "| shadow | 3 | 50 |" in text and "no: only 50 labelled predictions (< 100)" in text
    assert f"{ab.treatment:.4f}" in text and f"{ab.difference:+.4f}" in text
    assert "**A/B (auc_roc)**: treatment better" in text and ab.reason in text
    assert "no comparison" in performance_markdown(groups, None)
    assert "No labelled predictions" in performance_markdown((), None)


def test_results_convert_to_plain_dicts() -> None:
    frame = _ab_frame(21, 300, control=1.0, treatment=1.0)
    [canary, _] = realised_performance(frame, threshold=0.5, min_labelled=100)
    ab = ab_comparison(frame, confidence=0.95, min_labelled=100)
    assert isinstance(canary, GroupPerformance) and isinstance(ab, ABComparison)
    assert canary.to_dict()["auc"] == canary.auc
    assert ab.to_dict() == {
        "control_version": "1",
        "treatment_version": "2",
        "metric": "auc_roc",
        "control": ab.control,
        "treatment": ab.treatment,
        "difference": ab.difference,
        "low": ab.low,
        "high": ab.high,
        "confidence": 0.95,
        "verdict": ab.verdict,
        "reason": ab.reason,
    }
