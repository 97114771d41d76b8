"""The monitoring assets of one model: `drift_report` and `performance_report`, one partition per event day.

`drift_report` compares a day's features (the inputs production saw that day) and the day's served scores (from the
prediction log) with the reference profile of `reference_statistics`, and links an evidently HTML report on a
sample. `performance_report` joins the predictions of the trailing `monitoring.performance.window_days` with the
labels that have arrived and reports realised AUC, F1 and calibration per model version and role, and the A/B
difference when a canary shares traffic; it re-materializes by itself when a day's labels land (late labels
included). Each report is also written to the lake as JSON, which the drift and decay sensors read.

The decisions themselves live in `drift`, `performance` and `platform_assets.monitoring.decisions`; this module
reads, calls and records.
"""

import datetime as dt
import math

import dagster as dg
import numpy as np
import pandas as pd

from platform_assets.keys import (
    DRIFT_REPORT,
    FEATURES,
    LABELS,
    PERFORMANCE_REPORT,
    REFERENCE_STATISTICS,
    REFERENCE_STATISTICS_FILE,
    Stage,
    asset_key,
    daily_partitions,
    group_name,
    partition_day,
)
from platform_assets.metadata import markdown_table
from platform_assets.monitoring.drift import ReferenceProfile, drift_report, evidently_drift_html
from platform_assets.monitoring.performance import (
    ab_comparison,
    join_labels,
    performance_markdown,
    realised_performance,
)
from platform_assets.monitoring.reference import feature_kinds, reference_sample
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from sensors.conditions import upstream_partition_landed, upstream_partition_passed_checks
from serving.prediction_log import read_predictions

__all__ = ["build_monitoring_assets", "report_name", "served_scores"]

# The registry tag holding a version's AUC on its test window (set at registration).
TAG_TEST_AUC = "test_auc_roc"


def report_name(day: str) -> str:
    """The lake document of one day's report (`<lake>/<model>/<report>/date=<day>.json`)."""
    return f"date={day}.json"


def served_scores(log: pd.DataFrame) -> np.ndarray:
    """The scores production returned: served rows without an error, finite."""
    if log.empty:
        return np.empty(0)
    served = log[log["served"].astype(bool) & log["error"].isna()]
    scores = served["score"].to_numpy(dtype=np.float64, na_value=np.nan)
    return scores[np.isfinite(scores)]


def _reference(lake: LakeResource, model: str) -> tuple[dict | None, ReferenceProfile | None]:
    document = lake.read_json(model, REFERENCE_STATISTICS, REFERENCE_STATISTICS_FILE)
    if document is None or "profile" not in document:
        return document, None
    return document, ReferenceProfile.from_dict(document["profile"])


def _training_auc(mlflow: MlflowResource, model: str, version: str) -> float | None:
    try:
        tags = mlflow.client().get_model_version(model, version).tags
    except Exception:  # a version deleted from the registry: no training AUC to compare with
        return None
    value = tags.get(TAG_TEST_AUC)
    return float(value) if value else None


