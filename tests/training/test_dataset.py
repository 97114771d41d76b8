"""The training set: the time split (never random) and every refusal of an unusable frame, with its message."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from platform_assets.training.dataset import (
    TrainingSet,
    TrainingSetError,
    check_training_frame,
    split_by_time,
    window_days,
)

pytestmark = pytest.mark.unit

START = dt.date(2026, 1, 1)
FEATURES = ["weight_kg", "carrier_code"]


def labelled_frame(days: int = 10, rows_per_day: int = 50, seed: int = 0) -> pd.DataFrame:
    """`rows_per_day` rows on each of `days` days, rows of all days interleaved (as a lake read may return them)."""
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    day_index = rng.permutation(np.repeat(np.arange(days), rows_per_day))
    times = pd.to_datetime([START + dt.timedelta(days=int(d)) for d in day_index]) + pd.to_timedelta(
        rng.integers(0, 86_400, n), unit="s"
    )
    return pd.DataFrame(
        {
            "tracking_id": [f"T{i:05d}" for i in range(n)],
            "event_time": times,
            "weight_kg": rng.uniform(0.1, 30, n),
            "carrier_code": rng.choice(["UPS", "DHL"], n),
            "is_delayed": np.tile([0, 1], n // 2 + 1)[:n],
        }
    )


def split(frame: pd.DataFrame, validation_days: int = 2, test_days: int = 2) -> TrainingSet:
    return split_by_time(
        frame, event_time="event_time", validation_days=validation_days, test_days=test_days, label="is_delayed"
    )


def days_of(frame: pd.DataFrame) -> set[dt.date]:
    return set(frame["event_time"].dt.date)


# ------------------------------------------------------------------------------------------- window_days


def test_window_days_ends_at_end_inclusive() -> None:
    assert window_days(dt.date(2026, 1, 10), 3) == [dt.date(2026, 1, 8), dt.date(2026, 1, 9), dt.date(2026, 1, 10)]
    assert window_days(dt.date(2026, 3, 1), 1) == [dt.date(2026, 3, 1)]
    assert len(window_days(dt.date(2026, 3, 1), 28)) == 28


def test_window_days_refuses_an_empty_window() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        window_days(START, 0)


# ------------------------------------------------------------------------------------------ split_by_time


def test_the_most_recent_days_are_test_then_validation_then_train() -> None:
    training_set = split(labelled_frame(days=10), validation_days=3, test_days=2)
    all_days = [START + dt.timedelta(days=offset) for offset in range(10)]
    assert training_set.test_days == tuple(all_days[8:])
    assert training_set.validation_days == tuple(all_days[5:8])
    assert training_set.train_days == tuple(all_days[:5])
    assert (training_set.window_start, training_set.window_end) == (all_days[0], all_days[-1])
    assert days_of(training_set.test) == set(all_days[8:])
    assert days_of(training_set.validation) == set(all_days[5:8])
    assert days_of(training_set.train) == set(all_days[:5])
    assert max(training_set.train["event_time"]) < min(training_set.validation["event_time"])
    assert max(training_set.validation["event_time"]) < min(training_set.test["event_time"])


def test_no_day_is_in_two_splits_and_every_row_is_in_one() -> None:
    frame = labelled_frame(days=9)
    training_set = split(frame)
    train, validation, test = days_of(training_set.train), days_of(training_set.validation), days_of(training_set.test)
    assert not train & validation and not train & test and not validation & test
    ids = pd.concat([training_set.train, training_set.validation, training_set.test])["tracking_id"]
    assert sorted(ids) == sorted(frame["tracking_id"])


def test_the_split_is_not_random_and_keeps_input_order() -> None:
    frame = labelled_frame(days=8)
    first, second = split(frame), split(frame.copy())
    pd.testing.assert_frame_equal(first.test, second.test)
    # Every row of a test day is in test (a random split would scatter each day over the splits) ...
    test_rows = frame[frame["event_time"].dt.date.isin(first.test_days)]
    assert list(first.test["tracking_id"]) == list(test_rows["tracking_id"])
    # ... and rows keep the order they came in, so a deterministic read gives a deterministic model.
    assert list(first.train.index) == list(range(len(first.train)))


def test_distinct_event_days_count_not_calendar_days() -> None:
    frame = labelled_frame(days=10)
    gap = frame["event_time"].dt.date.isin([START + dt.timedelta(days=d) for d in (7, 8)])
    training_set = split(frame[~gap], validation_days=2, test_days=2)
    # Days 7 and 8 have no rows: the test split is the two most recent days that do (6 and 9).
    assert training_set.test_days == (START + dt.timedelta(days=6), START + dt.timedelta(days=9))
    assert training_set.validation_days == (START + dt.timedelta(days=4), START + dt.timedelta(days=5))


def test_summary_reports_rows_positive_rate_and_days_as_json() -> None:
    training_set = split(labelled_frame(days=6, rows_per_day=40))
    summary = training_set.summary()
    json.dumps(summary)
    assert summary["window_start"] == "2026-01-01" and summary["window_end"] == "2026-01-06"
    assert summary["splits"]["train"]["rows"] == 80
    assert summary["splits"]["test"]["days"] == ["2026-01-05", "2026-01-06"]
    for part in summary["splits"].values():
        assert 0.0 < part["positive_rate"] < 1.0


def test_too_few_days_for_a_train_split_are_refused() -> None:
    with pytest.raises(TrainingSetError, match=r"4 distinct event day\(s\).*needs at least 5"):
        split(labelled_frame(days=4))


def test_a_split_with_a_single_class_is_refused_and_named() -> None:
    frame = labelled_frame(days=8)
    frame.loc[frame["event_time"].dt.date >= dt.date(2026, 1, 7), "is_delayed"] = 0
    with pytest.raises(
        TrainingSetError, match=r"the test split \(2026-01-07\.\.2026-01-08, 100 rows\) has only class 0"
    ):
        split(frame)


def test_a_missing_or_null_event_time_is_refused() -> None:
    frame = labelled_frame()
    with pytest.raises(TrainingSetError, match="no event time column 'pickup_time'"):
        split_by_time(frame, event_time="pickup_time", validation_days=2, test_days=2, label="is_delayed")
    frame.loc[3, "event_time"] = pd.NaT
    with pytest.raises(TrainingSetError, match="1 null value"):
        split(frame)


# ---------------------------------------------------------------------------------- check_training_frame


def check(frame: pd.DataFrame, min_rows: int = 10) -> None:
    check_training_frame(frame, features=FEATURES, label="is_delayed", min_rows=min_rows)


def test_a_good_frame_passes() -> None:
    check(labelled_frame())


def test_a_missing_feature_is_named() -> None:
    with pytest.raises(TrainingSetError, match=r"missing feature column\(s\) \['weight_kg'\]"):
        check(labelled_frame().drop(columns=["weight_kg"]))


def test_an_all_null_feature_is_named() -> None:
    frame = labelled_frame()
    frame["carrier_code"] = None
    with pytest.raises(TrainingSetError, match=r"\['carrier_code'\] are entirely null"):
        check(frame)


def test_a_missing_label_column_is_refused() -> None:
    with pytest.raises(TrainingSetError, match="no label column 'is_delayed'"):
        check(labelled_frame().drop(columns=["is_delayed"]))


def test_null_labels_are_refused() -> None:
    frame = labelled_frame()
    frame["is_delayed"] = frame["is_delayed"].astype(float)
    frame.loc[[1, 2], "is_delayed"] = np.nan
    with pytest.raises(TrainingSetError, match=r"2 null value\(s\).*label_delay_days"):
        check(frame)


def test_labels_outside_zero_and_one_are_refused() -> None:
    frame = labelled_frame()
    frame.loc[[0, 5, 7], "is_delayed"] = 2
    with pytest.raises(TrainingSetError, match=r"must hold 0 or 1, found \[2\] in 3 row"):
        check(frame)


def test_too_few_rows_are_refused() -> None:
    with pytest.raises(TrainingSetError, match=r"20 labelled row\(s\), fewer than the 100 required"):
        check(labelled_frame(days=1, rows_per_day=20), min_rows=100)


def test_a_single_class_overall_is_refused() -> None:
    frame = labelled_frame()
    frame["is_delayed"] = 1
    with pytest.raises(TrainingSetError, match=r"single class \(1\)"):
        check(frame)


def test_messages_name_where_the_frame_came_from() -> None:
    with pytest.raises(TrainingSetError, match="the validation split is missing"):
        check_training_frame(
            labelled_frame(), features=["distance_km"], label="is_delayed", min_rows=1, where="the validation split"
        )
