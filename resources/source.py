"""The data source: where each model's daily batches and delayed labels come from.

The kind and its settings come from the model's spec (`source.kind`): the synthetic delivery feed or
the user's own Parquet/CSV files. This resource adds what belongs to the deployment rather than to
the model: the clock that decides which labels have arrived (a replay or simulation sets it), and
scenarios or a volume that a caller imposes on the synthetic feed.
"""

from __future__ import annotations

import datetime as dt
import glob
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
import pandas as pd

from resources.synthetic_deliveries import ScenarioWindow, delivery_batch, delivery_labels

if TYPE_CHECKING:
    from platform_assets.spec import ModelSpec

__all__ = [
    "DEMO_FEED_ENV",
    "DataSourceResource",
    "LabelsNotReadyError",
    "ScenarioConfig",
    "SourceDataError",
    "labels_arrival",
]

# The live demo's switch: while it is 0/false/no/off, the demo feed (sensors/demo.py) stops replaying this source.
DEMO_FEED_ENV = "MLPLATFORM_DEMO_FEED"


class LabelsNotReadyError(RuntimeError):
    """Labels were asked for before `label_delay_days` had passed since their event date."""


class SourceDataError(RuntimeError):
    """The source could not produce a batch (no files, unreadable files, missing columns)."""


def labels_arrival(event_day: dt.date, label_delay_days: int) -> dt.date:
    """The day on which the outcomes of `event_day` are known."""
    return event_day + dt.timedelta(days=label_delay_days)


class ScenarioConfig(dg.Config):
    """A scenario imposed by the caller (simulation, tests) on top of the spec's own."""

    kind: str
    start: str
    end: str | None = None
    corruptions: list[str] | None = None

    def window(self) -> ScenarioWindow:
        kwargs = {"corruptions": tuple(self.corruptions)} if self.corruptions is not None else {}
        return ScenarioWindow(
            kind=self.kind,
            start=dt.date.fromisoformat(self.start),
            end=dt.date.fromisoformat(self.end) if self.end else None,
            **kwargs,
        )


class DataSourceResource(dg.ConfigurableResource):
    """Reads batches and labels for a model according to its spec's `source` section."""

    today: str | None = None
    """The date labels are judged against (YYYY-MM-DD); the UTC date when unset."""
    rows_per_day: int | None = None
    """Overrides the synthetic feed's `rows_per_day` (tests and benchmarks)."""
    scenarios: list[ScenarioConfig] = []
    """Scenarios for the synthetic feed, applied before the spec's own."""

    def demo_feed_switch(self) -> str | None:
        """The live demo's switch (`MLPLATFORM_DEMO_FEED`), read through `dg.EnvVar` each time it is asked (the feed
        asks at every tick), never when definitions load; None when unset. `sensors.demo.feed_paused` judges it."""
        return dg.EnvVar(DEMO_FEED_ENV).get_value()

    def current_date(self) -> dt.date:
        if self.today:
            return dt.date.fromisoformat(self.today)
        return dt.datetime.now(dt.UTC).date()

    def batch(self, spec: ModelSpec, day: dt.date) -> pd.DataFrame:
        """The batch of one event day, exactly as the source delivers it (never corrected here)."""
        if spec.source.kind == "synthetic_deliveries":
            return delivery_batch(day, **self._synthetic_args(spec))
        frame = self._files_day(spec, day)
        return frame.drop(columns=[c for c in spec.source.label_columns if c in frame.columns])

    def traffic(self, spec: ModelSpec, day: dt.date) -> pd.DataFrame:
        """The records of one event day as production saw them when each was scored: the world's records, before
        the delivery path can damage them (a `corrupt_batch` scenario breaks the landed batch, not the requests)."""
        if spec.source.kind == "synthetic_deliveries":
            args = self._synthetic_args(spec)
            args["scenarios"] = [window for window in args["scenarios"] if window.kind != "corrupt_batch"]
            return delivery_batch(day, **args)
        return self.batch(spec, day)

    def labels(self, spec: ModelSpec, day: dt.date) -> pd.DataFrame:
        """The outcomes of one event day: entity id, event time and the label columns."""
        arrival = labels_arrival(day, spec.source.label_delay_days)
        today = self.current_date()
        if arrival > today:
            raise LabelsNotReadyError(
                f"{spec.name}: labels for events of {day} arrive on {arrival} "
                f"(label_delay_days={spec.source.label_delay_days}); today is {today}"
            )
        if spec.source.kind == "synthetic_deliveries":
            return delivery_labels(day, **self._synthetic_args(spec))
        source = spec.source
        frame = self._files_day(spec, day)
        wanted = [source.entity_id_column, source.event_time_column, *source.label_columns]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise SourceDataError(f"{spec.name}: the source files lack the label columns {missing}")
        return frame[wanted]

    def _synthetic_args(self, spec: ModelSpec) -> dict[str, object]:
        synthetic = spec.source.synthetic
        assert synthetic is not None  # the spec validator fills it for this kind
        windows = [config.window() for config in self.scenarios] + [s.window() for s in synthetic.scenarios]
        return {"seed": synthetic.seed, "rows": self.rows_per_day or synthetic.rows_per_day, "scenarios": windows}

    def _files_day(self, spec: ModelSpec, day: dt.date) -> pd.DataFrame:
        files = spec.source.files
        assert files is not None  # the spec validator guarantees it for this kind
        base = spec.path.parent if spec.path else Path.cwd()
        paths = sorted({match for pattern in files.paths for match in glob.glob(str(base / pattern), recursive=True)})
        if not paths:
            raise SourceDataError(f"{spec.name}: no files match {files.paths} (relative to {base})")
        reader = "read_parquet" if files.format == "parquet" else "read_csv_auto"
        time_column = spec.source.event_time_column
        con = duckdb.connect()
        try:
            return con.execute(
                f'SELECT * FROM {reader}(?, union_by_name = true) WHERE CAST("{time_column}" AS DATE) = ?',
                [paths, day],
            ).df()
        except duckdb.Error as exc:
            raise SourceDataError(f"{spec.name}: cannot read {len(paths)} source file(s) for {day}: {exc}") from exc
        finally:
            con.close()
