"""The candidate trainer on a small synthetic delivery window: determinism, budget, base params, fixed categories
and refusals. A handful of small LightGBM fits, shared through module fixtures to keep the file fast."""

from __future__ import annotations

import datetime as dt
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import platform_assets.training.train as train_module
from platform_assets.features.compute import compute_features
from platform_assets.spec import ModelSpec, load_spec
from platform_assets.training.dataset import TrainingSet, TrainingSetError, split_by_time
from platform_assets.training.train import TrainedModel, to_model_frame, train_candidate
from resources.synthetic_deliveries import LABEL_COLUMNS, generate_deliveries
from tests.conftest import SHIPPED_SPEC

pytestmark = pytest.mark.unit

LABEL = "is_delayed"
# Bagging in the base params makes every trial, the base one included, depend on the seed.
SEARCH_PARAMS = {"objective": "binary", "n_estimators": 300, "bagging_fraction": 0.8, "bagging_freq": 1}


def labelled_deliveries(spec: ModelSpec, days: int, rows: int, start: dt.date = dt.date(2026, 1, 1)) -> pd.DataFrame:
    """The spec's features of `days` synthetic days with the label joined on, as the training asset builds them."""
    parts = []
    for offset in range(days):
        records = generate_deliveries(start + dt.timedelta(days=offset), seed=7, rows=rows)
        features = compute_features(spec, records.drop(columns=list(LABEL_COLUMNS)))
        parts.append(features.merge(records[["tracking_id", LABEL]], on="tracking_id", validate="one_to_one"))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_spec(SHIPPED_SPEC)


@pytest.fixture(scope="module")
def training_set(spec: ModelSpec) -> TrainingSet:
    frame = labelled_deliveries(spec, days=8, rows=1_500)
    return split_by_time(frame, event_time="event_time", validation_days=2, test_days=2, label=LABEL)


def train(spec: ModelSpec, training_set: TrainingSet, **overrides: Any) -> TrainedModel:
    arguments: dict[str, Any] = {
        "features": spec.features.names,
        "categorical": spec.features.categorical,
        "label": LABEL,
        "base_params": SEARCH_PARAMS,
        "trials": 3,
        "timeout_seconds": 600.0,
        "seed": 42,
        **overrides,
    }
    return train_candidate(training_set.train, training_set.validation, **arguments)


