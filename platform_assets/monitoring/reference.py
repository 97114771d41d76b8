"""The monitoring reference: what drift is measured against, built from a window of features.

`reference_profile` bins the features of the reference window (and, when a champion serves, the champion's scores
on those rows, so prediction drift has a reference too). `reference_sample` draws the random sample of the same
window that the evidently HTML report compares with. `champion_reference_window` reads, from the registry, the
training window of the version that serves: after a promotion, monitoring compares against what the new champion
learned from (the seed's "update monitoring config" step).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from platform_assets.keys import ALIAS_CHAMPION, FEATURES
from platform_assets.monitoring.drift import ReferenceProfile, build_reference_profile
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from serving.scoring import Scorer

__all__ = [
    "TAG_TRAINING_PARTITIONS",
    "champion_reference_window",
    "champion_scorer",
    "feature_kinds",
    "reference_profile",
    "reference_sample",
]

# The registry tag (set at registration) listing the event days a version was trained on.
TAG_TRAINING_PARTITIONS = "training_partitions"


def feature_kinds(spec: ModelSpec) -> tuple[list[str], list[str]]:
    """The spec's numeric and categorical features, in spec order."""
    categorical = set(spec.features.categorical) | {c.name for c in spec.features.columns if c.dtype == "str"}
    names = spec.features.names
    return [name for name in names if name not in categorical], [name for name in names if name in categorical]


def champion_reference_window(mlflow: MlflowResource, model: str) -> tuple[str | None, list[str]]:
    """The serving champion's version and the event days it was trained on ([] without a champion)."""
    version = mlflow.version_by_alias(model, ALIAS_CHAMPION)
    if version is None:
        return None, []
    days = [day for day in version.tags.get(TAG_TRAINING_PARTITIONS, "").split(",") if day]
    return version.version, days


def champion_scorer(mlflow: MlflowResource, spec: ModelSpec) -> tuple[str | None, Scorer | None]:
    """The champion as a `Scorer`, or (None, None) when no version is champion."""
    version = mlflow.version_by_alias(spec.name, ALIAS_CHAMPION)
    if version is None:
        return None, None
    booster = mlflow.load_booster(spec.name, version)
    return version.version, Scorer.from_booster(booster, spec.features.names, spec.features.categorical)


def _features(lake: LakeResource, spec: ModelSpec, days: Sequence[str], sample_rows: int | None = None) -> pd.DataFrame:
    names = ", ".join('"' + name.replace('"', '""') + '"' for name in spec.features.names)
    sample = f" USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE (7)" if sample_rows else ""
    con = lake.connect()
    try:
        return con.sql(f"SELECT {names} FROM {lake.scan_sql(spec.name, FEATURES, list(days))}{sample}").df()
    finally:
        con.close()


def reference_profile(
    lake: LakeResource, spec: ModelSpec, days: Sequence[str], scorer: Scorer | None = None
) -> ReferenceProfile:
    """The drift reference of `days`: each feature's bins and counts, and the scorer's scores when given."""
    frame = _features(lake, spec, days)
    numeric, categorical = feature_kinds(spec)
    scores = scorer.score_frame(frame) if scorer is not None and len(frame) else None
    return build_reference_profile(
        frame,
        numeric=numeric,
        categorical=categorical,
        bins=spec.monitoring.drift.bins,
        scores=scores,
        window=list(days),
    )


def reference_sample(lake: LakeResource, spec: ModelSpec, days: Sequence[str], rows: int) -> pd.DataFrame:
    """A repeatable random sample of at most `rows` feature rows of the reference window."""
    return _features(lake, spec, days, sample_rows=rows)
