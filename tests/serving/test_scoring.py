"""The shared scorer: one request, a batch and LightGBM's own predict agree exactly, through a saved model file too;
unseen and missing values; and the out-of-process scoring probe (sanity only: tests do not time things)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from platform_assets.features.compute import compute_features
from platform_assets.spec import ModelSpec, load_spec
from platform_assets.training.dataset import TrainingSet, split_by_time
from platform_assets.training.train import TrainedModel, to_model_frame, train_candidate
from resources.synthetic_deliveries import LABEL_COLUMNS, generate_deliveries
from serving.probe import ScoringProbe, probe_scoring
from serving.scoring import Scorer
from tests.conftest import SHIPPED_SPEC

pytestmark = pytest.mark.unit

LABEL = "is_delayed"


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(SHIPPED_SPEC)


@pytest.fixture(scope="module")
def training_set(spec: ModelSpec) -> TrainingSet:
    parts = []
    for offset in range(6):
        records = generate_deliveries(dt.date(2026, 1, 1) + dt.timedelta(days=offset), seed=7, rows=1_000)
        features = compute_features(spec, records.drop(columns=list(LABEL_COLUMNS)))
        parts.append(features.merge(records[["tracking_id", LABEL]], on="tracking_id", validate="one_to_one"))
    frame = pd.concat(parts, ignore_index=True)
    return split_by_time(frame, event_time="event_time", validation_days=2, test_days=2, label=LABEL)


@pytest.fixture(scope="module")
def model(spec: ModelSpec, training_set: TrainingSet) -> TrainedModel:
    return train_candidate(
        training_set.train,
        training_set.validation,
        features=spec.features.names,
        categorical=spec.features.categorical,
        label=LABEL,
        base_params=spec.training.params,
        trials=1,
        timeout_seconds=60,
        seed=42,
    )


@pytest.fixture(scope="module")
def model_file(model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.txt"
    model.booster.save_model(str(path))
    return path


@pytest.fixture(scope="module")
def scorer(model: TrainedModel, spec: ModelSpec) -> Scorer:
    return Scorer(model.booster, spec.features.names, spec.features.categorical, model.categories)


def requests(frame: pd.DataFrame, features: list[str]) -> list[dict[str, Any]]:
    return frame[features].to_dict("records")


def test_a_row_a_batch_and_lightgbm_agree_exactly(
    scorer: Scorer, model: TrainedModel, spec: ModelSpec, training_set: TrainingSet
) -> None:
    test = training_set.test
    names, categorical = spec.features.names, spec.features.categorical
    batch = scorer.score_frame(test)
    rows = np.array([scorer.score_row(request) for request in requests(test, names)])
    reference = model.booster.predict(to_model_frame(test, names, categorical, model.categories))
    assert batch.dtype == np.float64 and batch.shape == (len(test),)
    np.testing.assert_array_equal(batch, reference)
    np.testing.assert_array_equal(rows, batch)
    assert batch.min() > 0.0 and batch.max() < 1.0


def test_a_saved_model_scores_the_same(
    model_file: Path, scorer: Scorer, model: TrainedModel, spec: ModelSpec, training_set: TrainingSet
) -> None:
    restored = Scorer.from_booster(
        lgb.Booster(model_file=str(model_file)), spec.features.names, spec.features.categorical
    )
    assert restored.categories == model.categories
    assert list(restored.categories) == spec.features.categorical
    test = training_set.test.head(300)
    np.testing.assert_array_equal(restored.score_frame(test), scorer.score_frame(test))
    for request in requests(test.head(50), spec.features.names):
        assert restored.score_row(request) == scorer.score_row(request)


def test_unseen_categories_and_none_are_missing(scorer: Scorer, spec: ModelSpec, training_set: TrainingSet) -> None:
    request = requests(training_set.test.head(1), spec.features.names)[0]
    missing = scorer.score_row(request | {"carrier_code": None})
    assert scorer.score_row(request | {"carrier_code": "LSO"}) == missing
    assert scorer.score_row(request | {"carrier_code": float("nan")}) == missing
    assert scorer.score_row(request | {"carrier_code": "XXX", "weather_severity": None}) == scorer.score_row(
        request | {"carrier_code": None, "weather_severity": float("nan")}
    )
    # The batch path reads the same values the same way.
    frame = pd.DataFrame([request | {"carrier_code": "LSO"}, request | {"carrier_code": None, "weight_kg": None}])
    batch = scorer.score_frame(frame)
    assert batch[0] == missing
    assert batch[1] == scorer.score_row(request | {"carrier_code": None, "weight_kg": None})


def test_a_request_without_a_feature_is_refused(scorer: Scorer, spec: ModelSpec, training_set: TrainingSet) -> None:
    request = requests(training_set.test.head(1), spec.features.names)[0]
    del request["distance_km"]
    with pytest.raises(ValueError, match="no value for feature 'distance_km'"):
        scorer.score_row(request)
    with pytest.raises(ValueError, match="'weight_kg' must be a number"):
        scorer.score_row(request | {"distance_km": 1.0, "weight_kg": "heavy"})


def test_non_string_categories_match_in_rows_and_batches() -> None:
    rng = np.random.default_rng(3)
    grade = rng.integers(1, 4, 600)
    frame = pd.DataFrame(
        {
            "event_time": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(600) // 100, unit="D"),
            "grade": grade,
            "size": rng.normal(size=600),
            LABEL: (grade + rng.normal(scale=1.0, size=600) > 2.5).astype(int),
        }
    )
    splits = split_by_time(frame, event_time="event_time", validation_days=1, test_days=1, label=LABEL)
    trained = train_candidate(
        splits.train,
        splits.validation,
        features=["grade", "size"],
        categorical=["grade"],
        label=LABEL,
        base_params={"n_estimators": 20, "min_data_in_leaf": 5},
        trials=1,
        timeout_seconds=60,
        seed=1,
    )
    assert trained.categories == {"grade": ["1", "2", "3"]}
    scorer = Scorer.from_booster(trained.booster, ["grade", "size"], ["grade"])
    batch = scorer.score_frame(splits.test)
    rows = [scorer.score_row(request) for request in requests(splits.test, ["grade", "size"])]
    np.testing.assert_array_equal(rows, batch)
    # A JSON client may send the integer category as 2, 2.0 or "2".
    assert scorer.score_row({"grade": 2, "size": 0.1}) == scorer.score_row({"grade": 2.0, "size": 0.1})
    assert scorer.score_row({"grade": 2, "size": 0.1}) == scorer.score_row({"grade": "2", "size": 0.1})


def test_a_scorer_refuses_a_mismatched_model(model: TrainedModel, spec: ModelSpec) -> None:
    names, categorical = spec.features.names, spec.features.categorical
    with pytest.raises(ValueError, match="trained on features"):
        Scorer(model.booster, list(reversed(names)), categorical, model.categories)
    wrong = model.categories | {"carrier_code": ["UPS", "DHL"]}
    with pytest.raises(ValueError, match="differ from those the booster was trained with"):
        Scorer(model.booster, names, categorical, wrong)


def test_the_probe_measures_in_a_fresh_process(
    model_file: Path, spec: ModelSpec, training_set: TrainingSet, tmp_path: Path
) -> None:
    sample = tmp_path / "sample.parquet"
    training_set.test[spec.features.names].head(400).to_parquet(sample, index=False)
    # 600 MB touched in this (the parent) process: a child's ru_maxrss would report at least that on Linux.
    ballast = np.ones(600 * 1024 * 1024 // 8)
    probe = probe_scoring(model_file, spec.features.names, spec.features.categorical, sample, single_rows=300)
    del ballast
    assert isinstance(probe, ScoringProbe)
    assert probe.rows == 300
    assert 0 < probe.p50_ms <= probe.p99_ms
    # The serving footprint: an interpreter with numpy, pandas and lightgbm is well above 50 MB, and the parent's
    # memory is not part of it.
    assert 50 < probe.peak_rss_mb < 500


def test_a_failing_probe_reports_the_childs_error(spec: ModelSpec, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"scoring probe failed(.|\n)*LightGBMError: Could not open .*missing\.txt"):
        probe_scoring(
            tmp_path / "missing.txt", spec.features.names, spec.features.categorical, tmp_path / "none.parquet"
        )
