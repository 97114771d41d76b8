"""The candidate trainer: LightGBM with an Optuna search over its hyperparameters, on a time-split training set.

Defines `to_model_frame` (the one encoding of a feature frame for LightGBM, shared by training, evaluation and the
serving scorer in `serving.scoring`), `train_candidate` (search, early stopping, and the best trial's booster
trimmed to its best iteration) and the frozen `TrainedModel` it returns. The inputs are the train and validation
splits of `dataset.split_by_time`; the test split is left to evaluation.

Determinism: LightGBM runs with `deterministic`, `force_row_wise`, a fixed thread count and every seed derived from
`seed`, and the sampler is a seeded TPE, so the same frames and seed give the same model bit for bit, as long as
the trial count (not the timeout) ends the search. When the timeout ends it, the number of completed trials
depends on machine speed, and so may the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from platform_assets.training.dataset import TrainingSetError, check_training_frame

if TYPE_CHECKING:
    # optuna and lightgbm are imported where the search and the fits run, so that `serving.scoring` can import
    # `to_model_frame` without paying for optuna, and loading the code location (each run's process, the code
    # server, the CLI) without paying seconds for lightgbm (which imports scikit-learn).
    import lightgbm as lgb
    import optuna

__all__ = [
    "DEFAULT_NUM_BOOST_ROUND",
    "EARLY_STOPPING_ROUNDS",
    "NUM_THREADS",
    "TrainedModel",
    "category_label",
    "category_labels",
    "to_model_frame",
    "train_candidate",
]

DEFAULT_NUM_BOOST_ROUND = 400
EARLY_STOPPING_ROUNDS = 30
# Fixed so results do not depend on the machine's core count (LightGBM's sums depend on the thread split).
NUM_THREADS = 2

_VALID_NAME = "validation"

# LightGBM accepts many aliases for one parameter; the base params are normalised to the canonical name so that a
# searched value never collides with an alias left in the base params (LightGBM would warn and pick one).
_ALIASES: dict[str, tuple[str, ...]] = {
    "num_iterations": (
        "num_iteration",
        "n_iter",
        "num_tree",
        "num_trees",
        "num_round",
        "num_rounds",
        "nrounds",
        "num_boost_round",
        "n_estimators",
        "max_iter",
    ),
    "objective": ("objective_type", "app", "application", "loss"),
    "metric": ("metrics", "metric_types"),
    "num_threads": ("num_thread", "nthread", "nthreads", "n_jobs"),
    "verbosity": ("verbose",),
    "seed": ("random_seed", "random_state"),
    "bagging_seed": ("bagging_fraction_seed",),
    "data_random_seed": ("data_seed",),
    "early_stopping_round": ("early_stopping_rounds", "early_stopping", "n_iter_no_change"),
    "num_leaves": ("num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes"),
    "learning_rate": ("shrinkage_rate", "eta"),
    "min_data_in_leaf": ("min_data_per_leaf", "min_data", "min_child_samples", "min_samples_leaf"),
    "feature_fraction": ("sub_feature", "colsample_bytree"),
    "bagging_fraction": ("sub_row", "subsample", "bagging"),
    "bagging_freq": ("subsample_freq",),
    "lambda_l1": ("reg_alpha", "l1_regularization"),
    "lambda_l2": ("reg_lambda", "lambda", "l2_regularization"),
}

# The search space: (low, high, log scale, LightGBM's default). Integers are searched as integers. The default is
# what the first (enqueued) trial uses when the base params do not set the parameter, so trial 0 is the base config.
_SPACE: dict[str, tuple[float, float, bool, float]] = {
    "num_leaves": (8, 256, True, 31),
    "learning_rate": (0.01, 0.3, True, 0.1),
    "min_data_in_leaf": (5, 200, True, 20),
    "feature_fraction": (0.5, 1.0, False, 1.0),
    "bagging_fraction": (0.5, 1.0, False, 1.0),
    "bagging_freq": (0, 7, False, 0),
    # Log scale needs a positive floor; 1e-8 stands for LightGBM's default of 0 (no regularisation).
    "lambda_l1": (1e-8, 10.0, True, 1e-8),
    "lambda_l2": (1e-8, 10.0, True, 1e-8),
}
_INTEGER_PARAMS = frozenset({"num_leaves", "min_data_in_leaf", "bagging_freq"})


@dataclass(frozen=True)
class TrainedModel:
    """The best candidate of a search: a booster trimmed to its best iteration, and how it was found."""

    booster: lgb.Booster
    # The final params of the best trial, base params included, with `num_iterations` set to the best iteration:
    # `lgb.train(params, <same train Dataset>)` rebuilds the same booster.
    params: dict[str, Any]
    best_iteration: int
    validation_auc: float
    trials: int
    search_seconds: float
    categories: dict[str, list[str]]


def category_label(value: Any) -> str | None:
    """The label one categorical value is encoded by: a string as it is, None for a missing value (None, NaN,
    pd.NA), an integral float as its integer (2.0 -> "2", as a JSON request may send it), anything else `str`."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    return str(value)


