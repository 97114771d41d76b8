"""The `deployment` asset against a real SQLite registry: every transition, invalid ones, the
pre-deployment integration test in a real serving process, and a crash between two alias moves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_model_definitions
from platform_assets.deployment.registry import read_state
from platform_assets.deployment.state import DeploymentState, plan
from platform_assets.spec import ModelSpec
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource
from tests.builders import register_version
from tests.conftest import ROOT, platform_resources

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"


@pytest.fixture
def env(tmp_path: Path, lake) -> dict:
    return platform_resources(lake, DataSourceResource())


def _deploy(spec: ModelSpec, env: dict, action: str, version: str | None = None) -> dg.ExecuteInProcessResult:
    config = {"action": action, "reason": f"test: {action}", "evidence": '{"source": "test"}'}
    if version is not None:
        config["version"] = version
    return dg.materialize(
        list(build_model_definitions(spec).assets),
        selection=[f"{MODEL}/deployment"],
        resources=env,
        run_config={"ops": {f"{MODEL}__deployment": {"config": config}}},
        raise_on_error=False,
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(f"{MODEL}__deployment")[0].metadata.items()}


def _error(result: dg.ExecuteInProcessResult) -> str:
    error = result.get_step_failure_events()[0].step_failure_data.error
    return f"{error.message} {error.cause.message if error.cause else ''}"


def test_a_version_travels_shadow_canary_champion_and_back(spec: ModelSpec, env: dict) -> None:
    mlflow: MlflowResource = env["mlflow"]
    v1, v2, v3 = (register_version(mlflow, spec, seed) for seed in (1, 2, 3))

    first = _deploy(spec, env, "promote", v1)
    assert first.success and _metadata(first)["champion"] == v1
    assert read_state(mlflow, MODEL).champion == v1

    shadow = _deploy(spec, env, "start_shadow", v2)
    assert shadow.success, _error(shadow)
    report = _metadata(shadow)["integration test"]
    assert report["passed"] and report["score mismatches"] == 0 and report["version"] == v2
    assert read_state(mlflow, MODEL).shadow == v2

    weights = []
    for action in ("start_canary", "advance_canary", "advance_canary", "advance_canary"):
        result = _deploy(spec, env, action)
        assert result.success, _error(result)
        weights.append(_metadata(result)["canary weight"])
    assert weights == [5.0, 15.0, 30.0, 100.0]

    promoted = _deploy(spec, env, "promote")
    meta = _metadata(promoted)
    assert meta["before"]["champion"] == v1 and meta["after"]["champion"] == v2
    assert meta["after"]["previous_champion"] == v1 and meta["after"]["canary"] is None
    assert meta["reason"] == "test: promote" and meta["evidence"] == {"source": "test"}

    # A bad canary is rolled back; then production rolls back to the previous champion.
    assert _deploy(spec, env, "start_shadow", v3).success
    assert _deploy(spec, env, "start_canary").success
    rolled = _deploy(spec, env, "rollback_canary")
    assert _metadata(rolled)["after"]["canary"] is None
    assert mlflow.client().get_model_version(MODEL, v3).tags["deployment_status"] == "rolled_back"
    back = _deploy(spec, env, "rollback_production")
    assert _metadata(back)["after"]["champion"] == v1
    assert mlflow.client().get_model_version(MODEL, v2).tags["deployment_status"] == "rolled_back"


def test_an_invalid_action_fails_and_changes_nothing(spec: ModelSpec, env: dict) -> None:
    mlflow: MlflowResource = env["mlflow"]
    v1 = register_version(mlflow, spec, 1)
    assert _deploy(spec, env, "promote", v1).success
    before = read_state(mlflow, MODEL)
    for action in ("advance_canary", "rollback_canary", "start_canary", "rollback_production", "reject"):
        result = _deploy(spec, env, action)
        assert not result.success
        assert f"cannot {action}" in _error(result)
        assert read_state(mlflow, MODEL) == before
    unknown = _deploy(spec, env, "teleport")
    assert not unknown.success and "teleport" in _error(unknown)
    assert read_state(mlflow, MODEL) == before


def test_a_version_that_fails_the_integration_test_never_serves(spec: ModelSpec, env: dict) -> None:
    mlflow: MlflowResource = env["mlflow"]
    v1, v2 = register_version(mlflow, spec, 1), register_version(mlflow, spec, 2)
    assert _deploy(spec, env, "promote", v1).success
    source = mlflow.client().get_model_version(MODEL, v2).source
    mlflow.local_model_file(str(source)).write_text("not a model")
    result = _deploy(spec, env, "start_shadow", v2)
    assert not result.success
    assert f"version {v2}" in _error(result)
    assert read_state(mlflow, MODEL) == DeploymentState(champion=v1)


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from platform_assets.deployment.registry import apply_transition, read_state
    from platform_assets.deployment.state import plan
    from platform_assets.spec import load_spec
    from resources.mlflow_registry import MlflowResource

    spec = load_spec(sys.argv[1])
    mlflow = MlflowResource(root=sys.argv[2])
    stop_after = int(sys.argv[3])
    transition = plan(read_state(mlflow, spec.name), "promote", steps=spec.deployment.canary.steps)

    def die(index, move):
        if index + 1 == stop_after:
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies between two registry moves

    apply_transition(mlflow, spec.name, transition, on_move=die)
    """
)


def test_a_crash_between_alias_moves_leaves_a_loadable_champion_and_resumes(spec: ModelSpec, env: dict) -> None:
    mlflow: MlflowResource = env["mlflow"]
    v1, v2 = register_version(mlflow, spec, 1), register_version(mlflow, spec, 2)
    steps = spec.deployment.canary.steps
    moves = len(
        plan(DeploymentState(champion=v1, canary=v2, canary_weight=100.0, canary_step=3), "promote", steps=steps).moves
    )
    for stop_after in range(1, moves):
        mlflow.client().set_registered_model_alias(MODEL, "champion", v1)
        mlflow.delete_alias(MODEL, "previous_champion")
        mlflow.client().set_registered_model_alias(MODEL, "canary", v2)
        mlflow.client().set_registered_model_tag(MODEL, "canary_weight", "100.0")
        mlflow.client().set_registered_model_tag(MODEL, "canary_step", "3")
        killed = subprocess.run(
            [sys.executable, "-c", CRASH_SCRIPT, str(spec.path), mlflow.root, str(stop_after)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        state = read_state(mlflow, MODEL)
        assert state.champion in (v1, v2), f"after {stop_after} move(s): {state}"
        mlflow.load_booster(MODEL, mlflow.client().get_model_version(MODEL, state.champion))  # loadable
        # Launching the same action again completes it instead of doing it twice.
        resumed = _deploy(spec, env, "promote")
        assert resumed.success, _error(resumed)
        final = read_state(mlflow, MODEL)
        assert (final.champion, final.previous_champion, final.canary) == (v2, v1, None), f"after {stop_after}"
