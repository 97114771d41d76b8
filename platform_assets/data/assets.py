"""The data plane's assets for one model: landed batches, validated batches, labels, reference stats.

Thin Dagster layer over `validation` and `statistics`: each body reads from the lake, calls a plain
function, writes back atomically and reports what a person wants to see in the UI.

A batch that fails any blocking check is copied to the `quarantine` dataset instead of
`validated_batch`: the raw batch stays where it landed, the previous good validated partition (if
any) stays in place, and the failed check holds `features` back for that day.
"""

import dagster as dg
import pandas as pd
import pandera.pandas as pa
from pydantic import Field

from platform_assets.data.statistics import column_statistics
from platform_assets.data.validation import RULE_FAMILIES, RuleResult, validate_batch
from platform_assets.keys import (
    FEATURES,
    LABEL_CONTRACT_CHECK,
    LABELS,
    QUARANTINE,
    RAW_BATCH,
    REFERENCE_STATISTICS,
    REFERENCE_STATISTICS_FILE,
    VALIDATED_BATCH,
    Stage,
    asset_key,
    daily_partitions,
    group_name,
    partition_day,
)
from platform_assets.metadata import markdown_table
from platform_assets.monitoring.reference import champion_scorer, reference_profile
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from sensors.conditions import upstream_partition_landed

__all__ = ["CHECK_DESCRIPTIONS", "ReferenceConfig", "build_data_assets", "label_contract"]

CHECK_DESCRIPTIONS: dict[str, str] = {
    "schema": "The batch has exactly the schema's columns, with the schema's types (strict pandera model).",
    "not_null": "Columns the spec lists under rules.not_null hold no nulls.",
    "ranges": "Numeric columns lie inside the spec's rules.ranges.",
    "allowed_values": "Categorical columns only take values from the spec's rules.allowed sets.",
    "uniqueness": "Columns under rules.unique (the entity id) hold no duplicates.",
    "null_fraction": "Nullable columns stay under the spec's rules.max_null_fraction.",
    "distribution_shift": "Column means stay within rules.shift.max_std reference standard deviations.",
}


class ReferenceConfig(dg.Config):
    """Which event days the reference is built from: the spec's reference window unless given."""

    days: list[str] | None = Field(default=None, description="event days (YYYY-MM-DD); default: spec.reference")
    reason: str = Field(default="the spec's reference window", description="why this window, for the record")


def _check_result(result: RuleResult) -> dg.AssetCheckResult:
    metadata: dict[str, dg.RawMetadataValue] = {
        "failures": result.failure_count,
        "summary": result.summary,
    }
    if not result.passed:
        metadata["failure cases (sample)"] = dg.MetadataValue.md(markdown_table(result.failures))
        if not result.rows.empty:
            metadata["failing rows (sample)"] = dg.MetadataValue.md(markdown_table(result.rows))
    if result.details:
        metadata["details"] = dg.MetadataValue.json(result.details)
    return dg.AssetCheckResult(check_name=result.family, passed=result.passed, metadata=metadata)


def label_contract(frame: pd.DataFrame, spec: ModelSpec) -> RuleResult:
    """Labels must name each entity once and carry a 0/1 label for it."""
    source = spec.source
    schema = pa.DataFrameSchema(
        {
            source.entity_id_column: pa.Column(None, nullable=False, unique=True),
            source.label_column: pa.Column(None, pa.Check.isin([0, 1]), nullable=False),
        },
        strict=False,
    )
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases[["column", "check", "failure_case", "index"]]
        return RuleResult(LABEL_CONTRACT_CHECK, False, len(cases), f"{len(cases)} label failures", cases.head(10))
    return RuleResult(LABEL_CONTRACT_CHECK, True, 0, f"{len(frame)} labels, one per entity, all 0/1")


