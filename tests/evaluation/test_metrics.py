"""The prediction metrics: equal to sklearn's, exact under resampling, and strict about their inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from platform_assets.evaluation.metrics import (
    PREDICTION_METRICS,
    classification_metrics,
    delong_auc_covariance,
    expected_calibration_error,
    metric_value,
    rank_auc,
    resampled_metric_differences,
    resampled_metric_values,
    slice_metrics,
)
from platform_assets.spec import METRIC_BOUNDS

pytestmark = pytest.mark.unit


def _scored(n: int, seed: int, decimals: int | None = None, prevalence: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities with real signal; rounding the probabilities creates ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    y[:2] = [0, 1]  # both classes, whatever the draw
    prob = 1.0 / (1.0 + np.exp(-(1.2 * y - 0.6 + rng.normal(size=n))))
    if decimals is not None:
        prob = np.round(prob, decimals)
    return y, prob


def _reference_ece(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """ECE written out bin by bin, the textbook way."""
    total = 0.0
    for k in range(bins):
        low, high = k / bins, (k + 1) / bins
        inside = (prob >= low) & ((prob < high) if k < bins - 1 else (prob <= high))
        if inside.any():
            total += inside.sum() / len(y) * abs(y[inside].mean() - prob[inside].mean())
    return total


SKLEARN = {
    "auc_roc": lambda y, p, t: roc_auc_score(y, p),
    "f1": lambda y, p, t: f1_score(y, p >= t, zero_division=0),
    "precision": lambda y, p, t: precision_score(y, p >= t, zero_division=0),
    "recall": lambda y, p, t: recall_score(y, p >= t, zero_division=0),
    "log_loss": lambda y, p, t: log_loss(y, p),
    "brier": lambda y, p, t: brier_score_loss(y, p),
    "calibration_ece": lambda y, p, t: _reference_ece(y, p),
}


# ----------------------------------------------------------------------------------------- calibration


def test_ece_is_zero_when_every_bin_is_calibrated() -> None:
    # 0.25 predicted where a quarter are positive, 0.75 where three quarters are.
    prob = np.array([0.25] * 4 + [0.75] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(y, prob) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_a_constant_overconfident_prediction() -> None:
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.4)


def test_ece_weights_bins_by_their_row_count() -> None:
    # Bin [0.1, 0.2): 2 rows at 0.1, none positive -> gap 0.1; bin [0.8, 0.9): 8 rows at 0.8, half positive
    # -> gap 0.3. Weighted: 0.2 * 0.1 + 0.8 * 0.3 = 0.26.
    prob = np.array([0.1, 0.1] + [0.8] * 8)
    y = np.array([0, 0] + [1, 0] * 4)
    assert expected_calibration_error(y, prob) == pytest.approx(0.26)


def test_ece_with_one_bin_is_the_gap_of_the_means() -> None:
    y, prob = _scored(500, seed=3)
    assert expected_calibration_error(y, prob, bins=1) == pytest.approx(abs(y.mean() - prob.mean()))


@pytest.mark.parametrize("seed", range(4))
def test_ece_matches_the_bin_by_bin_definition(seed: int) -> None:
    y, prob = _scored(2_000, seed)
    prob[:3] = [0.0, 1.0, 0.5]  # the edges: 1.0 belongs to the last bin
    assert expected_calibration_error(y, prob) == pytest.approx(_reference_ece(y, prob), abs=1e-12)


# ------------------------------------------------------------------------------------------------- AUC


@pytest.mark.parametrize("decimals", [None, 3, 2, 1, 0])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [10, 257, 5_000])
def test_rank_auc_equals_sklearn_with_and_without_ties(n: int, seed: int, decimals: int | None) -> None:
    y, prob = _scored(n, seed, decimals)
    assert rank_auc(y, prob) == pytest.approx(roc_auc_score(y, prob), rel=0, abs=1e-12)


def test_rank_auc_on_hand_cases() -> None:
    assert rank_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert rank_auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.3, 0.4])) == 0.0
    assert rank_auc(np.array([0, 1, 0, 1]), np.full(4, 0.5)) == 0.5  # all tied: every pair counts one half
    # One positive tied with one of two negatives and above the other: (1 + 0.5) / 2.
    assert rank_auc(np.array([0, 0, 1]), np.array([0.2, 0.5, 0.5])) == 0.75


def test_rank_auc_ignores_row_order() -> None:
    y, prob = _scored(1_000, seed=9, decimals=1)
    permutation = np.random.default_rng(0).permutation(len(y))
    assert rank_auc(y[permutation], prob[permutation]) == rank_auc(y, prob)


# --------------------------------------------------------------------------------------------- metrics


def test_prediction_metrics_are_known_to_the_spec() -> None:
    assert set(PREDICTION_METRICS) <= set(METRIC_BOUNDS)
    assert {name for name, way in PREDICTION_METRICS.items() if way == "lower"} == {
        "log_loss",
        "brier",
        "calibration_ece",
    }


@pytest.mark.parametrize("threshold", [0.5, 0.3])
@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("name", sorted(PREDICTION_METRICS))
def test_every_metric_equals_its_reference(name: str, decimals: int | None, threshold: float) -> None:
    y, prob = _scored(3_000, seed=11, decimals=decimals)
    expected = SKLEARN[name](y, prob, threshold)
    assert metric_value(name, y, prob, threshold) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_log_loss_clips_certain_mistakes_like_sklearn() -> None:
    y = np.array([0, 1, 1, 0])
    prob = np.array([0.0, 1.0, 0.0, 0.3])  # the third row is a certain mistake
    assert metric_value("log_loss", y, prob) == pytest.approx(log_loss(y, prob))
    assert np.isfinite(metric_value("log_loss", y, prob))


def test_precision_without_predicted_positives_is_zero_as_in_sklearn() -> None:
    y = np.array([0, 1, 0, 1])
    prob = np.array([0.1, 0.2, 0.3, 0.4])
    assert metric_value("precision", y, prob) == 0.0
    assert metric_value("f1", y, prob) == 0.0


def test_classification_metrics_has_every_metric_rows_and_positive_rate() -> None:
    y, prob = _scored(1_000, seed=2)
    metrics = classification_metrics(y, prob)
    assert set(metrics) == {*PREDICTION_METRICS, "rows", "positive_rate"}
    assert metrics["rows"] == 1_000
    assert metrics["positive_rate"] == pytest.approx(y.mean())
    assert metrics["auc_roc"] == pytest.approx(roc_auc_score(y, prob))
    assert all(isinstance(value, float) for value in metrics.values())


def test_labels_may_be_bool_or_float() -> None:
    y, prob = _scored(300, seed=4)
    reference = classification_metrics(y, prob)
    assert classification_metrics(y.astype(bool), prob) == reference
    assert classification_metrics(y.astype(float), prob) == reference


# ---------------------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("decimals", [None, 2, 0])
@pytest.mark.parametrize("name", sorted(PREDICTION_METRICS))
def test_resampled_values_equal_the_metric_on_the_resampled_rows(name: str, decimals: int | None) -> None:
    y, prob = _scored(400, seed=5, decimals=decimals)
    rows = np.random.default_rng(1).integers(0, len(y), size=(6, len(y)))
    expected = [metric_value(name, y[draw], prob[draw]) for draw in rows]
    np.testing.assert_allclose(resampled_metric_values(name, y, prob, rows), expected, rtol=1e-12, atol=1e-12)


def test_resampled_auc_is_nan_for_a_draw_with_one_class() -> None:
    y = np.array([0, 0, 1, 1])
    prob = np.array([0.1, 0.4, 0.35, 0.8])
    rows = np.array([[0, 1, 0, 1], [0, 1, 2, 3]])
    values = resampled_metric_values("auc_roc", y, prob, rows)
    assert np.isnan(values[0])
    assert values[1] == pytest.approx(0.75)


def test_resampled_differences_are_candidate_minus_champion() -> None:
    y, candidate = _scored(500, seed=6, decimals=2)
    _, champion = _scored(500, seed=7, decimals=2)
    rows = np.random.default_rng(2).integers(0, len(y), size=(5, len(y)))
    for name in PREDICTION_METRICS:
        expected = [metric_value(name, y[r], candidate[r]) - metric_value(name, y[r], champion[r]) for r in rows]
        np.testing.assert_allclose(
            resampled_metric_differences(name, y, candidate, champion, rows), expected, rtol=1e-10, atol=1e-12
        )


# --------------------------------------------------------------------------------------------- slices


def _slice_frame() -> pd.DataFrame:
    y, prob = _scored(1_000, seed=8)
    rng = np.random.default_rng(8)
    carrier = np.where(rng.random(1_000) < 0.98, rng.choice(["UPS", "FDX"], 1_000), "LSO")  # LSO: ~20 rows
    service = rng.choice(["standard", "express"], 1_000)
    frame = pd.DataFrame({"label": y, "prob": prob, "carrier": carrier, "service": service})
    # A large slice with one class.
    frame.loc[frame["service"] == "express", "label"] = 0
    return frame


def test_slice_metrics_one_row_per_value_sorted() -> None:
    frame = _slice_frame()
    slices = slice_metrics(frame, "label", "prob", ["service", "carrier"])
    assert list(slices.columns) == ["slice", "value", "rows", "positive_rate", "auc_roc", "f1", "precision", "recall"]
    assert list(zip(slices["slice"], slices["value"], strict=True)) == [
        ("carrier", "FDX"),
        ("carrier", "LSO"),
        ("carrier", "UPS"),
        ("service", "express"),
        ("service", "standard"),
    ]
    for _, group in slices.groupby("slice"):
        assert group["rows"].sum() == len(frame)


def test_slice_metrics_match_the_metrics_of_each_slice() -> None:
    frame = _slice_frame()
    slices = slice_metrics(frame, "label", "prob", ["carrier"]).set_index("value")
    ups = frame[frame["carrier"] == "UPS"]
    assert slices.loc["UPS", "rows"] == len(ups)
    assert slices.loc["UPS", "positive_rate"] == pytest.approx(ups["label"].mean())
    for name in ("auc_roc", "f1", "precision", "recall"):
        assert slices.loc["UPS", name] == pytest.approx(metric_value(name, ups["label"], ups["prob"]))


def test_small_or_one_class_slices_get_nan_auc_not_an_error() -> None:
    frame = _slice_frame()
    slices = slice_metrics(frame, "label", "prob", ["carrier", "service"], min_rows=30).set_index(["slice", "value"])
    assert slices.loc[("carrier", "LSO"), "rows"] < 30
    assert np.isnan(slices.loc[("carrier", "LSO"), "auc_roc"])  # too few rows
    assert np.isnan(slices.loc[("service", "express"), "auc_roc"])  # one class
    assert slices.loc[("service", "express"), "positive_rate"] == 0.0
    assert np.isnan(slices.loc[("service", "express"), "recall"])  # no positives: recall is undefined
    assert np.isfinite(slices.loc[("carrier", "UPS"), "auc_roc"])
    relaxed = slice_metrics(frame, "label", "prob", ["carrier"], min_rows=5).set_index("value")
    if 0 < frame.loc[frame["carrier"] == "LSO", "label"].sum() < (frame["carrier"] == "LSO").sum():
        assert np.isfinite(relaxed.loc["LSO", "auc_roc"])


def test_missing_slice_values_form_their_own_slice() -> None:
    frame = _slice_frame()
    frame.loc[:9, "carrier"] = None
    slices = slice_metrics(frame, "label", "prob", ["carrier"])
    assert slices["rows"].sum() == len(frame)
    assert slices["value"].isna().sum() == 1
    assert slices.loc[slices["value"].isna(), "rows"].item() == 10


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("y", "prob", "message"),
    [
        ([0, 1, 1], [0.2, 0.7], "y_true has 3 rows but y_prob has 2"),
        ([0, 1, 1], [0.2, np.nan, 0.7], "NaN"),
        ([0, 1, 1], [0.2, 1.3, 0.7], r"must lie in \[0, 1\]"),
        ([0, 1, 1], [-0.1, 0.3, 0.7], r"must lie in \[0, 1\]"),
        ([0, 2, 1], [0.2, 0.3, 0.7], "only 0 and 1"),
        ([0, np.nan, 1], [0.2, 0.3, 0.7], "only 0 and 1"),
        (["no", "yes", "yes"], [0.2, 0.3, 0.7], "only 0 and 1"),
        ([1, 1, 1], [0.2, 0.3, 0.7], "only one class"),
        ([0, 0, 0], [0.2, 0.3, 0.7], "only one class"),
        ([], [], "no rows"),
        ([[0, 1]], [[0.2, 0.7]], "one-dimensional"),
    ],
)
def test_bad_inputs_raise_clear_errors(y: list[object], prob: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.asarray(y), np.asarray(prob))


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown prediction metric 'accuracy'.*auc_roc"):
        metric_value("accuracy", np.array([0, 1]), np.array([0.2, 0.8]))


def test_slice_metrics_names_missing_columns() -> None:
    frame = _slice_frame()
    with pytest.raises(ValueError, match=r"columns \['region'\] are not in the frame"):
        slice_metrics(frame, "label", "prob", ["region"])


def test_slice_metrics_accepts_one_class_overall_but_still_checks_probabilities() -> None:
    frame = _slice_frame().assign(label=0)
    assert slice_metrics(frame, "label", "prob", ["service"])["auc_roc"].isna().all()
    with pytest.raises(ValueError, match="NaN"):
        slice_metrics(frame.assign(prob=np.nan), "label", "prob", ["service"])


def test_rank_auc_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="equally long"):
        rank_auc(np.array([0, 1, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        rank_auc(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="both classes"):
        rank_auc(np.array([1, 1]), np.array([0.1, 0.2]))


def test_delong_covariance_matches_the_aucs_and_a_bootstrap() -> None:
    rng = np.random.default_rng(21)
    rows = 3_000
    y = (rng.random(rows) < 0.3).astype(int)
    first = y + rng.normal(0, 1, rows)
    second = first + rng.normal(0, 0.7, rows)
    aucs, covariance = delong_auc_covariance(y, first, second)
    assert aucs == pytest.approx([rank_auc(y, first), rank_auc(y, second)], abs=1e-12)
    draws = rng.integers(0, rows, size=(1_000, rows))
    boot_first = resampled_metric_values("auc_roc", y, first, draws)
    boot_second = resampled_metric_values("auc_roc", y, second, draws)
    paired = math.sqrt(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    # A thousand resamples estimate a standard deviation to about 2%; 10% is far inside DeLong's agreement.
    assert math.sqrt(covariance[0, 0]) == pytest.approx(boot_first.std(), rel=0.1)
    assert paired == pytest.approx((boot_first - boot_second).std(), rel=0.1)
    # The same scores twice: the paired difference has no variance at all.
    _, same = delong_auc_covariance(y, first, first)
    assert same[0, 0] + same[1, 1] - 2 * same[0, 1] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="both classes"):
        delong_auc_covariance(np.ones(5), np.arange(5.0))
