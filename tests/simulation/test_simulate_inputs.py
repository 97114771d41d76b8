"""`mlplatform simulate` on bad input: a clear message naming what is wrong, nothing written, nothing lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mlplatform.cli import main
from platform_assets.spec import load_spec
from simulation.scenarios import SCENARIOS, build_scenario, default_onset
from simulation.traffic import Fault, FaultInjector
from tests.conftest import ROOT, SHIPPED_SPEC

pytestmark = pytest.mark.unit

SPEC = ROOT / "tests" / "fixtures" / "specs" / "delivery_sim.yaml"


def _simulate(*argv: str) -> list[str]:
    return ["simulate", "--spec", str(SPEC), *argv]


def test_a_non_empty_output_directory_is_refused_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    kept = tmp_path / "notes.txt"
    kept.write_text("mine", encoding="utf-8")
    assert main(_simulate("--scenario", "steady", "--days", "3", "--out", str(tmp_path))) == 1
    assert "is not empty: a simulation starts on a fresh instance" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"] and kept.read_text() == "mine"


def test_an_onset_outside_the_days_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(_simulate("--scenario", "incident", "--days", "5", "--onset", "9", "--out", str(out))) == 1
    assert "strikes on day 9, outside the 5 simulated days" in capsys.readouterr().err
    assert not out.exists()


def test_a_broken_spec_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(SPEC.read_text(encoding="utf-8").replace("label_delay_days: 1", "label_delay_days: -1"))
    argv = ["simulate", "--spec", str(broken), "--scenario", "steady", "--days", "3", "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "label_delay_days" in capsys.readouterr().err


@pytest.mark.parametrize(("scenario", "days"), [("meteor", "3"), ("steady", "0")])
def test_arguments_argparse_refuses(scenario: str, days: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(_simulate("--scenario", scenario, "--days", days, "--out", str(tmp_path / "o")))
    assert exit_info.value.code == 2


def test_world_scenarios_need_the_synthetic_feed() -> None:
    spec = load_spec(ROOT / "examples" / "own_dataset" / "churn.yaml")
    with pytest.raises(ValueError, match="changes the synthetic feed's world"):
        build_scenario("sudden_shift", spec, start=dt.date(2026, 1, 1), days=30)
    assert build_scenario("incident", spec, start=dt.date(2026, 1, 1), days=30).faults


def test_every_scenario_strikes_after_the_first_champion_by_default() -> None:
    spec = load_spec(SHIPPED_SPEC)
    onset = default_onset(spec)
    assert onset > spec.training.window_days + spec.source.label_delay_days
    for name in SCENARIOS:
        scenario = build_scenario(name, spec, start=spec.source.start_date, days=60)
        assert scenario.onset == onset and scenario.name == name


class _Scorer:
    def __init__(self) -> None:
        self.seen: list[dict] = []

    def score_row(self, features: dict) -> float:
        self.seen.append(dict(features))
        return 0.5


def test_faults_break_only_their_version_and_only_while_on() -> None:
    injector = FaultInjector()
    scorers: dict[str, _Scorer] = {}

    def loader(version: str) -> _Scorer:
        return scorers.setdefault(version, _Scorer())

    load = injector.wrap(loader)
    two, three = load("2"), load("3")
    injector.switch_on("2", Fault(kind="errors", rate=0.25, description="node down"))
    outcomes = []
    for _ in range(8):
        try:
            outcomes.append(two.score_row({"distance_km": 10.0}))
        except RuntimeError as error:
            outcomes.append(str(error))
    assert outcomes.count("injected fault: node down") == 2, "one request in four, deterministically"
    assert three.score_row({"distance_km": 10.0}) == 0.5
    injector.switch_on("3", Fault(kind="skew", skew={"distance_km": 1000.0}))
    three.score_row({"distance_km": 10.0, "weight_kg": None})
    assert scorers["3"].seen[-1] == {"distance_km": 10_000.0, "weight_kg": None}
    injector.switch_off("2")
    assert [two.score_row({"distance_km": 1.0}) for _ in range(4)] == [0.5] * 4
    with pytest.raises(ValueError, match="rate lies in"):
        Fault(kind="errors", rate=0.0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind="latency")
