"""The data source resource: synthetic feed and files, and labels that arrive only after their delay."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from platform_assets.spec import ModelSpec, load_spec
from resources.source import DataSourceResource, LabelsNotReadyError, ScenarioConfig, SourceDataError
from resources.synthetic_deliveries import LABEL_COLUMNS, generate_deliveries
from tests.conftest import SMALL_SPEC

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 1, 5)


def test_synthetic_batch_has_no_outcomes_and_labels_match(spec: ModelSpec) -> None:
    source = DataSourceResource(today="2026-01-07", rows_per_day=500)
    batch = source.batch(spec, DAY)
    assert len(batch) == 500
    assert not set(LABEL_COLUMNS) & set(batch.columns)
    labels = source.labels(spec, DAY)
    assert list(labels.columns) == ["tracking_id", "event_time", "is_delayed", "delay_minutes"]
    assert set(labels["tracking_id"]) == set(batch["tracking_id"])


def test_labels_before_their_delay_are_refused(spec: ModelSpec) -> None:
    source = DataSourceResource(today="2026-01-06", rows_per_day=100)
    with pytest.raises(
        LabelsNotReadyError,
        match=r"labels for events of 2026-01-05 arrive on 2026-01-07 .* today is 2026-01-06",
    ):
        source.labels(spec, DAY)


def test_caller_scenarios_apply_to_the_synthetic_feed(spec: ModelSpec) -> None:
    corrupt = DataSourceResource(
        rows_per_day=400,
        scenarios=[
            ScenarioConfig(kind="corrupt_batch", start="2026-01-05", end="2026-01-05", corruptions=["extra_column"])
        ],
    )
    assert "debug_flag" in corrupt.batch(spec, DAY).columns
    assert "debug_flag" not in corrupt.batch(spec, DAY + dt.timedelta(days=1)).columns


def _files_spec(tmp_path: Path, pattern: str, fmt: str = "parquet") -> ModelSpec:
    raw = yaml.safe_load(SMALL_SPEC.read_text())
    raw["name"] = "files_model"
    raw["source"] = {
        "kind": "files",
        "start_date": "2026-01-01",
        "label_delay_days": 1,
        "outcome_columns": ["delay_minutes"],
        "files": {"paths": [pattern], "format": fmt},
    }
    path = tmp_path / "files_model.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_files_source_reads_one_day_by_event_time(tmp_path: Path, fmt: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    days = [DAY - dt.timedelta(days=1), DAY]
    for d in days:
        frame = generate_deliveries(d, seed=3, rows=50)
        if fmt == "parquet":
            frame.to_parquet(data / f"deliveries-{d}.parquet", index=False)
        else:
            frame.to_csv(data / f"deliveries-{d}.csv", index=False)
    spec = _files_spec(tmp_path, f"data/*.{fmt}", fmt)
    source = DataSourceResource(today="2026-02-01")
    batch = source.batch(spec, DAY)
    assert len(batch) == 50
    assert pd.to_datetime(batch["event_time"]).dt.date.eq(DAY).all()
    assert not set(LABEL_COLUMNS) & set(batch.columns)
    assert source.labels(spec, DAY)["is_delayed"].isin([0, 1]).all()


def test_files_source_without_matches_says_where_it_looked(tmp_path: Path) -> None:
    spec = _files_spec(tmp_path, "nowhere/*.parquet")
    with pytest.raises(SourceDataError, match=r"no files match \['nowhere/\*.parquet'\]"):
        DataSourceResource().batch(spec, DAY)
