"""The worked example of docs/own-dataset.md, step by step, on a copy of the repository's layout in tmp_path.

The commands are taken from the page itself (generate the data, link the spec into `specs/`, remove the link),
so the page cannot drift from what works. The spec is copied verbatim: its globs, relative to the spec file,
must reach the generator's default output, and a day of that data must land, pass every blocking check and
become features through the real assets.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import dagster as dg
import pandas as pd
import pytest

from platform_assets.data.validation import RULE_FAMILIES
from platform_assets.definitions import build_definitions, build_model_definitions
from platform_assets.keys import FEATURE_CONTRACT_CHECK, FEATURES, LABEL_CONTRACT_CHECK, LABELS
from platform_assets.spec import load_spec, load_specs
from resources.lake import LakeResource
from resources.source import DataSourceResource
from tests.conftest import platform_resources
from tests.docs import DOCS, ROOT, commands

pytestmark = pytest.mark.feature_pipeline

EXAMPLE = ROOT / "examples" / "own_dataset"
SPEC = EXAMPLE / "churn.yaml"
PAGE = DOCS / "own-dataset.md"
DAY = "2026-01-02"


def _make_dataset() -> ModuleType:
    loaded = importlib.util.spec_from_file_location("own_dataset_make_dataset", EXAMPLE / "make_dataset.py")
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def _page_command(starts: str) -> list[str]:
    """The page's command that starts with `starts`, as argv (`.venv/bin/python` is this interpreter)."""
    (command,) = [c for c in commands(PAGE) if c.startswith(starts)]
    argv = shlex.split(command)
    return [sys.executable, *argv[1:]] if argv[0] == ".venv/bin/python" else argv


def _run(argv: list[str], cwd: Path) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{shlex.join(argv)} failed: {result.stderr}"
    return result.stdout


def test_make_dataset_is_deterministic_and_lands_where_the_spec_reads(tmp_path: Path) -> None:
    generate = _page_command(".venv/bin/python examples/own_dataset/make_dataset.py")
    small = ["--days", "2", "--rows-per-day", "200"]
    _run([*generate, "--out", str(tmp_path / "a"), *small], cwd=ROOT)
    _run([*generate, "--out", str(tmp_path / "b"), *small], cwd=ROOT)
    files = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert files == ["churn-2026-01-01.parquet", "churn-2026-01-02.parquet"]
    for name in files:
        first, second = (pd.read_parquet(tmp_path / side / name) for side in ("a", "b"))
        pd.testing.assert_frame_equal(first, second)
    frame = pd.read_parquet(tmp_path / "a" / files[0])
    assert len(frame) == 200 and frame["subscription_id"].is_unique
    assert set(frame["churned"].unique()) == {0, 1}
    assert (frame["event_time"].dt.date == dt.date(2026, 1, 1)).all()

    # Run with no --out, the generator writes where the spec's relative glob points.
    spec = load_spec(SPEC)
    assert spec.source.files is not None
    (pattern,) = spec.source.files.paths
    assert (SPEC.parent / pattern).parent.resolve() == _make_dataset().DEFAULT_OUT.resolve()
    schema = set(spec.schema_.columns or {})
    assert set(frame.columns) == schema | {spec.source.label_column}, "the files hold the schema plus the label"


def test_documented_steps_land_validate_and_build_features(tmp_path: Path) -> None:
    # The repository's layout in miniature: the example spec (verbatim), an empty specs/ and var/.
    repo = tmp_path / "repo"
    (repo / "examples" / "own_dataset").mkdir(parents=True)
    (repo / "specs").mkdir()
    shutil.copyfile(SPEC, repo / "examples" / "own_dataset" / "churn.yaml")
    data = repo / "var" / "examples" / "own_dataset"
    generate = _page_command(".venv/bin/python examples/own_dataset/make_dataset.py")
    _run([*generate, "--out", str(data), "--days", "3", "--rows-per-day", "300"], cwd=ROOT)

    _run(_page_command("ln -s"), cwd=repo)
    (spec,) = load_specs(repo / "specs")
    assert spec.name == "churn"
    assert spec.path == (repo / "examples" / "own_dataset" / "churn.yaml").resolve(), "the link is resolved"

    lake = LakeResource(root=str(tmp_path / "lake"))
    resources = platform_resources(lake, DataSourceResource(today="2026-03-01"))
    repository = build_definitions([spec], resources=resources).get_repository_def()
    assert "churn_automation" in {sensor.name for sensor in repository.sensor_defs}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            list(build_model_definitions(spec).assets),
            selection=["churn/raw_batch", "churn/validated_batch", "churn/features", "churn/labels"],
            partition_key=DAY,
            resources=resources,
            instance=instance,
        )
    assert result.success
    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert set(checks) == {*RULE_FAMILIES, FEATURE_CONTRACT_CHECK, LABEL_CONTRACT_CHECK}
    assert all(checks.values()), f"failed checks: {[name for name, passed in checks.items() if not passed]}"

    features = lake.read_partition("churn", FEATURES, DAY)
    assert len(features) == 300
    assert list(features.columns) == [
        spec.source.entity_id_column,
        spec.source.event_time_column,
        *spec.features.names,
    ]
    labels = lake.read_partition("churn", LABELS, DAY)
    assert len(labels) == 300 and set(labels["churned"].unique()) <= {0, 1}

    _run(_page_command("rm "), cwd=repo)
    assert not (repo / "specs" / "churn.yaml").exists(), "the link is gone"
    assert (repo / "examples" / "own_dataset" / "churn.yaml").is_file(), "and the spec itself stays"