def category_labels(values: pd.Series) -> pd.Series:
    """`category_label` applied to a column, vectorised for the usual dtypes; missing values stay missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        # A categorical of strings (a Parquet dictionary column) is already labelled: keep it, and its codes.
        if pd.api.types.infer_dtype(values.cat.categories, skipna=True) in ("string", "empty"):
            return values
        values = values.astype(object)
    # The common case, a string column, is recognised in one C pass and passed through untouched.
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values
    present = values.notna()
    kept = values[present]
    if pd.api.types.is_integer_dtype(kept.dtype) or pd.api.types.is_bool_dtype(kept.dtype):
        text = kept.astype(str)
    else:
        # Floats and mixed objects: rare for a categorical, so the exact scalar rule is worth its speed.
        text = kept.map(category_label)
    return values.astype(object).where(~present, text)


def _fixed_categories(frame: pd.DataFrame, categorical: Sequence[str]) -> dict[str, list[str]]:
    # Sorted, so the codes do not depend on row order; taken from the train split only, so a category that first
    # appears in validation or test is unseen (missing) exactly as it would be in serving.
    return {name: sorted(category_labels(frame[name]).dropna().unique().tolist()) for name in categorical}


def to_model_frame(
    frame: pd.DataFrame,
    features: Sequence[str],
    categorical: Sequence[str],
    categories: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Exactly the feature columns, in order: categoricals as pandas Categoricals over the fixed `categories`
    (an unseen or missing value becomes NaN, which LightGBM treats as missing), every other feature as float64.

    Training, evaluation and serving all encode through this, so a value means the same code everywhere. Float64
    throughout also keeps LightGBM from converting the frame to float32, which a numpy row at serving would not be.
    """
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise ValueError(f"the frame is missing feature column(s) {missing}; it has {list(frame.columns)}")
    unknown = [name for name in categorical if name not in features]
    if unknown:
        raise ValueError(f"categorical feature(s) {unknown} are not among the features {list(features)}")
    absent = [name for name in categorical if name not in categories]
    if absent:
        raise ValueError(f"no fixed categories for categorical feature(s) {absent}")
    is_categorical = set(categorical)
    columns: dict[str, Any] = {}
    for name in features:
        if name in is_categorical:
            columns[name] = pd.Categorical(category_labels(frame[name]), categories=list(categories[name]))
        else:
            columns[name] = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(columns, index=frame.index)


