"""The feature pipeline: one definition, the contract that guards it, and the features asset."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from platform_assets.definitions import build_model_definitions
from platform_assets.features.assets import feature_code_version
from platform_assets.features.compute import (
    check_feature_contract,
    compute_features,
    compute_features_file,
    feature_contract,
)
from platform_assets.keys import FEATURES, VALIDATED_BATCH
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.synthetic_deliveries import delivery_batch
from tests.conftest import day

pytestmark = pytest.mark.feature_pipeline

DAY = dt.date(2026, 1, 5)


@pytest.fixture
def batch() -> pd.DataFrame:
    return delivery_batch(DAY, seed=7, rows=1_000)


def test_features_follow_the_definition(spec: ModelSpec, batch: pd.DataFrame) -> None:
    features = compute_features(spec, batch)
    assert list(features.columns) == ["tracking_id", "event_time", *spec.features.names]
    assert features["is_weekend"].tolist() == (batch["day_of_week"] >= 5).astype(int).tolist()
    rush = batch["hour_of_day"].between(7, 9) | batch["hour_of_day"].between(16, 18)
    assert features["is_rush_hour"].tolist() == rush.astype(int).tolist()
    np.testing.assert_allclose(features["weight_per_package_kg"], batch["weight_kg"] / batch["package_count"])
    expected_load = batch["distance_km"] * batch["weather_severity"].fillna(0)
    np.testing.assert_allclose(features["weather_distance_load"], expected_load)
    feature_contract(spec).validate(features)


def test_file_and_in_memory_paths_agree(spec: ModelSpec, batch: pd.DataFrame, tmp_path: Path) -> None:
    source, target = tmp_path / "batch.parquet", tmp_path / "features.parquet"
    batch.to_parquet(source, index=False)
    assert compute_features_file(spec, source, target) == len(batch)
    from_file = pd.read_parquet(target).sort_values("tracking_id").reset_index(drop=True)
    in_memory = compute_features(spec, batch).sort_values("tracking_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(from_file, in_memory, check_dtype=False)
    passed, failures = check_feature_contract(spec, target)
    assert passed and failures.empty


@pytest.mark.parametrize(
    ("breakage", "column", "check"),
    [
        (lambda f: f.drop(columns=["distance_km"]), "distance_km", "column_in_dataframe"),
        (lambda f: f.assign(leaked_label=1), None, "column_in_schema"),
        (lambda f: f.assign(hour_of_day=f["hour_of_day"].astype(str)), "hour_of_day", "dtype('int64')"),
        (lambda f: f.assign(tracking_id=[None, *f["tracking_id"].tolist()[1:]]), "tracking_id", "not_nullable"),
    ],
)
def test_contract_catches_a_broken_feature_file(spec, batch, tmp_path, breakage, column, check) -> None:
    path = tmp_path / "features.parquet"
    breakage(compute_features(spec, batch)).to_parquet(path, index=False)
    passed, failures = check_feature_contract(spec, path)
    assert not passed
    assert check in set(failures["check"].astype(str))
    if column:
        assert column in set(failures["column"].astype(str)) | set(failures["failure_case"].astype(str))


def test_code_version_moves_with_the_definition(spec: ModelSpec) -> None:
    changed = spec.model_copy(update={"features": spec.features.model_copy(update={"sql": spec.features.sql + " "})})
    assert feature_code_version(spec) == feature_code_version(spec.model_copy())
    assert feature_code_version(changed) != feature_code_version(spec)


def test_features_asset_rematerializes_by_replacing(spec: ModelSpec, resources: dict, lake: LakeResource) -> None:
    assets = list(build_model_definitions(spec).assets)
    selection = [f"delivery_delay/{name}" for name in ("raw_batch", VALIDATED_BATCH, FEATURES)]
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            result = dg.materialize(
                assets, selection=selection, partition_key=day(4), resources=resources, instance=instance
            )
            assert result.success
        metadata = result.asset_materializations_for_node("delivery_delay__features")[0].metadata
    assert metadata["dagster/row_count"].value == 800
    assert metadata["status"].value == "written"
    features = lake.read_partition("delivery_delay", FEATURES, day(4))
    assert len(features) == 800 and features["tracking_id"].is_unique


def test_a_contract_breaking_definition_keeps_the_previous_partition(
    spec: ModelSpec, resources: dict, lake: LakeResource
) -> None:
    """A feature SQL that stops producing a declared column is stopped by the blocking contract check."""
    selection = [f"delivery_delay/{name}" for name in ("raw_batch", VALIDATED_BATCH, FEATURES)]
    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize(
            list(build_model_definitions(spec).assets),
            selection=selection,
            partition_key=day(4),
            resources=resources,
            instance=instance,
        )
        before = lake.read_partition("delivery_delay", FEATURES, day(4))
        broken_sql = spec.features.sql.replace("CAST(hour_of_day AS BIGINT)", "CAST(hour_of_day AS VARCHAR)")
        broken = spec.model_copy(update={"features": spec.features.model_copy(update={"sql": broken_sql})})
        result = dg.materialize(
            list(build_model_definitions(broken).assets),
            selection=[f"delivery_delay/{FEATURES}"],
            partition_key=day(4),
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
        contract = {e.check_name: e for e in result.get_asset_check_evaluations()}["feature_contract"]
        assert not contract.passed
        assert "hour_of_day" in contract.metadata["failure cases"].value
    pd.testing.assert_frame_equal(lake.read_partition("delivery_delay", FEATURES, day(4)), before)


def test_select_star_definitions_do_not_pick_up_the_lake_layout(
    spec: ModelSpec, batch: pd.DataFrame, tmp_path: Path
) -> None:
    """The lake's `date=` directories must not leak a `date` column into the batch a definition sees."""
    source = tmp_path / "date=2026-01-05" / "data.parquet"
    source.parent.mkdir()
    batch.to_parquet(source, index=False)
    target = tmp_path / "features.parquet"
    star = spec.model_copy(update={"features": spec.features.model_copy(update={"sql": "SELECT * FROM batch"})})
    compute_features_file(star, source, target)
    assert list(pd.read_parquet(target).columns) == list(batch.columns)
