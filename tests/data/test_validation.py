"""The data-validation rules on good and bad batches: every corruption is caught by its own family."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from platform_assets.data.validation import RULE_FAMILIES, validate_batch
from platform_assets.spec import ModelSpec
from resources.synthetic_deliveries import CORRUPTIONS, ScenarioWindow, delivery_batch

pytestmark = pytest.mark.data_validation

DAY = dt.date(2026, 1, 5)


def _batch(*corruptions: str, rows: int = 2_000) -> pd.DataFrame:
    scenarios = [ScenarioWindow("corrupt_batch", DAY, DAY, corruptions=corruptions)] if corruptions else []
    return delivery_batch(DAY, seed=7, rows=rows, scenarios=scenarios)


def _validate(spec: ModelSpec, batch: pd.DataFrame, reference: dict | None = None) -> dict:
    return validate_batch(batch, spec.batch_schema, spec.schema_.rules, reference)


def test_a_clean_batch_passes_every_family(spec: ModelSpec) -> None:
    results = _validate(spec, _batch())
    assert list(results) == list(RULE_FAMILIES)
    assert {family: r.passed for family, r in results.items()} == dict.fromkeys(RULE_FAMILIES, True)
    assert all(r.failure_count == 0 for r in results.values())


EXPECTED_FAMILY = {
    "null_ids": ("not_null", "tracking_id"),
    "out_of_range_weights": ("ranges", "weight_kg"),
    "unknown_carriers": ("allowed_values", "carrier_code"),
    "duplicate_ids": ("uniqueness", "tracking_id"),
    "missing_column": ("schema", "distance_km"),
    "extra_column": ("schema", "debug_flag"),
    "wrong_types": ("schema", "hour_of_day"),
    "excess_weather_nulls": ("null_fraction", "weather_severity"),
}


def test_every_corruption_has_an_expected_family() -> None:
    assert set(EXPECTED_FAMILY) == set(CORRUPTIONS)


@pytest.mark.parametrize("corruption", sorted(EXPECTED_FAMILY))
def test_each_corruption_is_blocked_by_its_family(spec: ModelSpec, corruption: str) -> None:
    family, column = EXPECTED_FAMILY[corruption]
    results = _validate(spec, _batch(corruption))
    failed = {name for name, r in results.items() if not r.passed}
    assert family in failed, results[family].summary
    # Only the family the corruption belongs to fires: a wrongly typed column is not also a range error,
    # and a null id is not also a duplicate.
    assert failed == {family}, {name: results[name].summary for name in failed}
    result = results[family]
    assert result.failure_count > 0
    assert column in result.summary
    assert not result.failures.empty and column in set(result.failures["column"].astype(str)) | {
        str(v) for v in result.failures["failure_case"]
    }


def test_failure_counts_and_failing_rows_are_exact(spec: ModelSpec) -> None:
    batch = _batch()
    batch.loc[[3, 10, 11], "weight_kg"] = [-1.0, 5_000.0, 0.0]
    batch.loc[[4], "carrier_code"] = "ZZZ"
    results = _validate(spec, batch)
    assert results["ranges"].failure_count == 3
    assert sorted(results["ranges"].rows.index) == [3, 10, 11]
    assert results["allowed_values"].failure_count == 1
    assert results["allowed_values"].rows["carrier_code"].tolist() == ["ZZZ"]


def test_null_fraction_at_the_limit_passes_and_above_fails(spec: ModelSpec) -> None:
    batch = _batch(rows=1_000)
    batch["weather_severity"] = 1.0
    batch.loc[:49, "weather_severity"] = np.nan  # exactly 5%
    assert _validate(spec, batch)["null_fraction"].passed
    batch.loc[:50, "weather_severity"] = np.nan  # 5.1%
    result = _validate(spec, batch)["null_fraction"]
    assert not result.passed and result.details["observed"]["weather_severity"] == pytest.approx(0.051)


def _reference(batch: pd.DataFrame) -> dict:
    return {
        c: {"mean": float(batch[c].mean()), "std": float(batch[c].std())}
        for c in ("weight_kg", "distance_km", "weather_severity")
    }


def test_distribution_shift_against_reference(spec: ModelSpec) -> None:
    batch = _batch()
    reference = _reference(batch)
    assert _validate(spec, batch, reference)["distribution_shift"].passed
    shifted = batch.copy()
    shifted["distance_km"] = shifted["distance_km"] + 4 * reference["distance_km"]["std"]
    result = _validate(spec, shifted, reference)["distribution_shift"]
    assert not result.passed
    assert "distance_km" in result.summary and result.failure_count == 1
    row = next(r for r in result.details["columns"] if r["column"] == "distance_km")
    assert row["distance_in_std"] == pytest.approx(4.0, rel=1e-6)


def test_shift_without_reference_passes_and_says_it_did_not_judge(spec: ModelSpec) -> None:
    result = _validate(spec, _batch())["distribution_shift"]
    assert result.passed and "not judged" in result.summary


def test_an_empty_batch_with_the_right_schema_passes(spec: ModelSpec) -> None:
    results = _validate(spec, _batch().head(0))
    assert all(r.passed for r in results.values())
