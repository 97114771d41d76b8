"""Builders for tests that need real trained models in a real registry (no mocks)."""

from __future__ import annotations

import datetime as dt
from functools import cache

import lightgbm as lgb
import pandas as pd

from platform_assets.features.compute import compute_features
from platform_assets.spec import ModelSpec
from platform_assets.training.dataset import split_by_time
from platform_assets.training.train import to_model_frame, train_candidate
from resources.mlflow_registry import MlflowResource
from resources.synthetic_deliveries import LABEL_COLUMNS, generate_deliveries
from serving.scoring import Scorer

__all__ = ["labelled_features", "register_version", "small_booster"]


def labelled_features(spec: ModelSpec, days: int = 6, rows: int = 1_000, seed: int = 7) -> pd.DataFrame:
    """Features of `days` synthetic days with their label, as the training set would hold them."""
    parts = []
    for offset in range(days):
        records = generate_deliveries(dt.date(2026, 1, 1) + dt.timedelta(days=offset), seed=seed, rows=rows)
        features = compute_features(spec, records.drop(columns=list(LABEL_COLUMNS)))
        parts.append(features.merge(records[["tracking_id", "is_delayed"]], on="tracking_id", validate="one_to_one"))
    return pd.concat(parts, ignore_index=True)


@cache
def _booster_text(spec_json: str, seed: int) -> str:
    spec = ModelSpec.model_validate_json(spec_json)
    splits = split_by_time(
        labelled_features(spec), event_time="event_time", validation_days=1, test_days=1, label="is_delayed"
    )
    trained = train_candidate(
        splits.train,
        splits.validation,
        features=spec.features.names,
        categorical=spec.features.categorical,
        label="is_delayed",
        base_params={**spec.training.params, "n_estimators": 60},
        trials=1,
        timeout_seconds=60,
        seed=seed,
    )
    return trained.booster.model_to_string()


def small_booster(spec: ModelSpec, seed: int = 42) -> lgb.Booster:
    """A small real model of the spec's features (cached per seed: training takes a second)."""
    return lgb.Booster(model_str=_booster_text(spec.model_dump_json(by_alias=True), seed))


def register_version(mlflow: MlflowResource, spec: ModelSpec, seed: int = 42) -> str:
    """Log a small model to MLflow and register it as a new version of the spec's model."""
    booster = small_booster(spec, seed)
    categories = Scorer.from_booster(booster, spec.features.names, spec.features.categorical).categories
    example = to_model_frame(
        labelled_features(spec, days=1, rows=5), spec.features.names, spec.features.categorical, categories
    )
    with mlflow.run(spec.name, run_name=f"test-{seed}"):
        info = mlflow.log_lightgbm(booster, example, ["lightgbm"])
    return str(mlflow.register(spec.name, info.model_uri, {"test_seed": str(seed)}).version)