def _canonical(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with every known alias renamed to its canonical LightGBM name (the canonical name wins)."""
    result = dict(params)
    for name, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in result:
                value = result.pop(alias)
                result.setdefault(name, value)
    return result


def _base_params(base_params: Mapping[str, Any], seed: int) -> tuple[dict[str, Any], int]:
    """The params every trial shares, and the maximum number of boosting rounds."""
    params = _canonical(base_params)
    rounds = int(params.pop("num_iterations", DEFAULT_NUM_BOOST_ROUND))
    if rounds < 1:
        raise ValueError(f"the base params ask for {rounds} boosting rounds; give n_estimators >= 1")
    # Early stopping is done by the callback, on the validation split, so a base-param version would fight it.
    params.pop("early_stopping_round", None)
    params.pop("force_col_wise", None)
    params.setdefault("objective", "binary")
    params.setdefault("num_threads", NUM_THREADS)
    params.update(
        {
            # The search optimises validation AUC, and early stopping must watch the same metric.
            "metric": "auc",
            "verbosity": -1,
            "deterministic": True,
            "force_row_wise": True,
            "seed": seed,
            "bagging_seed": seed,
            "feature_fraction_seed": seed,
            "data_random_seed": seed,
        }
    )
    return params, rounds


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines for the duration of a search, then restore the caller's verbosity."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, (low, high, log, _default) in _SPACE.items():
        if name in _INTEGER_PARAMS:
            params[name] = trial.suggest_int(name, int(low), int(high), log=log)
        else:
            params[name] = trial.suggest_float(name, low, high, log=log)
    return params


def _base_trial(params: Mapping[str, Any]) -> dict[str, Any]:
    """The searched parameters as the base params set them (LightGBM's defaults otherwise), clipped into range."""
    values: dict[str, Any] = {}
    for name, (low, high, _log, default) in _SPACE.items():
        value = min(max(float(params.get(name, default)), low), high)
        values[name] = round(value) if name in _INTEGER_PARAMS else value
    return values


def _fit(
    params: Mapping[str, Any], train_set: lgb.Dataset, valid_set: lgb.Dataset, rounds: int
) -> tuple[lgb.Booster, int, float]:
    """One LightGBM fit with early stopping on the validation split: the booster, its best iteration and AUC."""
    import lightgbm as lgb

    booster = lgb.train(
        dict(params),
        train_set,
        num_boost_round=rounds,
        valid_sets=[valid_set],
        valid_names=[_VALID_NAME],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)],
    )
    # The callback always records the best iteration (also when the round limit, not patience, ends training).
    best_iteration = booster.best_iteration or booster.current_iteration()
    return booster, best_iteration, float(booster.best_score[_VALID_NAME]["auc"])


def _trimmed(booster: lgb.Booster, best_iteration: int) -> lgb.Booster:
    """A copy holding only the first `best_iteration` trees, so the saved model predicts the best iteration with
    no arguments. The model text keeps `pandas_categorical`, which `serving.scoring.Scorer.from_booster` reads."""
    import lightgbm as lgb

    trimmed = lgb.Booster(model_str=booster.model_to_string(num_iteration=best_iteration))
    trimmed.best_iteration = best_iteration
    return trimmed