def build_data_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    """raw_batch, validated_batch (with one blocking check per rule family), labels, reference_statistics."""
    model = spec.name
    partitions = daily_partitions(spec.source.start_date)
    common = {"group_name": group_name(model, Stage.DATA), "owners": spec.owners}
    raw_key, validated_key = asset_key(model, RAW_BATCH), asset_key(model, VALIDATED_BATCH)

    @dg.asset(
        key=raw_key,
        partitions_def=partitions,
        kinds={"parquet"},
        description=(
            f"One event day of {model} data exactly as the source ({spec.source.kind}) delivered it. "
            "Never corrected: a batch that fails validation stays here for inspection."
        ),
        **common,
    )
    def raw_batch(
        context: dg.AssetExecutionContext, lake: LakeResource, source: DataSourceResource
    ) -> dg.MaterializeResult:
        batch = source.batch(spec, partition_day(context.partition_key))
        path = lake.write_partition(model, RAW_BATCH, context.partition_key, batch)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(batch),
                "columns": ", ".join(map(str, batch.columns)),
                "path": dg.MetadataValue.path(str(path)),
            }
        )

    @dg.asset(
        key=validated_key,
        deps=[raw_key],
        partitions_def=partitions,
        check_specs=[
            dg.AssetCheckSpec(family, asset=validated_key, blocking=True, description=CHECK_DESCRIPTIONS[family])
            for family in RULE_FAMILIES
        ],
        automation_condition=upstream_partition_landed(),
        kinds={"pandera", "parquet"},
        description=(
            f"The {model} batch of one day after the data-validation stage. It is written only when "
            "every rule family passes; otherwise the batch goes to quarantine and the failed checks "
            "hold the features back."
        ),
        **common,
    )
    def validated_batch(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        day = context.partition_key
        batch = lake.read_partition(model, RAW_BATCH, day)
        reference = lake.read_json(model, REFERENCE_STATISTICS, REFERENCE_STATISTICS_FILE)
        results = validate_batch(
            batch, spec.batch_schema, spec.schema_.rules, reference["columns"] if reference else None
        )
        failed = [family for family, result in results.items() if not result.passed]
        if failed:
            path = lake.copy_partition(model, RAW_BATCH, QUARANTINE, day)
            context.log.warning(f"{model} batch {day} quarantined: {', '.join(failed)} failed")
        else:
            path = lake.copy_partition(model, RAW_BATCH, VALIDATED_BATCH, day)
            lake.delete_partition(model, QUARANTINE, day)
        return dg.MaterializeResult(
            metadata={
                "status": "quarantined" if failed else "accepted",
                "failed checks": ", ".join(failed) or "none",
                "dagster/row_count": len(batch),
                "path": dg.MetadataValue.path(str(path)),
            },
            check_results=[_check_result(result) for result in results.values()],
        )

    labels_key = asset_key(model, LABELS)

    @dg.asset(
        key=labels_key,
        partitions_def=partitions,
        check_specs=[
            dg.AssetCheckSpec(
                LABEL_CONTRACT_CHECK,
                asset=labels_key,
                blocking=True,
                description="One 0/1 label per entity id, no nulls, no duplicates.",
            )
        ],
        kinds={"parquet"},
        description=(
            f"The outcomes ({', '.join(spec.source.label_columns)}) of one event day, which arrive "
            f"{spec.source.label_delay_days} days after the events. Materialized by the labels schedule "
            "once they have arrived."
        ),
        **common,
    )
    def labels(
        context: dg.AssetExecutionContext, lake: LakeResource, source: DataSourceResource
    ) -> dg.MaterializeResult:
        frame = source.labels(spec, partition_day(context.partition_key))
        result = label_contract(frame, spec)
        metadata: dict[str, dg.RawMetadataValue] = {"dagster/row_count": len(frame), "status": "rejected"}
        if result.passed:
            path = lake.write_partition(model, LABELS, context.partition_key, frame)
            positive = float(frame[spec.source.label_column].mean()) if len(frame) else 0.0
            metadata.update({"status": "accepted", "positive_rate": positive, "path": dg.MetadataValue.path(str(path))})
        return dg.MaterializeResult(metadata=metadata, check_results=[_check_result(result)])

    @dg.asset(
        key=asset_key(model, REFERENCE_STATISTICS),
        deps=[validated_key, asset_key(model, FEATURES)],
        kinds={"duckdb", "json"},
        description=(
            f"Per-column statistics (mean, std, deciles, category frequencies) and the drift profile (PSI bins of "
            f"every feature, and of the champion's scores) of {model}'s reference window: at first the spec's "
            "reference window, after each promotion the new champion's training window. The distribution-shift "
            "check and drift monitoring compare new data against it."
        ),
        **common,
    )
    def reference_statistics(
        context: dg.AssetExecutionContext, config: ReferenceConfig, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        window = config.days or [day.isoformat() for day in spec.reference_window()]
        present = [day for day in window if lake.has_partition(model, FEATURES, day)]
        if not present:
            raise dg.Failure(
                f"{model}: no features in the reference window {window[0]}..{window[-1]} yet; "
                "land and validate those days first"
            )
        numeric = [c.name for c in spec.features.columns if c.dtype in ("float", "int")]
        categorical = [c.name for c in spec.features.columns if c.dtype == "str"]
        con = lake.connect()
        try:
            rows, stats = column_statistics(con, lake.scan_sql(model, FEATURES, present), numeric, categorical)
            batch_only = [c for c in spec.schema_.rules.shift.columns if c not in stats]
            if batch_only:
                # Features are only ever computed from an accepted batch, so these days have one.
                _, more = column_statistics(con, lake.scan_sql(model, VALIDATED_BATCH, present), batch_only, [])
                stats.update(more)
        finally:
            con.close()
        champion, scorer = champion_scorer(mlflow, spec)
        profile = reference_profile(lake, spec, present, scorer)
        document = {
            "model": model,
            "window": {"start": window[0], "end": window[-1], "partitions": present},
            "rows": rows,
            "columns": stats,
            "profile": profile.to_dict(),
            "champion": champion,
            "reason": config.reason,
        }
        path = lake.write_json(model, REFERENCE_STATISTICS, REFERENCE_STATISTICS_FILE, document)
        table = pd.DataFrame(
            [
                {
                    "column": name,
                    **{k: v for k, v in s.items() if k in ("kind", "mean", "std", "min", "max", "null_fraction")},
                }
                for name, s in stats.items()
            ]
        )
        return dg.MaterializeResult(
            metadata={
                "window": f"{window[0]}..{window[-1]}",
                "reason": config.reason,
                "scores of champion": champion or "none (no prediction-drift reference yet)",
                "partitions used": len(present),
                "partitions missing": ", ".join(sorted(set(window) - set(present))) or "none",
                "dagster/row_count": rows,
                "statistics": dg.MetadataValue.md(markdown_table(table, max_rows=50)),
                "path": dg.MetadataValue.path(str(path)),
            }
        )

    return [raw_batch, validated_batch, labels, reference_statistics]