def predict(model: TrainedModel, spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray:
    return model.booster.predict(
        to_model_frame(frame, spec.features.names, spec.features.categorical, model.categories)
    )


@pytest.fixture(scope="module")
def searched(spec: ModelSpec, training_set: TrainingSet) -> TrainedModel:
    return train(spec, training_set)


@pytest.fixture(scope="module")
def base(spec: ModelSpec, training_set: TrainingSet) -> TrainedModel:
    return train(spec, training_set, base_params=spec.training.params, trials=1)


# ------------------------------------------------------------------------------------------- the model


def test_the_candidate_ranks_unseen_days_well(
    searched: TrainedModel, spec: ModelSpec, training_set: TrainingSet
) -> None:
    test = training_set.test
    assert roc_auc_score(test[LABEL], predict(searched, spec, test)) > 0.9
    assert 0.9 < searched.validation_auc <= 1.0
    assert searched.search_seconds > 0


def test_the_booster_is_trimmed_to_its_best_iteration(
    searched: TrainedModel, spec: ModelSpec, training_set: TrainingSet
) -> None:
    assert 1 <= searched.best_iteration < SEARCH_PARAMS["n_estimators"]
    assert searched.booster.num_trees() == searched.best_iteration
    assert searched.params["num_iterations"] == searched.best_iteration
    # The reported AUC is the returned booster's, predicting with no arguments.
    validation = training_set.validation
    assert roc_auc_score(validation[LABEL], predict(searched, spec, validation)) == pytest.approx(
        searched.validation_auc, abs=1e-9
    )


def test_the_saved_model_keeps_the_categories(searched: TrainedModel, spec: ModelSpec) -> None:
    restored = lgb.Booster(model_str=searched.booster.model_to_string())
    assert restored.pandas_categorical == [searched.categories[name] for name in spec.features.categorical]
    assert restored.num_trees() == searched.best_iteration


# ---------------------------------------------------------------------------------------- determinism


def test_the_same_seed_gives_the_same_model(searched: TrainedModel, spec: ModelSpec, training_set: TrainingSet) -> None:
    again = train(spec, training_set)
    assert again.params == searched.params
    assert again.best_iteration == searched.best_iteration
    np.testing.assert_array_equal(predict(again, spec, training_set.test), predict(searched, spec, training_set.test))


def test_another_seed_gives_another_model(searched: TrainedModel, spec: ModelSpec, training_set: TrainingSet) -> None:
    other = train(spec, training_set, seed=7)
    assert other.params["seed"] == 7
    assert not np.array_equal(predict(other, spec, training_set.test), predict(searched, spec, training_set.test))


# ---------------------------------------------------------------------------------------------- budget


def test_the_trial_budget_is_respected(searched: TrainedModel) -> None:
    assert searched.trials == 3


def test_the_timeout_ends_the_search(spec: ModelSpec, training_set: TrainingSet) -> None:
    # Optuna checks the clock after each trial, so a budget that is spent at once allows exactly one trial.
    model = train(spec, training_set, trials=50, timeout_seconds=1e-6)
    assert model.trials == 1


def test_one_trial_trains_exactly_the_base_params(
    base: TrainedModel, spec: ModelSpec, training_set: TrainingSet
) -> None:
    assert base.trials == 1
    assert base.params["learning_rate"] == 0.05 and base.params["num_leaves"] == 31
    assert base.params["objective"] == "binary" and base.params["metric"] == "auc"
    # Nothing from the search space is added: LightGBM's defaults apply, as in a bare script.
    assert not {"bagging_fraction", "bagging_freq", "feature_fraction", "lambda_l1", "min_data_in_leaf"} & set(
        base.params
    )
    assert "n_estimators" not in base.params and base.params["num_iterations"] == base.best_iteration
    # The params rebuild the booster: training them on the same data gives the same predictions.
    names, categorical = spec.features.names, spec.features.categorical
    dataset = lgb.Dataset(
        to_model_frame(training_set.train, names, categorical, base.categories),
        label=training_set.train[LABEL].to_numpy(dtype=np.float64),
        categorical_feature=list(categorical),
    )
    rebuilt = lgb.train(base.params, dataset)
    test = to_model_frame(training_set.test, names, categorical, base.categories)
    np.testing.assert_array_equal(rebuilt.predict(test), base.booster.predict(test))


def test_the_search_is_deterministic_in_its_settings(searched: TrainedModel) -> None:
    params = searched.params
    assert params["deterministic"] is True and params["force_row_wise"] is True
    assert params["num_threads"] == train_module.NUM_THREADS and params["verbosity"] == -1
    assert params["seed"] == params["bagging_seed"] == params["feature_fraction_seed"] == 42


# ------------------------------------------------------------------------------------------ categories


def test_categories_are_fixed_from_the_train_split(searched: TrainedModel, training_set: TrainingSet) -> None:
    for name, categories in searched.categories.items():
        assert categories == sorted(training_set.train[name].dropna().unique())


def test_unseen_categories_become_missing() -> None:
    frame = pd.DataFrame(
        {"carrier_code": ["UPS", "LSO", None, "DHL"], "weight_kg": [1, 2, None, 4], "grade": [1, 2, 3, None]}
    )
    model_frame = to_model_frame(
        frame,
        ["weight_kg", "carrier_code", "grade"],
        ["carrier_code", "grade"],
        {"carrier_code": ["DHL", "UPS"], "grade": ["1", "2"]},
    )
    assert list(model_frame.columns) == ["weight_kg", "carrier_code", "grade"]
    assert model_frame["weight_kg"].dtype == np.float64
    assert list(model_frame["carrier_code"].cat.categories) == ["DHL", "UPS"]
    assert model_frame["carrier_code"].isna().tolist() == [False, True, True, False]
    # Non-string categories are matched by their text, the rule the serving scorer applies to one value.
    assert model_frame["grade"].cat.codes.tolist() == [0, 1, -1, -1]


def test_an_unseen_category_is_scored_as_missing(
    searched: TrainedModel, spec: ModelSpec, training_set: TrainingSet
) -> None:
    rows = training_set.test.head(200)
    unseen, missing = rows.copy(), rows.copy()
    unseen["carrier_code"] = "LSO"
    missing["carrier_code"] = None
    np.testing.assert_array_equal(predict(searched, spec, unseen), predict(searched, spec, missing))


# -------------------------------------------------------------------------------------------- refusals


def test_a_bad_frame_is_refused_before_any_training(
    spec: ModelSpec, training_set: TrainingSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("training started on a frame that should have been refused")

    monkeypatch.setattr(lgb, "train", no_training)  # train_module imports lightgbm where it fits
    with pytest.raises(TrainingSetError, match=r"the train split is missing feature column\(s\) \['weight_kg'\]"):
        train_candidate(
            training_set.train.drop(columns=["weight_kg"]),
            training_set.validation,
            features=spec.features.names,
            categorical=spec.features.categorical,
            label=LABEL,
            base_params={},
            trials=5,
            timeout_seconds=60,
            seed=1,
        )
    one_class = training_set.validation.assign(**{LABEL: 0})
    with pytest.raises(TrainingSetError, match=r"single class \(0\) in the validation split"):
        train_candidate(
            training_set.train,
            one_class,
            features=spec.features.names,
            categorical=spec.features.categorical,
            label=LABEL,
            base_params={},
            trials=5,
            timeout_seconds=60,
            seed=1,
        )
