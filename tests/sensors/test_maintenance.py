"""The prediction-log compaction sensor and job: a date with too many files is merged into one."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.spec import ModelSpec
from sensors.maintenance import COMPACT_AT_FILES, dates_to_compact
from serving.prediction_log import PredictionLogWriter, day_files, read_predictions
from tests.conftest import platform_resources

pytestmark = pytest.mark.unit

DAY = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _log(spec: ModelSpec, root: Path, flushes: int) -> None:
    writer = PredictionLogWriter.from_spec(spec, root, start=False)
    for index in range(flushes):
        writer.log(
            {
                "request_id": f"r-{index}",
                "event_time": DAY + dt.timedelta(seconds=index),
                "model_version": "1",
                "role": "champion",
                "served": True,
                "score": 0.5,
                "latency_ms": 1.0,
            }
        )
        writer.flush()
    writer.close()


def test_the_sensor_compacts_a_date_that_piled_up_files_once(spec: ModelSpec, tmp_path: Path, lake, source) -> None:
    resources = platform_resources(lake, source)
    defs = build_definitions([spec], resources)
    sensor = defs.get_repository_def().get_sensor_def(f"{spec.name}_prediction_log_compaction")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources, definitions=defs)
        assert "no date" in sensor.evaluate_tick(context).skip_message

        _log(spec, Path(lake.root), COMPACT_AT_FILES + 1)
        assert dates_to_compact(lake.root, spec.name) == {DAY.date().isoformat(): COMPACT_AT_FILES + 1}
        (request,) = sensor.evaluate_tick(context).run_requests
        assert request.run_key == f"{spec.name}:compact:{DAY.date().isoformat()}:{COMPACT_AT_FILES + 1}"
        assert request.tags["trigger"] == "log_compaction" and "101 files" in request.tags["reason"]

        job = defs.resolve_job_def(f"{spec.name}_compact_prediction_log")
        result = job.execute_in_process(run_config=request.run_config, instance=instance)
        assert result.success
        assert len(day_files(lake.root, spec.name, DAY.date())) == 1
        assert len(read_predictions(lake.root, spec.name)) == COMPACT_AT_FILES + 1
        assert "no date" in sensor.evaluate_tick(context).skip_message
