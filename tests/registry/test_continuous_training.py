"""A full continuous-training run on a small synthetic window, with a real SQLite MLflow under tmp_path.

The first candidate is registered as `challenger`; a deliberately broken one (labels shuffled) is
stopped by the gate, registers nothing and raises an alert; a broken champion fails evaluation.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from platform_assets.definitions import build_model_definitions
from platform_assets.keys import ALIAS_CHALLENGER, ALIAS_CHAMPION, LABELS
from platform_assets.spec import ModelSpec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from sensors.training import CT_ASSETS
from tests.conftest import day, platform_resources

pytestmark = pytest.mark.model_quality

MODEL = "delivery_delay"
DAYS = 10


@pytest.fixture(scope="module")
def small_ct_spec(spec: ModelSpec) -> ModelSpec:
    training = spec.training.model_copy(
        update={
            "window_days": DAYS,
            "validation_days": 2,
            "test_days": 2,
            "hpo": spec.training.hpo.model_copy(update={"trials": 3, "timeout_seconds": 120}),
        }
    )
    evaluation = spec.evaluation.model_copy(update={"latency_sample_rows": 300})
    return spec.model_copy(update={"training": training, "evaluation": evaluation})


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory, small_ct_spec: ModelSpec) -> Path:
    """Ten labelled days in a lake, built once for the module (copied per test)."""
    root = tmp_path_factory.mktemp("landed")
    resources = platform_resources(
        LakeResource(root=str(root / "lake")), DataSourceResource(today="2026-03-01", rows_per_day=1_500)
    )
    assets = list(build_model_definitions(small_ct_spec).assets)
    selection = [f"{MODEL}/{name}" for name in ("raw_batch", "validated_batch", "features", "labels")]
    with dg.DagsterInstance.ephemeral() as instance:
        for offset in range(DAYS):
            dg.materialize(
                assets, selection=selection, partition_key=day(offset), resources=resources, instance=instance
            )
    return root / "lake"


@pytest.fixture
def env(tmp_path: Path, landed: Path) -> dict[str, object]:
    shutil.copytree(landed, tmp_path / "lake")
    return {
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "source": DataSourceResource(today="2026-03-01", rows_per_day=1_500),
        "mlflow": MlflowResource(root=str(tmp_path / "mlflow")),
        "alerts": AlertingResource(log_path=str(tmp_path / "alerts.jsonl")),
    }


def _retrain(spec: ModelSpec, env: dict, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(build_model_definitions(spec).assets),
        selection=[f"{MODEL}/{name}" for name in CT_ASSETS],
        resources=env,
        instance=instance,
        raise_on_error=False,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _shuffle_labels(lake: LakeResource) -> None:
    rng = np.random.default_rng(0)
    for partition in lake.partitions(MODEL, LABELS):
        labels = lake.read_partition(MODEL, LABELS, partition)
        labels["is_delayed"] = rng.permutation(labels["is_delayed"].to_numpy())
        lake.write_partition(MODEL, LABELS, partition, labels)


def test_a_good_candidate_is_registered_and_a_broken_one_is_stopped(small_ct_spec: ModelSpec, env: dict) -> None:
    mlflow: MlflowResource = env["mlflow"]  # type: ignore[assignment]
    alerts: AlertingResource = env["alerts"]  # type: ignore[assignment]
    with dg.DagsterInstance.ephemeral() as instance:
        first = _retrain(small_ct_spec, env, instance)
        assert first.success
        assert _checks(first) == {"gate_passed": True}
        gate = first.asset_materializations_for_node(f"{MODEL}__gate_decision")[0].metadata
        assert gate["passed"].value is True
        assert "no champion" in gate["note"].value
        report = first.asset_materializations_for_node(f"{MODEL}__evaluation_report")[0].metadata
        assert report["auc_roc"].value >= 0.88 and report["calibration_ece"].value <= 0.05
        assert 0 < report["p99_latency_ms"].value <= 50 and 0 < report["peak_memory_mb"].value <= 512
        assert Path(report["report"].value).is_file()
        registered = first.asset_materializations_for_node(f"{MODEL}__registered_model")[0].metadata
        assert registered["version"].value == 1

        version = mlflow.version_by_alias(MODEL, ALIAS_CHALLENGER)
        assert version is not None and str(version.version) == "1"
        for tag in (
            "training_window",
            "training_partitions",
            "data_version",
            "code_version",
            "features",
            "dagster_run_id",
            "gate_decision",
            "mlflow_run_id",
        ):
            assert version.tags.get(tag), tag
        assert version.tags["training_partitions"].split(",") == [day(i) for i in range(DAYS)]
        assert version.tags["dagster_run_id"] == first.run_id
        client = MlflowClient(tracking_uri=mlflow.resolved_tracking_uri())
        assert client.get_run(version.tags["mlflow_run_id"]).info.status == "FINISHED"
        assert alerts.read() == []

        # The first version becomes champion; a candidate trained on shuffled labels must not pass.
        mlflow.set_alias(MODEL, ALIAS_CHAMPION, "1")
        _shuffle_labels(env["lake"])  # type: ignore[arg-type]
        second = _retrain(small_ct_spec, env, instance)
        assert _checks(second) == {"gate_passed": False}
        assert not second.asset_materializations_for_node(f"{MODEL}__registered_model")
        decision = second.asset_materializations_for_node(f"{MODEL}__gate_decision")[0].metadata
        assert decision["passed"].value is False
        assert decision["champion version"].value == "1"
        assert "auc_roc" in decision["decision"].value
    versions = MlflowClient(tracking_uri=mlflow.resolved_tracking_uri()).search_model_versions(f"name='{MODEL}'")
    assert [str(v.version) for v in versions] == ["1"], "nothing registered for the broken candidate"
    assert str(mlflow.version_by_alias(MODEL, ALIAS_CHALLENGER).version) == "1"
    assert str(mlflow.version_by_alias(MODEL, ALIAS_CHAMPION).version) == "1"
    sent = alerts.read()
    assert len(sent) == 1 and sent[0]["severity"] == "P2" and "quality gate failed" in sent[0]["title"]
    assert any("auc_roc" in reason for reason in sent[0]["details"]["reasons"])


def test_a_champion_that_fails_to_load_fails_evaluation_and_registers_nothing(
    small_ct_spec: ModelSpec, env: dict
) -> None:
    mlflow: MlflowResource = env["mlflow"]  # type: ignore[assignment]
    with dg.DagsterInstance.ephemeral() as instance:
        assert _retrain(small_ct_spec, env, instance).success
        mlflow.set_alias(MODEL, ALIAS_CHAMPION, "1")
        # Corrupt the registry entry: the champion's artifacts are gone.
        source = mlflow.local_model_file(mlflow.version_by_alias(MODEL, ALIAS_CHAMPION).source)
        source.write_text("not a model")
        result = _retrain(small_ct_spec, env, instance)
        assert not result.success
        failure = result.get_step_failure_events()[0]
        assert failure.step_key == f"{MODEL}__evaluation_report"
        message = json.dumps(str(failure.step_failure_data.error))
        assert "version 1" in message and "cannot be loaded" in message
        assert not result.asset_materializations_for_node(f"{MODEL}__registered_model")
    assert str(mlflow.version_by_alias(MODEL, ALIAS_CHAMPION).version) == "1"


def test_a_failing_training_ends_its_mlflow_run_failed(small_ct_spec: ModelSpec, env: dict) -> None:
    broken = small_ct_spec.model_copy(
        update={"training": small_ct_spec.training.model_copy(update={"params": {"objective": "no_such_objective"}})}
    )
    mlflow: MlflowResource = env["mlflow"]  # type: ignore[assignment]
    with dg.DagsterInstance.ephemeral() as instance:
        result = _retrain(broken, env, instance)
    assert not result.success
    client = MlflowClient(tracking_uri=mlflow.resolved_tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name(MODEL).experiment_id])
    assert [run.info.status for run in runs] == ["FAILED"]
    assert mlflow.version_by_alias(MODEL, ALIAS_CHALLENGER) is None


def test_launchpad_config_overrides_the_window_and_the_search_budget(small_ct_spec: ModelSpec, env: dict) -> None:
    """What a person sets in the UI's launchpad reaches the assets."""
    run_config = {
        "ops": {
            f"{MODEL}__training_set": {"config": {"window_end": day(8), "window_days": 7}},
            f"{MODEL}__candidate_model": {"config": {"hpo_trials": 1}},
        }
    }
    result = dg.materialize(
        list(build_model_definitions(small_ct_spec).assets),
        selection=[f"{MODEL}/training_set", f"{MODEL}/candidate_model"],
        resources=env,
        run_config=run_config,
    )
    training = result.asset_materializations_for_node(f"{MODEL}__training_set")[0].metadata
    assert training["window"].value == f"{day(2)}..{day(8)}"
    assert training["labelled days"].value == 7
    assert result.asset_materializations_for_node(f"{MODEL}__candidate_model")[0].metadata["trials"].value == 1
