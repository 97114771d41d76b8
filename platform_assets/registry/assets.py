"""`registered_model`: a candidate that passed the gate, registered in MLflow as `challenger`.

Runs only when the blocking `gate_passed` check on `gate_decision` passed (in the same run a failed
check skips it; automation waits for a passing one). The version carries its lineage as tags, so the
registry alone answers "what data, code and decision produced this model".
"""

import datetime as dt

import dagster as dg
import pandas as pd

from platform_assets.keys import (
    ALIAS_CHALLENGER,
    CANDIDATE_MODEL,
    CURRENT,
    EVALUATION_REPORT,
    GATE_DECISION,
    REGISTERED_MODEL,
    TRAINING_SET,
    Stage,
    asset_key,
    group_name,
)
from platform_assets.metadata import markdown_table
from platform_assets.spec import ModelSpec
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from sensors.conditions import gate_passed_follow_up

__all__ = ["build_registry_assets", "lineage_tags"]


def lineage_tags(
    spec: ModelSpec, candidate: dict, training: dict, gate: dict, report: dict, gate_event: str, run_id: str
) -> dict[str, str]:
    """The tags a registered version carries: where its data, code and approval came from."""
    metrics = report["candidate"]["metrics"]
    return {
        "training_window": f"{training['window'][0]}..{training['window'][1]}",
        "training_partitions": ",".join(training["days"]),
        "data_version": training["version"],
        "code_version": candidate["code_version"],
        "features": ",".join(spec.features.names),
        "mlflow_run_id": candidate["mlflow_run_id"],
        "dagster_run_id": run_id,
        "gate_decision": gate_event,
        "gate_note": gate["note"],
        **{
            f"test_{name}": f"{metrics[name]:.6f}"
            for name in ("auc_roc", "f1", "precision", "recall", "calibration_ece")
        },
    }


def build_registry_assets(spec: ModelSpec) -> list[dg.AssetsDefinition]:
    model = spec.name
    gate_key = asset_key(model, GATE_DECISION)

    @dg.asset(
        key=asset_key(model, REGISTERED_MODEL),
        deps=[gate_key],
        automation_condition=gate_passed_follow_up(),
        # The model's maximum age: a registry that has not seen a new version for this long is stale.
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=dt.timedelta(days=spec.monitoring.max_model_age_days)
        ),
        kinds={"mlflow"},
        group_name=group_name(model, Stage.REGISTRY),
        owners=spec.owners,
        description=(
            f"The newest {model} version that passed the quality gate, registered in MLflow with alias "
            "`challenger` and tagged with its lineage (training window and partitions, data and code "
            "versions, features, Dagster run, gate decision)."
        ),
    )
    def registered_model(
        context: dg.AssetExecutionContext, lake: LakeResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        gate = lake.read_json(model, GATE_DECISION, CURRENT)
        candidate = lake.read_json(model, CANDIDATE_MODEL, CURRENT)
        training = lake.read_json(model, TRAINING_SET, CURRENT)
        report = lake.read_json(model, EVALUATION_REPORT, CURRENT)
        if gate is None or candidate is None or training is None or report is None:
            raise dg.Failure(f"{model}: nothing to register; the gate has not judged a candidate yet")
        # The blocking check already stops a failed gate; these guard against a stale decision.
        if not gate["passed"]:
            raise dg.Failure(
                f"{model}: the latest gate decision failed ({'; '.join(gate['reasons'])}); not registering"
            )
        if gate["candidate_mlflow_run_id"] != candidate["mlflow_run_id"]:
            raise dg.Failure(
                f"{model}: the gate judged MLflow run {gate['candidate_mlflow_run_id']} but the current candidate "
                f"is {candidate['mlflow_run_id']}; evaluate and judge the current candidate first"
            )
        previous = lake.read_json(model, REGISTERED_MODEL, CURRENT)
        if previous is not None and previous.get("model_uri") == candidate["model_uri"]:
            # The same candidate judged again (automation re-evaluates after a code change): one model, one version.
            context.log.info(f"{model}: {candidate['model_uri']} is already version {previous['version']}")
            return dg.MaterializeResult(
                metadata={
                    "version": int(previous["version"]),
                    "new version": False,
                    "alias": ALIAS_CHALLENGER,
                    "model uri": candidate["model_uri"],
                }
            )
        records = context.instance.fetch_materializations(gate_key, limit=1).records
        gate_event = f"run {records[0].run_id} storage_id {records[0].storage_id}" if records else "unknown"
        tags = lineage_tags(spec, candidate, training, gate, report, gate_event, context.run.run_id)
        version = mlflow.register(model, candidate["model_uri"], tags)
        mlflow.set_alias(model, ALIAS_CHALLENGER, version.version)
        lake.write_json(
            model,
            REGISTERED_MODEL,
            CURRENT,
            {"version": version.version, "alias": ALIAS_CHALLENGER, "model_uri": candidate["model_uri"], "tags": tags},
        )
        return dg.MaterializeResult(
            metadata={
                "version": int(version.version),
                "new version": True,
                "alias": ALIAS_CHALLENGER,
                "model uri": candidate["model_uri"],
                "lineage": dg.MetadataValue.md(
                    markdown_table(pd.DataFrame(sorted(tags.items()), columns=["tag", "value"]))
                ),
            }
        )

    return [registered_model]
