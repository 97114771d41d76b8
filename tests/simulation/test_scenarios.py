"""The seven scenarios end to end: `mlplatform simulate` on a small copy of the shipped spec, asserting the timeline.

Each test runs the real command (`mlplatform.cli.main`) into a fresh directory and reads back what it wrote
(`timeline.csv`, `summary.json`, the plots) and what the platform left behind (the lake, the registry). The spec,
tests/fixtures/specs/delivery_sim.yaml, is the shipped one at test scale: 1,000 requests a day, a 4-day training
window without search, a one-day shadow, a two-step canary, retraining every other day and an hourly health check.
On it the first champion is trained on day 5, the schedule's next candidate (day 7) goes through shadow and canary
and is promoted on day 9, and a scenario strikes on day 8 unless told otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlplatform.cli import main
from platform_assets.spec import load_spec
from resources.mlflow_registry import MlflowResource
from simulation.events import TIMELINE_COLUMNS
from tests.conftest import ROOT

pytestmark = pytest.mark.simulation

SPEC = ROOT / "tests" / "fixtures" / "specs" / "delivery_sim.yaml"
MODEL = "delivery_sim"
AUC_THRESHOLD = load_spec(SPEC).gate.rules["auc_roc"].min
MONITORING_TRIGGERS = ("data_drift", "performance_decay")


def simulate(out: Path, scenario: str, days: int, *extra: str) -> tuple[pd.DataFrame, dict]:
    """Run the command and return the timeline and the summary it wrote."""
    argv = ["simulate", "--spec", str(SPEC), "--scenario", scenario, "--days", str(days), "--out", str(out), *extra]
    assert main(argv) == 0
    timeline = pd.read_csv(out / "timeline.csv", dtype=str, keep_default_na=False).astype({"day": int})
    assert tuple(timeline.columns) == TIMELINE_COLUMNS
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for name in ("auc.png", "psi.png", "traffic.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    assert (out / "story.txt").read_text(encoding="utf-8").strip()
    return timeline, summary


def of(timeline: pd.DataFrame, kind: str) -> pd.DataFrame:
    return timeline[timeline["event"] == kind]


def triggers(timeline: pd.DataFrame) -> list[str]:
    return [detail.split(":", 1)[0] for detail in of(timeline, "retrain_triggered")["detail"]]


def registered_versions(out: Path) -> list[str]:
    client = MlflowResource(root=str(out / "mlflow")).client()
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))


# The tests run longest first (sudden_shift takes about 160 s, own_dataset 20 s): pytest-xdist hands them out in
# this order, so the CI stage's two workers finish together instead of one waiting on a long test started last.


def test_sudden_shift(tmp_path: Path) -> None:
    timeline, summary = simulate(tmp_path, "sudden_shift", 11, "--onset", "6")
    onset = int(of(timeline, "scenario")["day"].min())
    drift = of(timeline, "drift_detected")
    assert not drift.empty and int(drift["day"].min()) <= onset + 1, "drift detected within one day of the shift"
    after = timeline[timeline["day"] > onset]
    assert "data_drift" in triggers(after), "retraining triggered by drift"
    promoted = of(after, "promoted")
    assert not promoted.empty, "a model of the new world was promoted"
    version = promoted["model_version"].iloc[-1]
    rollout = list(timeline[timeline["model_version"] == version]["event"])
    steps = ["registered", "shadow_started", "canary_started", "canary_step", "promoted"]
    assert [event for event in rollout if event in steps] == steps, "gate, shadow, every canary step, promotion"
    assert summary["realised_auc"]["min"] < AUC_THRESHOLD, "the shift hurt the old champion"
    assert summary["realised_auc"]["last"] >= AUC_THRESHOLD, "realised AUC back above the gate threshold"


def test_incident(tmp_path: Path) -> None:
    timeline, _ = simulate(tmp_path, "incident", 10, "--onset", "10")
    (fault,) = of(timeline, "scenario").itertuples()
    assert fault.role == "champion"
    rollback = of(timeline, "rollback")
    assert len(rollback) == 1 and rollback["model_version"].iloc[0] == fault.model_version
    assert rollback["role"].iloc[0] == "champion" and "error_rate" in rollback["detail"].iloc[0]
    interval = pd.Timedelta(seconds=load_spec(SPEC).monitoring.health_interval_seconds)
    assert pd.Timestamp(rollback["time"].iloc[0]) - pd.Timestamp(fault.time) <= interval, "within one sensor interval"
    pages = of(timeline, "alert")
    assert any(detail.startswith("P1:") and "error_rate" in detail for detail in pages["detail"]), "a P1 names it"


def test_gradual_drift(tmp_path: Path) -> None:
    timeline, _ = simulate(tmp_path, "gradual_drift", 9, "--onset", "6")
    retrains = of(timeline, "retrain_triggered")
    pairs = zip(retrains["day"], triggers(timeline), strict=True)
    fired = [int(day) for day, trigger in pairs if trigger in MONITORING_TRIGGERS]
    assert fired, "the drift or decay trigger fired"
    days = json.loads((tmp_path / "days.json").read_text(encoding="utf-8"))
    below = [record["day"] for record in days if record["auc"] is not None and record["auc"] < AUC_THRESHOLD]
    # The tolerance: the decay trigger's own window of labelled days.
    tolerance = load_spec(SPEC).monitoring.performance.window_days
    assert not below or min(fired) <= min(below) + tolerance, "fired before AUC stayed below the threshold too long"


def test_steady(tmp_path: Path) -> None:
    timeline, summary = simulate(tmp_path, "steady", 9)
    assert set(triggers(timeline)) == {"schedule"}, "no retraining beyond the schedule"
    assert of(timeline, "rollback").empty, of(timeline, "rollback")["detail"].tolist()
    assert of(timeline, "alert").empty, of(timeline, "alert")["detail"].tolist()
    assert of(timeline, "check_failed").empty and of(timeline, "drift_detected").empty
    assert list(of(timeline, "promoted")["model_version"])[:2] == ["1", "2"], "the schedule's models are rolled out"
    assert summary["realised_auc"]["min"] >= AUC_THRESHOLD
    # The test spec skips evidently's HTML (evaluation.evidently_report: false): metrics and gate inputs stay.
    evaluation = json.loads((tmp_path / "lake" / MODEL / "evaluation_report" / "current.json").read_text("utf-8"))
    assert evaluation["report_html"] is None and evaluation["candidate"]["metrics"]["auc_roc"] >= AUC_THRESHOLD
    assert not list((tmp_path / "lake" / MODEL / "evaluation_report").rglob("*.html"))


def test_bad_canary(tmp_path: Path) -> None:
    timeline, _ = simulate(tmp_path, "bad_canary", 8)
    fault = of(timeline, "scenario")
    assert len(fault) == 1 and fault["role"].iloc[0] == "canary"
    version = fault["model_version"].iloc[0]
    rollbacks = of(timeline, "rollback")
    assert list(rollbacks["model_version"]) == [version] and list(rollbacks["role"]) == ["canary"]
    assert "at 50%" in rollbacks["detail"].iloc[0], "rolled back at the step where the evidence showed it"
    assert list(of(timeline, "promoted")["model_version"]) == ["1"], "the champion never changes"


def test_corrupt_batch(tmp_path: Path) -> None:
    timeline, _ = simulate(tmp_path, "corrupt_batch", 7, "--onset", "6")
    onset = int(of(timeline, "scenario")["day"].min())
    corrupt_day = f"2026-01-{onset:02d}"
    failed = of(timeline, "check_failed")
    named = " ".join(failed["detail"])
    assert {"allowed_values", "ranges", "uniqueness"} <= {word for word in named.replace(",", " ").split()}, named
    assert all(corrupt_day in detail for detail in failed["detail"])
    lake = tmp_path / "lake" / MODEL
    assert (lake / "raw_batch" / f"date={corrupt_day}" / "data.parquet").is_file(), "the raw batch stays in the lake"
    assert not (lake / "features" / f"date={corrupt_day}").exists(), "no features from the corrupt batch"
    client = MlflowResource(root=str(tmp_path / "mlflow")).client()
    trained = [client.get_model_version(MODEL, version).tags for version in registered_versions(tmp_path)]
    assert trained, "models kept being trained"
    for tags in trained:
        assert corrupt_day not in tags.get("training_partitions", ""), "no model ever trains on the corrupt batch"
    assert of(timeline, "rollback").empty


def test_the_same_seed_gives_the_same_timeline(tmp_path: Path) -> None:
    """Two runs of one scenario with the same seed: the same timeline, row for row."""
    timelines = []
    for run in ("a", "b"):
        out = tmp_path / run
        argv = ["simulate", "--spec", str(SPEC), "--scenario", "steady", "--days", "5", "--seed", "11"]
        assert main([*argv, "--out", str(out), "--quiet"]) == 0
        timelines.append((out / "timeline.csv").read_text(encoding="utf-8"))
    assert timelines[0] == timelines[1]
    assert len(timelines[0].splitlines()) > 3, "something happened to compare"


def test_bad_candidate(tmp_path: Path) -> None:
    timeline, _ = simulate(tmp_path, "bad_candidate", 7, "--onset", "6")
    onset = int(of(timeline, "scenario")["day"].min())
    after = timeline[timeline["day"] >= onset]
    assert "code_change" in triggers(after), "the training change retrained by itself"
    failed = of(after, "gate_failed")
    assert not failed.empty and "auc_roc" in failed["detail"].iloc[0], "the gate stopped the regressing candidate"
    assert of(after, "registered").empty, "nothing is registered"
    before = set(of(timeline[timeline["day"] < onset], "registered")["model_version"])
    assert set(registered_versions(tmp_path)) == before


def test_own_dataset_steady(tmp_path: Path) -> None:
    """docs/own-dataset.md's replay, on the worked example's Parquet files: the files source goes through the same
    loop. Five days at 300 rows a day (the page's twenty at full size train a first model, at several times this
    test's cost): batches land, pass their checks and become features, and labels arrive after their delay."""
    example = tmp_path / "examples" / "own_dataset"
    example.mkdir(parents=True)
    spec = example / "churn.yaml"
    spec.write_text((ROOT / "examples" / "own_dataset" / "churn.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    generate = [sys.executable, str(ROOT / "examples" / "own_dataset" / "make_dataset.py")]
    data = tmp_path / "var" / "examples" / "own_dataset"
    subprocess.run([*generate, "--out", str(data), "--days", "6", "--rows-per-day", "300"], check=True, timeout=300)
    out = tmp_path / "simulation"
    argv = ["simulate", "--spec", str(spec), "--scenario", "steady", "--days", "5", "--out", str(out)]
    assert main(argv) == 0
    timeline = pd.read_csv(out / "timeline.csv", dtype=str, keep_default_na=False)
    assert of(timeline, "check_failed").empty and of(timeline, "alert").empty and of(timeline, "rollback").empty
    lake = out / "lake" / "churn"
    assert len(list((lake / "features").glob("date=*"))) == 4, "every landed day became features"
    assert len(list((lake / "labels").glob("date=*"))) == 3, "labels arrive two days after their day"
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["n_days"] == 5