def build_monitoring_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    model = spec.name
    monitoring = spec.monitoring
    partitions = daily_partitions(spec.source.start_date)
    source = spec.source
    common = {
        "partitions_def": partitions,
        "group_name": group_name(model, Stage.MONITORING),
        "owners": spec.owners,
        "freshness_policy": dg.FreshnessPolicy.time_window(
            fail_window=dt.timedelta(hours=monitoring.report_max_lag_hours)
        ),
    }

    @dg.asset(
        key=asset_key(model, DRIFT_REPORT),
        deps=[asset_key(model, FEATURES)],
        automation_condition=upstream_partition_passed_checks(),
        kinds={"evidently", "duckdb"},
        description=(
            f"Input and prediction drift of {model} for one event day: PSI of every feature against the "
            f"reference (bins fixed on the reference), PSI of the served scores, each beside the PSI expected "
            f"with no drift at the day's sample size. Critical features ({', '.join(spec.features.critical)}) "
            f"drift above {monitoring.drift.feature_psi}, the output above {monitoring.drift.output_psi}; the "
            "drift sensor retrains on either. Links an evidently drift report on a sample."
        ),
        **common,
    )
    def drift_report_asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        day = context.partition_key
        document, profile = _reference(lake, model)
        if profile is None:
            context.log.info(f"{model}: no reference profile yet; drift for {day} is not judged")
            lake.write_json(model, DRIFT_REPORT, report_name(day), {"day": day, "judged": False, "columns": []})
            return dg.MaterializeResult(
                metadata={"status": "not judged: the reference window has not been built yet", "drifted": False}
            )
        current = lake.read_partition(model, FEATURES, day)
        scores = served_scores(read_predictions(lake.root, model, [day]))
        judge_scores = scores if (profile.scores is not None and len(scores)) else None
        result = drift_report(
            profile, current, monitoring.drift, critical=spec.features.critical, scores=judge_scores, seed=0
        )
        numeric, categorical = feature_kinds(spec)
        wanted = monitoring.drift.evidently_report
        html = None
        if wanted == "always" or (wanted == "on_drift" and result.drifted_critical):
            html = evidently_drift_html(
                reference_sample(lake, spec, profile.window, monitoring.drift.evidently_sample_rows),
                current,
                lake.document_path(model, DRIFT_REPORT, f"date={day}.html"),
                numeric=numeric,
                categorical=categorical,
                sample_rows=monitoring.drift.evidently_sample_rows,
            )
        output_note = (
            "judged"
            if judge_scores is not None
            else ("no reference scores (no champion when the reference was built)" if profile.scores is None else "")
            or "no served predictions logged for this day"
        )
        lake.write_json(
            model,
            DRIFT_REPORT,
            report_name(day),
            {
                "day": day,
                "judged": not result.too_small,
                "reference_window": list(profile.window),
                "reference_champion": document.get("champion") if document else None,
                "output": output_note,
                **result.to_dict(),
            },
        )
        psi = {
            f"psi {column.column}": float(column.psi)
            for column in result.columns
            if column.critical and column.psi is not None and math.isfinite(column.psi)
        }
        return dg.MaterializeResult(
            metadata={
                "drifted": bool(result.drifted_critical),
                "drifted critical": ", ".join(result.drifted_critical) or "none",
                "rows": result.rows,
                "output drift": output_note,
                "reference window": f"{profile.window[0]}..{profile.window[-1]}" if profile.window else "none",
                "report": dg.MetadataValue.md(result.to_markdown()),
                "evidently report": (
                    dg.MetadataValue.path(str(html)) if html is not None else f"none ({wanted}: no drift this day)"
                ),
                **psi,
            }
        )

    @dg.asset(
        key=asset_key(model, PERFORMANCE_REPORT),
        deps=[asset_key(model, LABELS)],
        automation_condition=upstream_partition_landed(),
        kinds={"duckdb"},
        description=(
            f"Realised performance of {model} on predictions whose labels have arrived, over the "
            f"{monitoring.performance.window_days} event days ending at the partition: AUC, F1 and calibration per "
            "model version and role, each version's training AUC beside it, and, when a canary shares traffic, "
            "canary minus champion AUC with a bootstrap interval. Re-materializes when late labels land; the "
            f"decay sensor retrains below AUC {monitoring.performance.min_auc} or {monitoring.performance.max_decay} "
            "under the training AUC."
        ),
        **common,
    )
    def performance_report_asset(
        context: dg.AssetExecutionContext, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        day = context.partition_key
        end = partition_day(day)
        days = [(end - dt.timedelta(days=offset)).isoformat() for offset in range(monitoring.performance.window_days)]
        labelled_days = [d for d in days if lake.has_partition(model, LABELS, d)]
        predictions = read_predictions(lake.root, model, sorted(days))
        labels = (
            pd.concat([lake.read_partition(model, LABELS, d) for d in labelled_days], ignore_index=True)
            if labelled_days
            else pd.DataFrame({source.entity_id_column: [], source.label_column: []})
        )
        labelled = (
            join_labels(predictions, labels, id_column=source.entity_id_column, label_column=source.label_column)
            if len(predictions) and len(labels)
            else None
        )
        groups = (
            realised_performance(
                labelled, threshold=spec.evaluation.threshold, min_labelled=monitoring.performance.min_labelled
            )
            if labelled is not None
            else ()
        )
        ab = (
            ab_comparison(
                labelled,
                confidence=monitoring.performance.confidence,
                min_labelled=monitoring.performance.min_labelled,
            )
            if labelled is not None
            else None
        )
        rows = []
        for group in groups:
            training_auc = _training_auc(mlflow, model, group.model_version)
            decay = None if (training_auc is None or group.auc is None) else training_auc - group.auc
            rows.append({**group.to_dict(), "training_auc": training_auc, "decay": decay})
        lake.write_json(
            model,
            PERFORMANCE_REPORT,
            report_name(day),
            {
                "day": day,
                "window": [min(days), max(days)],
                "labelled_days": sorted(labelled_days),
                "predictions": len(predictions),
                "labelled": 0 if labelled is None else len(labelled),
                "groups": rows,
                "ab": ab.to_dict() if ab is not None else None,
            },
        )
        metadata: dict[str, dg.RawMetadataValue] = {
            "window": f"{min(days)}..{max(days)}",
            "labelled days": len(labelled_days),
            "predictions": len(predictions),
            "labelled predictions": 0 if labelled is None else len(labelled),
            "report": dg.MetadataValue.md(performance_markdown(groups, ab)),
        }
        for row in rows:
            if row["auc"] is not None:
                metadata[f"realised auc {row['role']}"] = float(row["auc"])
        if ab is not None and ab.difference is not None:
            metadata["a/b auc difference"] = float(ab.difference)
        if rows:
            metadata["groups"] = dg.MetadataValue.md(markdown_table(pd.DataFrame(rows)))
        return dg.MaterializeResult(metadata=metadata)

    return [drift_report_asset, performance_report_asset]
