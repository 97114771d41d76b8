"""Fast unit tests of the synthetic parcel-delivery generator (no model training)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from resources.synthetic_deliveries import (
    BASELINE_CARRIERS,
    BATCH_COLUMNS,
    CARRIERS,
    CORRUPTIONS,
    DELAY_THRESHOLD_MINUTES,
    LABEL_COLUMNS,
    NEW_CARRIER,
    REGIONS,
    SCENARIO_KINDS,
    SERVICE_LEVELS,
    ScenarioWindow,
    active_scenario,
    delivery_batch,
    delivery_labels,
    generate_deliveries,
)

pytestmark = pytest.mark.unit

DAY = dt.date(2024, 3, 4)  # a Monday
SEED = 42
ROWS = 4_000

CLEAN_DTYPES = {
    "tracking_id": "object",
    "event_time": "datetime64[ns]",
    "carrier_code": "object",
    "service_level": "object",
    "origin_region": "object",
    "weight_kg": "float64",
    "distance_km": "float64",
    "package_count": "int64",
    "hour_of_day": "int64",
    "day_of_week": "int64",
    "weather_severity": "float64",
    "is_delayed": "int64",
    "delay_minutes": "float64",
}


def _days(start: dt.date, count: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(count)]


def _corrupt_window(*names: str) -> tuple[ScenarioWindow, ...]:
    return (ScenarioWindow("corrupt_batch", DAY, DAY, corruptions=names),)


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return generate_deliveries(DAY, seed=SEED, rows=ROWS)


@pytest.fixture(scope="module")
def clean_batch() -> pd.DataFrame:
    return delivery_batch(DAY, seed=SEED, rows=ROWS)


# --------------------------------------------------------------------------- #
# Constants
# --------------------------------------------------------------------------- #


def test_public_constants() -> None:
    assert len(BASELINE_CARRIERS) == 5
    assert NEW_CARRIER in CARRIERS
    assert NEW_CARRIER not in BASELINE_CARRIERS
    assert set(BASELINE_CARRIERS) < set(CARRIERS)
    assert SERVICE_LEVELS == ("express", "standard", "economy")
    assert LABEL_COLUMNS == ("is_delayed", "delay_minutes")
    assert CORRUPTIONS == (
        "null_ids",
        "out_of_range_weights",
        "unknown_carriers",
        "duplicate_ids",
        "missing_column",
        "extra_column",
        "wrong_types",
        "excess_weather_nulls",
    )
    assert SCENARIO_KINDS == (
        "none",
        "gradual_drift",
        "sudden_shift",
        "new_category",
        "corrupt_batch",
    )


# --------------------------------------------------------------------------- #
# Determinism
# --------------------------------------------------------------------------- #


def test_same_inputs_give_identical_frames() -> None:
    scenarios = (ScenarioWindow("gradual_drift", DAY - dt.timedelta(days=3), DAY + dt.timedelta(days=3)),)
    for fn in (generate_deliveries, delivery_batch, delivery_labels):
        first = fn(DAY, seed=SEED, rows=ROWS, scenarios=scenarios)
        second = fn(DAY, seed=SEED, rows=ROWS, scenarios=scenarios)
        pd.testing.assert_frame_equal(first, second)


def test_corrupted_batch_is_deterministic() -> None:
    scenarios = _corrupt_window(*CORRUPTIONS)
    first = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=scenarios)
    second = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=scenarios)
    pd.testing.assert_frame_equal(first, second)


def test_different_days_and_seeds_differ(clean: pd.DataFrame) -> None:
    next_day = generate_deliveries(DAY + dt.timedelta(days=1), seed=SEED, rows=ROWS)
    other_seed = generate_deliveries(DAY, seed=SEED + 1, rows=ROWS)
    for other in (next_day, other_seed):
        assert not np.allclose(clean["weight_kg"], other["weight_kg"])
        assert not np.allclose(clean["delay_minutes"], other["delay_minutes"])
        assert not clean["carrier_code"].equals(other["carrier_code"])


def test_tracking_ids_unique_across_days_and_seeds() -> None:
    frames = [generate_deliveries(day, seed=seed, rows=500) for day in _days(DAY, 3) for seed in (0, 1, 12)]
    ids = pd.concat([frame["tracking_id"] for frame in frames], ignore_index=True)
    assert ids.notna().all()
    assert ids.is_unique
    first = frames[0]["tracking_id"]
    assert first.str.startswith(f"TRK{DAY:%Y%m%d}").all()


# --------------------------------------------------------------------------- #
# Schema and values of clean data
# --------------------------------------------------------------------------- #


def test_clean_columns_and_dtypes(clean: pd.DataFrame) -> None:
    assert list(clean.columns) == [*BATCH_COLUMNS, *LABEL_COLUMNS]
    assert {name: str(dtype) for name, dtype in clean.dtypes.items()} == CLEAN_DTYPES
    assert len(clean) == ROWS
    assert clean["event_time"].dt.tz is None


def test_clean_value_ranges(clean: pd.DataFrame) -> None:
    assert clean["tracking_id"].notna().all() and clean["tracking_id"].is_unique
    assert clean["tracking_id"].map(type).eq(str).all()
    assert (clean["event_time"].dt.date == DAY).all()
    assert clean["event_time"].is_monotonic_increasing
    assert set(clean["carrier_code"]) == set(BASELINE_CARRIERS)
    assert set(clean["service_level"]) == set(SERVICE_LEVELS)
    assert set(clean["origin_region"]) == set(REGIONS)
    assert clean["weight_kg"].between(0.01, 1000.0).all()
    distance = clean["distance_km"]
    assert (distance.dropna() >= 0).all()
    assert distance.isna().mean() < 0.005
    assert (clean["package_count"] >= 1).all()
    assert clean["hour_of_day"].between(0, 23).all()
    assert clean["hour_of_day"].equals(clean["event_time"].dt.hour.astype("int64"))
    assert clean["day_of_week"].equals(clean["event_time"].dt.dayofweek.astype("int64"))
    weather = clean["weather_severity"]
    assert weather.dropna().between(0.0, 5.0).all()
    assert 0.005 < weather.isna().mean() < 0.03
    assert set(clean["is_delayed"].unique()) == {0, 1}
    expected = (clean["delay_minutes"] > DELAY_THRESHOLD_MINUTES).astype("int64")
    assert clean["is_delayed"].equals(expected)
    assert (clean["delay_minutes"] < 0).any()  # some parcels arrive early


def test_realistic_marginals() -> None:
    week = pd.concat([generate_deliveries(day, seed=SEED, rows=ROWS) for day in _days(DAY, 7)])
    # Positive rate of the classifier target over a normal week.
    assert 0.35 <= week["is_delayed"].mean() <= 0.50
    # Carriers have uneven shares.
    shares = week["carrier_code"].value_counts(normalize=True)
    assert shares.max() > 2 * shares.min()
    # Weights are right-skewed (log-normal-ish): mean well above median.
    assert week["weight_kg"].mean() > 1.3 * week["weight_kg"].median()
    # Pickups peak during business hours, nights are quiet.
    hours = week["hour_of_day"].value_counts(normalize=True).sort_index()
    assert hours.loc[9:17].sum() > 0.6
    assert hours.loc[0:4].sum() < 0.05
    # Weekends are later than weekdays (reduced sorting shifts).
    by_day = week.groupby("day_of_week")["is_delayed"].mean()
    assert by_day.loc[[5, 6]].mean() > by_day.loc[[0, 1, 2, 3, 4]].mean()


def test_rows_zero_and_validation() -> None:
    empty = generate_deliveries(DAY, seed=SEED, rows=0)
    assert len(empty) == 0
    assert {name: str(dtype) for name, dtype in empty.dtypes.items()} == CLEAN_DTYPES
    with pytest.raises(ValueError):
        generate_deliveries(DAY, seed=SEED, rows=-1)
    with pytest.raises(ValueError):
        generate_deliveries(DAY, seed=-3, rows=10)


def test_one_million_rows_have_unique_ids() -> None:
    # Speed is measured in benchmarks/, not here: tests do not time things.
    frame = generate_deliveries(DAY, seed=SEED, rows=1_000_000)
    assert len(frame) == 1_000_000 and frame["tracking_id"].is_unique


# --------------------------------------------------------------------------- #
# Batch / labels split
# --------------------------------------------------------------------------- #


def test_batch_and_labels_are_consistent(clean: pd.DataFrame, clean_batch: pd.DataFrame) -> None:
    labels = delivery_labels(DAY, seed=SEED, rows=ROWS)
    assert list(clean_batch.columns) == list(BATCH_COLUMNS)
    assert not set(LABEL_COLUMNS) & set(clean_batch.columns)
    assert list(labels.columns) == ["tracking_id", "event_time", "is_delayed", "delay_minutes"]
    assert labels["tracking_id"].equals(clean_batch["tracking_id"])
    assert labels["event_time"].equals(clean_batch["event_time"])
    pd.testing.assert_frame_equal(clean_batch, clean.drop(columns=list(LABEL_COLUMNS)))
    pd.testing.assert_frame_equal(labels, clean[list(labels.columns)])


# --------------------------------------------------------------------------- #
# Corruption
# --------------------------------------------------------------------------- #


def test_no_corruption_when_no_window_covers_the_day(clean_batch: pd.DataFrame) -> None:
    before = (ScenarioWindow("corrupt_batch", DAY - dt.timedelta(days=5), DAY - dt.timedelta(days=1)),)
    after = (ScenarioWindow("corrupt_batch", DAY + dt.timedelta(days=1)),)
    for scenarios in (before, after):
        batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=scenarios)
        pd.testing.assert_frame_equal(batch, clean_batch)


def test_corruption_never_touches_clean_records_or_labels(clean: pd.DataFrame) -> None:
    scenarios = _corrupt_window(*CORRUPTIONS)
    pd.testing.assert_frame_equal(generate_deliveries(DAY, seed=SEED, rows=ROWS, scenarios=scenarios), clean)
    pd.testing.assert_frame_equal(
        delivery_labels(DAY, seed=SEED, rows=ROWS, scenarios=scenarios),
        delivery_labels(DAY, seed=SEED, rows=ROWS),
    )


def _defect_rows(name: str, batch: pd.DataFrame, clean_batch: pd.DataFrame) -> pd.Series:
    """Boolean mask of the rows that show the defect of ``name``."""
    if name == "null_ids":
        return batch["tracking_id"].isna()
    if name == "out_of_range_weights":
        return ~batch["weight_kg"].between(0.01, 1000.0)
    if name == "unknown_carriers":
        return ~batch["carrier_code"].isin(CARRIERS)
    if name == "duplicate_ids":
        return batch["tracking_id"].duplicated(keep=False) & batch["tracking_id"].notna()
    if name == "excess_weather_nulls":
        return batch["weather_severity"].isna()
    raise AssertionError(name)


ROW_DEFECTS = ("null_ids", "out_of_range_weights", "unknown_carriers", "duplicate_ids")


@pytest.mark.parametrize("name", ROW_DEFECTS)
def test_row_level_corruption(name: str, clean_batch: pd.DataFrame) -> None:
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=_corrupt_window(name))
    assert list(batch.columns) == list(clean_batch.columns)
    assert len(batch) == len(clean_batch)
    assert not _defect_rows(name, clean_batch, clean_batch).any()
    share = _defect_rows(name, batch, clean_batch).mean()
    assert 0.01 <= share <= 0.10, share
    # Only the targeted column changed.
    column = {
        "null_ids": "tracking_id",
        "duplicate_ids": "tracking_id",
        "out_of_range_weights": "weight_kg",
        "unknown_carriers": "carrier_code",
    }[name]
    pd.testing.assert_frame_equal(batch.drop(columns=[column]), clean_batch.drop(columns=[column]))


def test_out_of_range_weights_has_both_directions() -> None:
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=_corrupt_window("out_of_range_weights"))
    assert (batch["weight_kg"] < 0).any()
    assert (batch["weight_kg"] > 1000).any()


def test_excess_weather_nulls(clean_batch: pd.DataFrame) -> None:
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=_corrupt_window("excess_weather_nulls"))
    assert 0.15 <= batch["weather_severity"].isna().mean() <= 0.30
    assert clean_batch["weather_severity"].isna().mean() < 0.05
    pd.testing.assert_frame_equal(
        batch.drop(columns=["weather_severity"]), clean_batch.drop(columns=["weather_severity"])
    )


def test_missing_column(clean_batch: pd.DataFrame) -> None:
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=_corrupt_window("missing_column"))
    assert "distance_km" not in batch.columns
    pd.testing.assert_frame_equal(batch, clean_batch.drop(columns=["distance_km"]))


def test_extra_column(clean_batch: pd.DataFrame) -> None:
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=_corrupt_window("extra_column"))
    assert set(batch.columns) - set(clean_batch.columns) == {"debug_flag"}
    pd.testing.assert_frame_equal(batch.drop(columns=["debug_flag"]), clean_batch)


def test_wrong_types(clean_batch: pd.DataFrame) -> None:
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=_corrupt_window("wrong_types"))
    hours = batch["hour_of_day"]
    assert hours.dtype == object
    assert hours.map(type).eq(str).all()
    assert hours.str.len().eq(2).all()
    assert hours.astype("int64").equals(clean_batch["hour_of_day"])
    assert (hours == "07").any()


def test_all_corruptions_together(clean_batch: pd.DataFrame) -> None:
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=_corrupt_window(*CORRUPTIONS))
    assert "distance_km" not in batch.columns
    assert "debug_flag" in batch.columns
    assert batch["hour_of_day"].dtype == object
    for name in (*ROW_DEFECTS, "excess_weather_nulls"):
        assert _defect_rows(name, batch, clean_batch).any(), name
    assert batch["weather_severity"].isna().mean() >= 0.15


def test_default_window_applies_every_corruption() -> None:
    window = ScenarioWindow("corrupt_batch", DAY)
    assert window.corruptions == CORRUPTIONS
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=(window,))
    assert "distance_km" not in batch.columns and "debug_flag" in batch.columns


def test_corruption_on_tiny_batches() -> None:
    for rows in (0, 1, 2, 3):
        batch = delivery_batch(DAY, seed=SEED, rows=rows, scenarios=_corrupt_window(*CORRUPTIONS))
        assert len(batch) == rows


# --------------------------------------------------------------------------- #
# Scenario windows
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "meteor_strike", "start": DAY}, "unknown scenario kind"),
        ({"kind": "sudden_shift", "start": DAY, "end": DAY - dt.timedelta(days=1)}, "before its start"),
        ({"kind": "gradual_drift", "start": DAY}, "needs an end"),
        ({"kind": "gradual_drift", "start": DAY, "end": DAY}, "end > start"),
        (
            {"kind": "corrupt_batch", "start": DAY, "corruptions": ("null_ids", "bogus")},
            "unknown corruptions",
        ),
        ({"kind": "corrupt_batch", "start": DAY, "corruptions": "null_ids"}, "not a string"),
        ({"kind": "corrupt_batch", "start": DAY, "corruptions": ()}, "at least one"),
        ({"kind": "sudden_shift", "start": "2024-03-04"}, "datetime.date"),
    ],
)
def test_window_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScenarioWindow(**kwargs)  # type: ignore[arg-type]


def test_window_normalises_inputs() -> None:
    window = ScenarioWindow(
        "corrupt_batch",
        dt.datetime(2024, 3, 4, 12, 30),
        corruptions=["null_ids", "null_ids", "extra_column"],  # type: ignore[arg-type]
    )
    assert window.start == DAY and type(window.start) is dt.date
    assert window.corruptions == ("null_ids", "extra_column")


def test_active_scenario_selection() -> None:
    shift = ScenarioWindow("sudden_shift", dt.date(2024, 3, 10), dt.date(2024, 3, 12))
    drift = ScenarioWindow("gradual_drift", dt.date(2024, 4, 1), dt.date(2024, 4, 10))
    corrupt = ScenarioWindow("corrupt_batch", dt.date(2024, 4, 5), dt.date(2024, 4, 5))
    scenarios = (shift, drift, corrupt)
    assert active_scenario(dt.date(2024, 3, 9), scenarios) is None
    assert active_scenario(dt.date(2024, 3, 10), scenarios) is shift
    assert active_scenario(dt.date(2024, 3, 12), scenarios) is shift  # end is inclusive
    assert active_scenario(dt.date(2024, 3, 13), scenarios) is None
    assert active_scenario(dt.date(2024, 4, 4), scenarios) is drift
    assert active_scenario(dt.date(2024, 4, 5), scenarios) is corrupt  # most recent start wins
    assert active_scenario(dt.date(2024, 4, 6), scenarios) is drift
    assert active_scenario(dt.date(2024, 6, 1), scenarios) is drift  # drift persists after its ramp
    assert active_scenario(DAY, ()) is None


def test_shift_intensity() -> None:
    drift = ScenarioWindow("gradual_drift", dt.date(2024, 4, 1), dt.date(2024, 4, 11))
    assert drift.shift_intensity(dt.date(2024, 3, 31)) == 0.0
    assert drift.shift_intensity(dt.date(2024, 4, 1)) == 0.0
    assert drift.shift_intensity(dt.date(2024, 4, 6)) == pytest.approx(0.5)
    assert drift.shift_intensity(dt.date(2024, 4, 11)) == 1.0
    assert drift.shift_intensity(dt.date(2024, 5, 11)) == 1.0
    shift = ScenarioWindow("sudden_shift", dt.date(2024, 4, 1))
    assert shift.shift_intensity(dt.date(2024, 3, 31)) == 0.0
    assert shift.shift_intensity(dt.date(2030, 1, 1)) == 1.0
    assert ScenarioWindow("new_category", DAY).shift_intensity(DAY) == 0.0


def test_scenarios_only_change_covered_days(clean: pd.DataFrame) -> None:
    # A shift starting tomorrow leaves today untouched; starting today changes it.
    tomorrow = (ScenarioWindow("sudden_shift", DAY + dt.timedelta(days=1)),)
    pd.testing.assert_frame_equal(generate_deliveries(DAY, seed=SEED, rows=ROWS, scenarios=tomorrow), clean)
    today = (ScenarioWindow("sudden_shift", DAY),)
    shifted = generate_deliveries(DAY, seed=SEED, rows=ROWS, scenarios=today)
    assert shifted["tracking_id"].equals(clean["tracking_id"])
    assert shifted["distance_km"].median() > 1.5 * clean["distance_km"].median()
    assert shifted["weather_severity"].mean() > clean["weather_severity"].mean() + 0.5
    # A bounded sudden shift reverts after its end.
    bounded = (ScenarioWindow("sudden_shift", DAY - dt.timedelta(days=5), DAY - dt.timedelta(days=1)),)
    pd.testing.assert_frame_equal(generate_deliveries(DAY, seed=SEED, rows=ROWS, scenarios=bounded), clean)


def test_gradual_drift_moves_monotonically() -> None:
    start = DAY
    drift = (ScenarioWindow("gradual_drift", start, start + dt.timedelta(days=10)),)
    medians = [
        generate_deliveries(start + dt.timedelta(days=k), seed=SEED, rows=ROWS, scenarios=drift)["distance_km"].median()
        for k in (0, 5, 10, 20)
    ]
    assert medians[0] < medians[1] < medians[2]
    assert medians[3] == pytest.approx(medians[2], rel=0.1)  # stays shifted after the ramp
    shifted = generate_deliveries(
        start + dt.timedelta(days=20),
        seed=SEED,
        rows=ROWS,
        scenarios=(ScenarioWindow("sudden_shift", start),),
    )
    assert shifted["distance_km"].median() == pytest.approx(medians[3], rel=0.02)


def test_new_category_share_and_reliability(clean: pd.DataFrame) -> None:
    assert NEW_CARRIER not in set(clean["carrier_code"])
    scenarios = (ScenarioWindow("new_category", DAY),)
    frame = generate_deliveries(DAY, seed=SEED, rows=20_000, scenarios=scenarios)
    shares = frame["carrier_code"].value_counts(normalize=True)
    assert set(shares.index) == set(CARRIERS)
    assert 0.18 <= shares[NEW_CARRIER] <= 0.27
    delayed = frame.groupby("carrier_code")["is_delayed"].mean()
    assert delayed[NEW_CARRIER] > delayed.drop(NEW_CARRIER).max()
    # Otherwise normal: the other features keep their distribution.
    assert frame["distance_km"].median() == pytest.approx(clean["distance_km"].median(), rel=0.1)
    batch = delivery_batch(DAY, seed=SEED, rows=ROWS, scenarios=scenarios)
    assert batch["carrier_code"].isin(CARRIERS).all()
