"""The `features` asset: the spec's feature definition over each accepted batch, in DuckDB.

Runs by itself when a validated partition lands and its blocking checks passed. The result is held
to the feature contract (a blocking check) before it replaces the previous partition, so training
and serving only ever see features of the declared shape.
"""

import datetime as dt
import hashlib

import dagster as dg

from platform_assets.features.compute import check_feature_contract, compute_features_file
from platform_assets.keys import (
    FEATURE_CONTRACT_CHECK,
    FEATURES,
    VALIDATED_BATCH,
    Stage,
    asset_key,
    daily_partitions,
    group_name,
)
from platform_assets.metadata import markdown_table
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from sensors.conditions import upstream_partition_passed_checks

__all__ = ["build_feature_assets", "feature_code_version"]


def feature_code_version(spec: ModelSpec) -> str:
    """Changes whenever the feature definition or the declared features change."""
    definition = spec.features.model_dump_json()
    return hashlib.sha256(definition.encode()).hexdigest()[:12]


def build_feature_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    model = spec.name
    key = asset_key(model, FEATURES)

    @dg.asset(
        key=key,
        deps=[asset_key(model, VALIDATED_BATCH)],
        partitions_def=daily_partitions(spec.source.start_date),
        check_specs=[
            dg.AssetCheckSpec(
                FEATURE_CONTRACT_CHECK,
                asset=key,
                blocking=True,
                description="Exactly the entity id, the event time and the spec's features, with their types.",
            )
        ],
        automation_condition=upstream_partition_passed_checks(),
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=dt.timedelta(hours=spec.triggers.features_max_lag_hours)
        ),
        code_version=feature_code_version(spec),
        kinds={"duckdb", "parquet"},
        group_name=group_name(model, Stage.FEATURES),
        owners=spec.owners,
        description=(
            f"{model}'s model features for one event day: {', '.join(spec.features.names)}. "
            "One definition (the spec's features section) shared by training and serving."
        ),
    )
    def features(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        day = context.partition_key
        batch_path = lake.existing_partition_path(model, VALIDATED_BATCH, day)
        with lake.stage(lake.partition_path(model, FEATURES, day)) as staged:
            rows = compute_features_file(spec, batch_path, staged.path)
            passed, failures = check_feature_contract(spec, staged.path)
            if passed:
                staged.commit()
            else:
                context.log.error(f"{model} features {day} break the contract; previous partition kept")
        check_metadata: dict[str, dg.RawMetadataValue] = {"failures": len(failures)}
        if not passed:
            check_metadata["failure cases"] = dg.MetadataValue.md(markdown_table(failures))
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "status": "written" if passed else "rejected by the feature contract",
                "features": len(spec.features.columns),
                "path": dg.MetadataValue.path(str(staged.target)),
            },
            check_results=[
                dg.AssetCheckResult(check_name=FEATURE_CONTRACT_CHECK, passed=passed, metadata=check_metadata)
            ],
        )

    return [features]
