"""Drift against a reference profile: PSI on the profile's bins, the no-drift critical value, the verdicts."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest

from platform_assets.monitoring import drift
from platform_assets.monitoring.drift import (
    SCORE_COLUMN,
    BinnedProfile,
    DriftResult,
    ReferenceProfile,
    bin_counts,
    build_reference_profile,
    critical_psi,
    drift_report,
    evidently_drift_html,
)
from platform_assets.monitoring.psi import psi_from_counts, quantile_edges
from platform_assets.spec import DriftSpec

pytestmark = pytest.mark.unit

EPS = 1e-4
CARRIERS = ["DHL", "FDX", "LSO", "ONT", "UPS", "USPS"]


def straightforward_psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    """PSI written out the long way: decile edges by np.quantile, one boolean mask per bin, a NaN bin."""
    finite = reference[np.isfinite(reference)]
    edges = np.unique(np.quantile(finite, np.arange(1, bins) / bins))
    bounds = np.concatenate(([-np.inf], edges, [np.inf]))

    def proportions(values: np.ndarray) -> np.ndarray:
        counts = [np.sum((values > low) & (values <= high)) for low, high in itertools.pairwise(bounds)]
        counts[0] += np.sum(values == -np.inf)  # (-inf, e1] as a closed interval
        counts.append(np.sum(np.isnan(values)))
        return np.maximum(np.array(counts, dtype=float) / len(values), EPS)

    r, c = proportions(reference), proportions(current)
    return float(np.sum((c - r) * np.log(c / r)))


def profile_psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    profile = build_reference_profile(pd.DataFrame({"x": reference}), numeric=["x"], categorical=[], bins=bins)
    column = profile.columns["x"]
    return psi_from_counts(np.asarray(column.counts), bin_counts(column, current))


def deliveries(rows: int, seed: int, *, weight_mean: float = 1.0, carriers: list[str] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weather = np.round(rng.uniform(0, 5, rows), 1)
    weather[rng.random(rows) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "weight_kg": rng.lognormal(weight_mean, 0.6, rows),
            "hour_of_day": rng.integers(0, 24, rows),
            "weather_severity": weather,
            "carrier_code": rng.choice(np.array(carriers or CARRIERS, dtype=object), rows),
        }
    )


NUMERIC = ["weight_kg", "hour_of_day", "weather_severity"]
CATEGORICAL = ["carrier_code"]


def reference_profile(rows: int = 20_000, seed: int = 0, **kwargs: object) -> ReferenceProfile:
    return build_reference_profile(
        deliveries(rows, seed), numeric=NUMERIC, categorical=CATEGORICAL, bins=10, window=("2026-01-01",), **kwargs
    )


# ------------------------------------------------------------------------------------------- PSI on bins


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, n: rng.normal(size=n),
        lambda rng, n: rng.integers(0, 7, n),  # heavy ties: edges collapse
        lambda rng, n: np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(size=n)),
        lambda rng, n: np.r_[rng.exponential(size=n - 2), [np.inf, -np.inf]],
    ],
    ids=["normal", "integers", "with-nan", "with-inf"],
)
@pytest.mark.parametrize("bins", [2, 10, 40])
def test_profile_psi_matches_a_straightforward_implementation(
    make: Callable[[np.random.Generator, int], np.ndarray], bins: int
) -> None:
    rng = np.random.default_rng(bins)
    reference, current = make(rng, 5_000), make(rng, 3_000)
    shifted = current * 1.3 + 0.2
    for sample in (current, shifted):
        assert profile_psi(reference, sample, bins) == pytest.approx(straightforward_psi(reference, sample, bins))
    assert profile_psi(reference, reference, bins) == pytest.approx(0.0, abs=1e-12)


def test_profile_edges_are_psi_quantile_edges() -> None:
    # The profile reads the quantiles off one sort; they must be bit-identical to psi.quantile_edges.
    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(1, 2_000))
        values = [rng.normal(size=n), rng.integers(0, 30, n).astype(float), np.round(rng.lognormal(size=n), 2)][
            trial % 3
        ]
        bins = int(rng.integers(1, 101))
        profile = build_reference_profile(pd.DataFrame({"x": values}), numeric=["x"], categorical=[], bins=bins)
        np.testing.assert_array_equal(np.asarray(profile.columns["x"].edges), quantile_edges(values, bins))


def test_a_one_sd_shift_gives_the_analytic_psi() -> None:
    # Reference N(0, 1), current N(1, 1), decile bins of the reference: current bin i holds
    # Phi(z_i - 1) - Phi(z_(i-1) - 1) where z_i is the i/10 quantile; every reference bin holds 0.1.
    normal = NormalDist()
    cuts = [-math.inf, *(normal.inv_cdf(i / 10) for i in range(1, 10)), math.inf]
    current = np.diff([normal.cdf(z - 1) if math.isfinite(z) else float(z > 0) for z in cuts])
    expected = float(np.sum((current - 0.1) * np.log(current / 0.1)))
    assert expected == pytest.approx(0.926, abs=1e-3)
    rng = np.random.default_rng(0)
    rows = 100_000
    observed = profile_psi(rng.normal(size=rows), rng.normal(1.0, 1.0, rows), bins=10)
    # Over 60 seeds the PSI at 100,000 rows per side had a standard deviation of about 0.009: 0.04 is 4.5 of them.
    assert observed == pytest.approx(expected, abs=0.04)


def test_bin_counts_follow_the_reference_bins() -> None:
    profile = build_reference_profile(
        pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), numeric=["x"], categorical=[], bins=2
    ).columns["x"]
    assert profile.edges == (2.5,)
    assert profile.counts == (2, 2, 0)
    # Bins (-inf, 2.5], (2.5, inf), NaN; far values land in the outermost bins, an edge in the bin it closes.
    np.testing.assert_array_equal(bin_counts(profile, np.array([2.5, 100.0, -np.inf, np.nan, np.nan])), [2, 1, 2])
    np.testing.assert_array_equal(bin_counts(profile, pd.Series([1, 3, None], dtype="Int64")), [1, 1, 1])


# ------------------------------------------------------------------------------------------ categorical


def test_unseen_categories_raise_categorical_psi() -> None:
    reference = pd.DataFrame({"carrier": ["UPS"] * 500 + ["FDX"] * 300 + ["DHL"] * 200})
    profile = build_reference_profile(reference, numeric=[], categorical=["carrier"], bins=10).columns["carrier"]
    assert profile.categories == ("DHL", "FDX", "UPS")
    assert profile.counts == (200, 300, 500, 0, 0)  # categories, missing, unseen
    same = bin_counts(profile, reference["carrier"])
    with_new = bin_counts(profile, ["UPS"] * 400 + ["FDX"] * 300 + ["DHL"] * 200 + ["XPO"] * 100)
    np.testing.assert_array_equal(with_new, [200, 300, 400, 0, 100])
    reference_counts = np.asarray(profile.counts)
    assert psi_from_counts(reference_counts, same) == 0.0
    new_psi = psi_from_counts(reference_counts, with_new)
    # The unseen bin alone contributes (0.1 - eps) * ln(0.1 / eps), about 0.69.
    assert new_psi > (0.1 - EPS) * math.log(0.1 / EPS)
    # The same shift onto a known category scores far less.
    moved = bin_counts(profile, ["UPS"] * 400 + ["FDX"] * 400 + ["DHL"] * 200)
    assert psi_from_counts(reference_counts, moved) < new_psi / 10


def test_missing_categories_share_one_bin_and_labels_are_strings() -> None:
    profile = build_reference_profile(
        pd.DataFrame({"c": ["a", None, "b", np.nan, "a"]}), numeric=[], categorical=["c"], bins=10
    ).columns["c"]
    assert profile.counts == (2, 1, 2, 0)
    np.testing.assert_array_equal(bin_counts(profile, pd.Series(["a", pd.NA, None], dtype=object)), [1, 0, 2, 0])
    numbers = build_reference_profile(pd.DataFrame({"c": [1, 2, 2]}), numeric=[], categorical=["c"], bins=10)
    assert numbers.columns["c"].categories == ("1", "2")
    np.testing.assert_array_equal(bin_counts(numbers.columns["c"], np.array([2, 3])), [0, 1, 0, 1])
    as_category = pd.Series(["a", "b"], dtype=pd.CategoricalDtype(["a", "b", "never"]))
    assert build_reference_profile(pd.DataFrame({"c": as_category}), numeric=[], categorical=["c"], bins=10).columns[
        "c"
    ].categories == ("a", "b")


# ---------------------------------------------------------------------------------------- critical value


def test_critical_psi_is_the_quantile_of_no_drift_draws() -> None:
    counts = np.array([100, 250, 400, 250, 0])
    value = critical_psi(counts, rows=300, quantile=0.9, draws=50, seed=4)
    rng = np.random.default_rng(4)
    references = rng.multinomial(counts.sum(), counts / counts.sum(), size=50)
    windows = rng.multinomial(300, counts / counts.sum(), size=50)
    expected = np.quantile([psi_from_counts(r, w) for r, w in zip(references, windows, strict=True)], 0.9)
    assert value == pytest.approx(expected, rel=1e-12)
    assert critical_psi(counts, rows=300, quantile=0.9, draws=50, seed=4) == value  # deterministic


def test_critical_psi_grows_as_rows_shrink() -> None:
    counts = np.full(10, 1_000_000)
    values = [critical_psi(counts, rows, 0.99) for rows in (50, 200, 1_000, 10_000, 100_000)]
    assert all(smaller > larger for smaller, larger in itertools.pairwise(values))
    # With no drift and a reference far larger than the window, PSI is about chi-square(bins - 1) / rows: about
    # 21.7 / rows at the 99th percentile. A reference as large as the window doubles it (both sides vary).
    assert values[3] == pytest.approx(21.7 / 10_000, rel=0.3)
    same_size = critical_psi(np.full(10, 1_000), 10_000, 0.99)
    assert same_size == pytest.approx(21.7 * (1 / 10_000 + 1 / 10_000), rel=0.3)


def test_a_no_drift_window_exceeds_the_critical_value_about_one_minus_quantile_of_the_time() -> None:
    rng = np.random.default_rng(12)
    column = build_reference_profile(
        pd.DataFrame({"x": rng.normal(size=100_000)}), numeric=["x"], categorical=[], bins=10
    ).columns["x"]
    counts = np.asarray(column.counts)
    rows, quantile, trials = 500, 0.9, 1_000
    critical = critical_psi(counts, rows, quantile, draws=2_000, seed=1)
    exceeded = sum(
        psi_from_counts(counts, bin_counts(column, np.random.default_rng(seed).normal(size=rows))) > critical
        for seed in range(trials)
    )
    # Binomial sd of the share: sqrt(0.1 * 0.9 / 1000) = 0.0095, plus about 0.007 from estimating the quantile
    # on 2,000 draws; 0.05 is about 4 combined sd.
    assert abs(exceeded / trials - (1 - quantile)) < 0.05


def test_the_critical_value_holds_when_the_reference_is_no_larger_than_the_window() -> None:
    """Both sides are samples: a reference of the window's size doubles the no-drift PSI, and the value knows it."""
    rows, quantile, trials = 2_000, 0.9, 400
    exceeded = 0
    for seed in range(trials):
        rng = np.random.default_rng(1_000 + seed)
        column = build_reference_profile(
            pd.DataFrame({"x": rng.normal(size=rows)}), numeric=["x"], categorical=[], bins=10
        ).columns["x"]
        counts = np.asarray(column.counts)
        critical = critical_psi(counts, rows, quantile, draws=400, seed=seed)
        exceeded += psi_from_counts(counts, bin_counts(column, rng.normal(size=rows))) > critical
    # Binomial sd of the share: sqrt(0.1 * 0.9 / 400) = 0.015, plus the quantile's own noise; 0.06 is about 3 sd.
    assert abs(exceeded / trials - (1 - quantile)) < 0.06


