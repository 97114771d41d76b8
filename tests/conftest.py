"""Shared fixtures, and the rule that every test belongs to exactly one CI stage.

`make ci` runs the stages one by one (`pytest -m <stage>`); a test without a stage marker would
silently run in none of them, so collection fails instead.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from platform_assets.spec import ModelSpec, load_spec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from resources.source import DataSourceResource

STAGES = ("unit", "data_validation", "feature_pipeline", "model_quality", "integration", "simulation")
ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SPEC = ROOT / "specs" / "delivery_delay.yaml"
SMALL_SPEC = Path(__file__).resolve().parent / "fixtures" / "specs" / "parcel_small.yaml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        stages = [mark.name for mark in item.iter_markers() if mark.name in STAGES]
        if len(stages) != 1:
            raise pytest.UsageError(f"{item.nodeid} must carry exactly one CI stage marker of {STAGES}, has {stages}")


@pytest.fixture(scope="session")
def spec() -> ModelSpec:
    return load_spec(SHIPPED_SPEC)


@pytest.fixture(scope="session")
def small_spec() -> ModelSpec:
    return load_spec(SMALL_SPEC)


@pytest.fixture
def lake(tmp_path: Path) -> LakeResource:
    return LakeResource(root=str(tmp_path / "lake"))


@pytest.fixture
def source() -> DataSourceResource:
    """A small, fast feed whose clock lies well after the shipped spec's first days."""
    return DataSourceResource(today="2026-03-01", rows_per_day=800)


def platform_resources(lake: LakeResource, source: DataSourceResource) -> dict[str, object]:
    """Every resource the definitions need, with MLflow and the alert log beside the lake."""
    root = Path(lake.root).parent
    return {
        "lake": lake,
        "source": source,
        "mlflow": MlflowResource(root=str(root / "mlflow")),
        "alerts": AlertingResource(log_path=str(root / "alerts.jsonl")),
    }


@pytest.fixture
def resources(lake: LakeResource, source: DataSourceResource) -> dict[str, object]:
    return platform_resources(lake, source)


def day(offset: int, start: dt.date = dt.date(2026, 1, 1)) -> str:
    """The partition key `offset` days after the shipped spec's first day."""
    return (start + dt.timedelta(days=offset)).isoformat()
