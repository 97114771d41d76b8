"""The model spec: the shipped example loads, and each kind of bad spec fails with one clear message."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplatform.cli import main
from platform_assets.spec import ModelSpec, SpecError, load_spec, load_specs
from tests.conftest import SHIPPED_SPEC

pytestmark = pytest.mark.unit


def _raw() -> dict[str, Any]:
    return yaml.safe_load(SHIPPED_SPEC.read_text())


def _write(tmp_path: Path, raw: dict[str, Any], name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_shipped_spec_loads_with_the_seed_thresholds(spec: ModelSpec) -> None:
    assert spec.name == "delivery_delay"
    assert spec.source.kind == "synthetic_deliveries"
    assert spec.source.label_columns == ["is_delayed", "delay_minutes"]
    rules = spec.gate.rules
    assert (rules["auc_roc"].min, rules["f1"].min, rules["precision"].min, rules["recall"].min) == (
        0.88,
        0.80,
        0.78,
        0.75,
    )
    assert (rules["calibration_ece"].max, rules["p99_latency_ms"].max, rules["peak_memory_mb"].max) == (0.05, 50, 512)
    assert rules["auc_roc"].compare_to_champion
    assert spec.schema_.rules.max_null_fraction == {"weather_severity": 0.05}
    assert spec.triggers.retrain_cron == "0 2 * * 1"
    assert len(spec.reference_window()) == 14
    assert set(spec.features.critical) <= set(spec.features.names)


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[leaf] = value


BAD_SPECS = [
    pytest.param("colour", "blue", "colour: unknown key", id="unknown-top-level-key"),
    pytest.param("training.windw_days", 3, "training.windw_days: unknown key", id="misspelt-nested-key"),
    pytest.param(
        "training.window_days", "many", "training.window_days: Input should be a valid integer", id="wrong-type"
    ),
    pytest.param(
        "gate.rules.auc_roc.min",
        1.5,
        "auc_roc.min=1.5 is out of range; expected a value in [0.0, 1.0]",
        id="threshold-out-of-range",
    ),
    pytest.param("gate.rules.accuracy", {"min": 0.9}, "unknown metric 'accuracy'", id="unknown-metric"),
    pytest.param(
        "schema.rules.max_null_fraction.weather_severity",
        1.5,
        "null fraction must lie in [0, 1]",
        id="fraction-out-of-range",
    ),
    pytest.param(
        "schema.model",
        "specs.no_such_module:DeliveryBatch",
        "schema.model: cannot import module 'specs.no_such_module'",
        id="import-path-module",
    ),
    pytest.param(
        "schema.model", "specs.delivery_delay:NoSuchModel", "has no attribute 'NoSuchModel'", id="import-path-attribute"
    ),
    pytest.param("schema.model", "specs.delivery_delay", "expected an import path of the form", id="import-path-form"),
    pytest.param(
        "schema.rules.ranges.volume_l",
        {"min": 0},
        "schema.rules.ranges: column 'volume_l' is not in the schema",
        id="rule-on-unknown-column",
    ),
    pytest.param(
        "source.entity_id_column",
        "parcel_id",
        "source.entity_id_column: column 'parcel_id' is not in the schema",
        id="unknown-id-column",
    ),
    pytest.param(
        "source.kind", "kafka", "source.kind: expected 'synthetic_deliveries' or 'files'", id="unknown-source-kind"
    ),
    pytest.param("triggers.retrain_cron", "daily", "expected a five-field cron expression", id="bad-cron"),
    pytest.param("training.test_days", 27, "must leave training days inside window_days", id="split-too-large"),
    pytest.param("name", "Delivery Delay", "name: String should match pattern", id="bad-name"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_SPECS)
def test_bad_spec_names_file_field_and_expectation(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    raw = _raw()
    _set(raw, field, value)
    path = _write(tmp_path, raw)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    message = str(error.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_feature_the_schema_lacks_names_the_feature(tmp_path: Path) -> None:
    raw = _raw()
    raw["features"]["columns"].append({"name": "cargo_volume_l", "dtype": "float"})
    path = _write(tmp_path, raw)
    with pytest.raises(SpecError, match=r"features\.columns\[13\]\.name: feature 'cargo_volume_l' is not produced"):
        load_spec(path)


def test_feature_sql_referencing_a_missing_column_fails(tmp_path: Path) -> None:
    raw = _raw()
    raw["features"]["sql"] = "SELECT tracking_id, event_time, cargo_volume_l FROM batch"
    path = _write(tmp_path, raw)
    with pytest.raises(SpecError, match=r"features\.sql: the feature definition fails on the schema's columns"):
        load_spec(path)


def test_missing_required_section_and_bad_yaml(tmp_path: Path) -> None:
    raw = _raw()
    del raw["gate"]
    with pytest.raises(SpecError, match="gate: required field is missing"):
        load_spec(_write(tmp_path, raw))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML"):
        load_spec(broken)
    with pytest.raises(SpecError, match="cannot read the spec file"):
        load_spec(tmp_path / "absent.yaml")


def test_every_problem_is_reported_in_one_message(tmp_path: Path) -> None:
    raw = _raw()
    raw["colour"] = "blue"
    raw["training"]["window_days"] = "many"
    with pytest.raises(SpecError) as error:
        load_spec(_write(tmp_path, raw))
    lines = str(error.value).splitlines()
    assert any("colour: unknown key" in line for line in lines)
    assert any("training.window_days" in line for line in lines)


def test_duplicate_model_names_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, _raw(), "a.yaml")
    _write(tmp_path, _raw(), "b.yaml")
    with pytest.raises(SpecError, match="name: 'delivery_delay' is already used by"):
        load_specs(tmp_path)


def test_shipped_specs_directory_loads() -> None:
    assert [spec.name for spec in load_specs()] == ["delivery_delay"]


def test_cli_validate_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-spec", str(SHIPPED_SPEC)]) == 0
    assert capsys.readouterr().out.strip() == "ok"
    raw = _raw()
    raw["gate"]["rules"]["f1"]["min"] = 2
    bad = _write(tmp_path, raw)
    assert main(["validate-spec", str(bad)]) == 1
    assert f"{bad}: gate.rules: f1.min=2.0 is out of range" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mlplatform"), "validate-spec", str(SHIPPED_SPEC)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def test_spec_is_immutable(spec: ModelSpec) -> None:
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    assert copy.deepcopy(spec.gate) == spec.gate