@pytest.mark.parametrize(
    ("counts", "rows", "quantile", "match"),
    [
        (np.array([0, 0]), 10, 0.9, "no values"),
        (np.array([1, -1]), 10, 0.9, "non-negative"),
        (np.array([1, 1]), 0, 0.9, "rows"),
        (np.array([1, 1]), 10, 1.0, "quantile"),
    ],
)
def test_critical_psi_rejects_bad_arguments(counts: np.ndarray, rows: int, quantile: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        critical_psi(counts, rows, quantile)


# ---------------------------------------------------------------------------------------------- verdicts


def test_a_small_window_is_too_small_in_every_column() -> None:
    profile = reference_profile(scores=np.random.default_rng(0).random(20_000))
    spec = DriftSpec(min_rows=200)
    current = deliveries(199, 1, weight_mean=3.0, carriers=["XPO"])  # drifted beyond doubt, but too few rows
    result = drift_report(profile, current, spec, critical=["weight_kg"], scores=np.ones(199))
    assert result.too_small and result.rows == 199
    assert [c.verdict for c in result.columns] == ["too small"] * 5
    assert all(c.psi is None and c.critical_value is None for c in result.columns)
    assert "199 rows < min_rows 200" in result.columns[0].reason
    assert result.drifted_critical == ()
    assert not drift_report(profile, deliveries(200, 1), spec, critical=[]).too_small


def test_a_shift_in_a_large_window_drifts_and_only_critical_columns_trigger() -> None:
    profile = reference_profile()
    current = deliveries(5_000, 1, weight_mean=1.5, carriers=["UPS", "XPO"])
    result = drift_report(profile, current, DriftSpec(), critical=["weight_kg"])
    by_name = {c.column: c for c in result.columns}
    assert list(by_name) == [*NUMERIC, *CATEGORICAL]
    assert by_name["weight_kg"].verdict == by_name["carrier_code"].verdict == "drift"
    assert by_name["hour_of_day"].verdict == by_name["weather_severity"].verdict == "stable"
    assert result.drifted_critical == ("weight_kg",)  # carrier_code drifted but is not critical
    weight = by_name["weight_kg"]
    assert weight.critical and weight.rows == 5_000 and weight.threshold == 0.2
    assert weight.reason.startswith(f"PSI {weight.psi:.2f} > threshold 0.20 and > no-drift critical value")
    assert weight.reason.endswith("at 5,000 rows")


def test_drift_needs_both_the_threshold_and_the_critical_value() -> None:
    profile = reference_profile(rows=100_000)
    # Above a low threshold but within the noise of 60 rows: stable.
    noisy = drift_report(profile, deliveries(60, 5), DriftSpec(feature_psi=0.01, min_rows=10), critical=NUMERIC)
    hours = next(c for c in noisy.columns if c.column == "hour_of_day")
    assert hours.critical_value is not None and hours.psi is not None
    assert 0.01 < hours.psi <= hours.critical_value
    assert hours.verdict == "stable" and "within sampling noise" in hours.reason
    # A real but small shift in 100,000 rows: far above the critical value, below the threshold: stable.
    small_shift = drift_report(profile, deliveries(100_000, 6, weight_mean=1.05), DriftSpec(), critical=NUMERIC)
    weight = small_shift.columns[0]
    assert weight.psi is not None and weight.critical_value is not None
    assert 10 * weight.critical_value < weight.psi <= 0.2 and weight.verdict == "stable"
    # The rule holds for every column of every report.
    for result in (noisy, small_shift):
        for column in result.columns:
            assert column.psi is not None and column.critical_value is not None
            drifted = column.psi > column.threshold and column.psi > column.critical_value
            assert (column.verdict == "drift") == drifted


def test_the_output_is_judged_last_against_output_psi() -> None:
    rng = np.random.default_rng(2)
    profile = reference_profile(scores=rng.beta(2, 5, 20_000))
    current = deliveries(3_000, 3)
    result = drift_report(profile, current, DriftSpec(), critical=[], scores=rng.beta(5, 2, 3_000))
    output = result.columns[-1]
    assert (output.column, output.kind, output.critical, output.threshold) == (SCORE_COLUMN, "score", True, 0.1)
    assert output.verdict == "drift" and result.drifted_critical == (SCORE_COLUMN,)
    stable = drift_report(profile, current, DriftSpec(), critical=[], scores=rng.beta(2, 5, 3_000))
    assert stable.columns[-1].verdict == "stable" and stable.drifted_critical == ()
    # Without scores the output is simply not judged.
    assert [c.column for c in drift_report(profile, current, DriftSpec(), critical=[]).columns] == [
        *NUMERIC,
        *CATEGORICAL,
    ]


def test_scores_need_not_be_aligned_with_the_features() -> None:
    # The output is often judged on the served predictions of the window, not on the feature rows.
    rng = np.random.default_rng(5)
    profile = build_reference_profile(
        deliveries(20_000, 0), numeric=NUMERIC, categorical=CATEGORICAL, bins=10, scores=rng.beta(2, 5, 7_000)
    )
    assert profile.scores is not None and profile.scores.rows == 7_000
    current = deliveries(1_000, 1)
    shifted = drift_report(profile, current, DriftSpec(), critical=[], scores=rng.beta(5, 2, 3_000))
    assert shifted.columns[-1].rows == 3_000 and shifted.columns[-1].verdict == "drift"
    # Too few scores: the output alone is too small; the features are still judged.
    few = drift_report(profile, current, DriftSpec(min_rows=200), critical=[], scores=rng.beta(5, 2, 150))
    output = few.columns[-1]
    assert (output.column, output.verdict, output.rows, output.psi) == (SCORE_COLUMN, "too small", 150, None)
    assert output.reason == "150 scores < min_rows 200: too small to judge"
    assert not few.too_small and all(c.verdict != "too small" for c in few.columns[:-1])
    assert few.drifted_critical == ()


def test_report_errors_name_what_is_missing() -> None:
    profile = reference_profile()
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['weather_severity'\]; it has \['weight_kg'"):
        drift_report(profile, deliveries(500, 1).drop(columns="weather_severity"), DriftSpec(), critical=[])
    with pytest.raises(ValueError, match="reference profile has no prediction scores"):
        drift_report(profile, deliveries(500, 1), DriftSpec(), critical=[], scores=np.zeros(500))
    with pytest.raises(ValueError, match=r"critical feature\(s\) \['nope'\]"):
        drift_report(profile, deliveries(500, 1), DriftSpec(), critical=["nope"])
    with pytest.raises(ValueError, match="reference scores are empty"):
        reference_profile(scores=np.array([]))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['carrier_code'\]"):
        build_reference_profile(deliveries(10, 1)[NUMERIC], numeric=NUMERIC, categorical=CATEGORICAL, bins=10)
    with pytest.raises(ValueError, match="both numeric and categorical"):
        build_reference_profile(deliveries(10, 1), numeric=["weight_kg"], categorical=["weight_kg"], bins=10)
    with pytest.raises(ValueError, match="not numbers"):
        build_reference_profile(deliveries(10, 1), numeric=["carrier_code"], categorical=[], bins=10)


def test_the_report_is_deterministic_and_threading_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    frame, current = deliveries(5_000, 0), deliveries(1_000, 9, weight_mean=1.2)
    scores, current_scores = rng.random(5_000), rng.random(1_000)

    def run() -> tuple[ReferenceProfile, DriftResult]:
        profile = build_reference_profile(frame, numeric=NUMERIC, categorical=CATEGORICAL, bins=10, scores=scores)
        return profile, drift_report(profile, current, DriftSpec(), critical=NUMERIC, scores=current_scores, seed=3)

    serial = run()
    assert run() == serial
    monkeypatch.setattr(drift, "_THREADED_ROWS", 0)  # every column through the thread pool
    assert run() == serial
    other_seed = drift_report(serial[0], current, DriftSpec(), critical=NUMERIC, scores=current_scores, seed=4)
    assert [c.critical_value for c in other_seed.columns] != [c.critical_value for c in serial[1].columns]


# ------------------------------------------------------------------------------------ serialisation


def test_the_profile_round_trips_through_json() -> None:
    profile = reference_profile(scores=np.random.default_rng(0).random(20_000))
    restored = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))
    assert restored == profile
    assert list(restored.columns) == [*NUMERIC, *CATEGORICAL]
    assert restored.window == ("2026-01-01",) and restored.rows == 20_000
    assert restored.scores is not None and restored.scores.kind == "numeric"
    without = build_reference_profile(deliveries(100, 0), numeric=NUMERIC, categorical=[], bins=5)
    assert ReferenceProfile.from_dict(json.loads(json.dumps(without.to_dict()))) == without


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "numeric", "edges": (1.0,), "categories": (), "counts": (1, 2)}, "needs 3 counts"),
        ({"kind": "numeric", "edges": (2.0, 1.0), "categories": (), "counts": (1, 1, 1, 0)}, "increasing"),
        ({"kind": "categorical", "edges": (), "categories": ("a", "a"), "counts": (1, 1, 0, 0)}, "repeat"),
        ({"kind": "categorical", "edges": (), "categories": ("a",), "counts": (1, -1, 0)}, "non-negative"),
        ({"kind": "ordinal", "edges": (), "categories": (), "counts": ()}, "kind"),
    ],
)
def test_a_binned_profile_checks_itself(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BinnedProfile(**kwargs)


def test_the_result_serialises() -> None:
    profile = reference_profile(scores=np.random.default_rng(0).random(20_000))
    for current in (deliveries(2_000, 1, weight_mean=1.5), deliveries(50, 1)):
        result = drift_report(
            profile, current, DriftSpec(), critical=["weight_kg"], scores=np.random.default_rng(1).random(len(current))
        )
        payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert payload["rows"] == len(current) and len(payload["columns"]) == 5
        assert payload["too_small"] == result.too_small
        assert payload["drifted_critical"] == list(result.drifted_critical)
        frame = result.to_frame()
        assert list(frame["column"]) == [*NUMERIC, *CATEGORICAL, SCORE_COLUMN]
        assert list(frame.columns) == [
            "column",
            "kind",
            "critical",
            "rows",
            "psi",
            "critical_value",
            "threshold",
            "verdict",
            "reason",
        ]
        markdown = result.to_markdown()
        assert markdown.count("\n|") == 2 + 5
        assert ("not judged" in markdown) == result.too_small
    assert (
        "Drift in critical columns: weight_kg"
        in drift_report(
            profile, deliveries(2_000, 1, weight_mean=1.5), DriftSpec(), critical=["weight_kg"]
        ).to_markdown()
    )


# ------------------------------------------------------------------------------------------------ evidently


def test_the_evidently_report_is_written_atomically(tmp_path: Path) -> None:
    reference, current = deliveries(1_000, 0), deliveries(800, 1, weight_mean=1.5)
    target = tmp_path / "reports" / "drift.html"
    written = evidently_drift_html(
        reference, current, target, numeric=NUMERIC, categorical=CATEGORICAL, sample_rows=300, seed=1
    )
    assert written == target and target.is_file()
    text = target.read_text(encoding="utf-8")
    assert "html" in text.lower() and "weight_kg" in text
    assert [path.name for path in target.parent.iterdir()] == ["drift.html"]  # no temporary file left behind
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['carrier_code'\]"):
        evidently_drift_html(
            reference,
            current.drop(columns="carrier_code"),
            target,
            numeric=NUMERIC,
            categorical=CATEGORICAL,
            sample_rows=300,
        )


def test_the_evidently_sample_is_seeded_and_bounded() -> None:
    frame = deliveries(1_000, 0)
    sample = drift._sample(frame, 100, seed=3)
    assert len(sample) == 100
    pd.testing.assert_frame_equal(sample, drift._sample(frame, 100, seed=3))
    assert not sample.equals(drift._sample(frame, 100, seed=4))
    assert len(drift._sample(frame, 5_000, seed=3)) == 1_000