def train_candidate(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    features: Sequence[str],
    categorical: Sequence[str],
    label: str,
    base_params: Mapping[str, Any],
    trials: int,
    timeout_seconds: float,
    seed: int,
) -> TrainedModel:
    """Search LightGBM hyperparameters for the best validation AUC and return the best trial's booster.

    Each trial trains with early stopping (30 rounds of patience) on `validation`, up to the base params'
    `n_estimators` (or any alias of it; 400 by default) rounds. The search runs at most `trials` trials and starts
    none after `timeout_seconds`, except the first, which always runs so that there is a model. The first trial is
    the base configuration (as closely as the search space expresses it: unset parameters at LightGBM's defaults,
    values clipped into the space), so the search starts from what a bare script would train; TPE, seeded with
    `seed`, proposes the rest. With `trials == 1` there is no search at all: the base params are trained exactly as
    given, plus only the fixed settings every trial gets (AUC metric, determinism, threads, seeds) and the same
    early stopping, which is what the benchmark compares with a bare LightGBM script.

    The result is deterministic for a seed when the trial count ends the search; when the timeout ends it, the
    number of trials (and so the model) depends on the machine's speed.

    Refuses with `TrainingSetError` on an unusable train or validation frame before any training time is spent.
    """
    import lightgbm as lgb

    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if timeout_seconds <= 0:
        raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
    unknown = [name for name in categorical if name not in features]
    if unknown:
        raise TrainingSetError(
            f"categorical feature(s) {unknown} are not among the features {list(features)}; list them in "
            "features.columns or remove them from features.categorical."
        )
    check_training_frame(train, features=features, label=label, min_rows=1, where="the train split")
    check_training_frame(validation, features=features, label=label, min_rows=1, where="the validation split")

    params, rounds = _base_params(base_params, seed)
    categories = _fixed_categories(train, categorical)
    train_set = lgb.Dataset(
        to_model_frame(train, features, categorical, categories),
        label=train[label].to_numpy(dtype=np.float64),
        categorical_feature=list(categorical),
        # The Dataset is built once and shared by every trial; LightGBM only allows min_data_in_leaf to vary
        # across trials when features were not pre-filtered by the first trial's value.
        params={**params, "feature_pre_filter": False},
        free_raw_data=False,
    )
    valid_set = lgb.Dataset(
        to_model_frame(validation, features, categorical, categories),
        label=validation[label].to_numpy(dtype=np.float64),
        reference=train_set,
        categorical_feature=list(categorical),
        free_raw_data=False,
    )
    params["feature_pre_filter"] = False

    started = time.perf_counter()
    if trials == 1:
        booster, best_iteration, auc = _fit(params, train_set, valid_set, rounds)
        best_params, completed = params, 1
    else:
        booster, best_iteration, auc, best_params, completed = _search(
            params, train_set, valid_set, rounds, trials=trials, timeout_seconds=timeout_seconds, seed=seed
        )
    search_seconds = time.perf_counter() - started

    return TrainedModel(
        booster=_trimmed(booster, best_iteration),
        params={**best_params, "num_iterations": best_iteration},
        best_iteration=best_iteration,
        validation_auc=auc,
        trials=completed,
        search_seconds=search_seconds,
        categories=categories,
    )


def _search(
    params: Mapping[str, Any],
    train_set: lgb.Dataset,
    valid_set: lgb.Dataset,
    rounds: int,
    *,
    trials: int,
    timeout_seconds: float,
    seed: int,
) -> tuple[lgb.Booster, int, float, dict[str, Any], int]:
    """The Optuna search: the best booster, its best iteration, AUC and params, and the trials completed."""
    import optuna

    # Only the best booster is kept (not one per trial), so memory stays flat however many trials run.
    best: dict[str, Any] = {}

    def objective(trial: optuna.Trial) -> float:
        trial_params = {**params, **_suggest(trial)}
        booster, best_iteration, auc = _fit(trial_params, train_set, valid_set, rounds)
        trial.set_user_attr("best_iteration", best_iteration)
        # Strictly better only, so ties go to the earliest trial, as Study.best_trial does.
        if not best or auc > best["auc"]:
            best.update(booster=booster, best_iteration=best_iteration, auc=auc, params=trial_params)
        return auc

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, trials // 2)))
    started = time.perf_counter()
    with _quiet_optuna():
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.enqueue_trial(_base_trial(params))
        # The base trial runs whatever the clock says (Optuna checks the timeout before each trial, and without a
        # completed trial there is no model); the rest start only while the budget has time left.
        study.optimize(objective, n_trials=1)
        remaining = timeout_seconds - (time.perf_counter() - started)
        if trials > 1 and remaining > 0:
            study.optimize(objective, n_trials=trials - 1, timeout=remaining)
    completed = sum(1 for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE)
    return best["booster"], best["best_iteration"], best["auc"], best["params"], completed
