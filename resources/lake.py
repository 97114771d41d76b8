"""The lake: Parquet datasets under one root, queried with DuckDB.

Layout: `<root>/<model>/<dataset>/date=<YYYY-MM-DD>/data.parquet` for partitioned datasets and
`<root>/<model>/<dataset>/<name>` for documents such as reference statistics. Every write goes to a
temporary name in the target directory and is renamed into place, so a crash never leaves a
half-written partition and re-materializing a partition replaces it instead of adding rows. No
process holds a database: each step opens its own in-memory DuckDB connection over the files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["LakeResource", "MissingPartitionError", "StagedFile"]

_DATA_FILE = "data.parquet"


class MissingPartitionError(FileNotFoundError):
    """A partition that a step needs has not been written."""


class StagedFile:
    """A file written under a temporary name that only `commit()` moves into place."""

    def __init__(self, target: Path) -> None:
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        self.path = target.parent / f".tmp-{uuid.uuid4().hex}-{target.name}"
        self.committed = False

    def commit(self) -> Path:
        os.replace(self.path, self.target)
        self.committed = True
        return self.target

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def staged(target: Path) -> Iterator[StagedFile]:
    """A `StagedFile` for `target`, removed on leaving the block unless the caller committed it."""
    file = StagedFile(target)
    try:
        yield file
    finally:
        if not file.committed:
            file.discard()


class LakeResource(dg.ConfigurableResource):
    """Parquet lake root (a local path by default) with DuckDB as the query engine."""

    root: str = "var/lake"

    # ------------------------------------------------------------------------------------------ paths

    def dataset_dir(self, model: str, dataset: str) -> Path:
        return Path(self.root).absolute() / model / dataset

    def partition_path(self, model: str, dataset: str, partition: str) -> Path:
        return self.dataset_dir(model, dataset) / f"date={partition}" / _DATA_FILE

    def document_path(self, model: str, dataset: str, name: str) -> Path:
        return self.dataset_dir(model, dataset) / name

    # ----------------------------------------------------------------------------------------- writes

    def stage(self, target: Path) -> contextlib.AbstractContextManager[StagedFile]:
        """Write to a temporary file; it replaces `target` only if the caller commits it."""
        return staged(target)

    def write_partition(self, model: str, dataset: str, partition: str, frame: pd.DataFrame | pa.Table) -> Path:
        """Atomically write (or replace) one partition."""
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        with self.stage(self.partition_path(model, dataset, partition)) as staged:
            pq.write_table(table, staged.path)
            return staged.commit()

    def copy_partition(self, model: str, source: str, target: str, partition: str) -> Path:
        """Atomically copy one partition's file from dataset `source` to dataset `target`."""
        origin = self.existing_partition_path(model, source, partition)
        with self.stage(self.partition_path(model, target, partition)) as staged:
            shutil.copyfile(origin, staged.path)
            return staged.commit()

    def write_table(self, model: str, dataset: str, name: str, frame: pd.DataFrame | pa.Table) -> Path:
        """Atomically write an unpartitioned table (e.g. `training_set/<version>/train.parquet`)."""
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        with self.stage(self.document_path(model, dataset, name)) as staged:
            pq.write_table(table, staged.path)
            return staged.commit()

    def read_table(
        self,
        model: str,
        dataset: str,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
    ) -> pd.DataFrame:
        """An unpartitioned table, or only its `columns`; `categorical` string columns come back as pandas
        Categoricals (read as dictionaries, far cheaper than a Python string per row)."""
        path = self.document_path(model, dataset, name)
        if not path.is_file():
            raise MissingPartitionError(f"{model}/{dataset} has no table {name} (expected {path})")
        return pq.read_table(path, columns=columns, read_dictionary=list(categorical) or None).to_pandas()

    def write_json(self, model: str, dataset: str, name: str, document: Any) -> Path:
        """Atomically write a JSON document."""
        with self.stage(self.document_path(model, dataset, name)) as staged:
            staged.path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str), encoding="utf-8")
            return staged.commit()

    def delete_partition(self, model: str, dataset: str, partition: str) -> None:
        shutil.rmtree(self.partition_path(model, dataset, partition).parent, ignore_errors=True)

    # ------------------------------------------------------------------------------------------ reads

    def has_partition(self, model: str, dataset: str, partition: str) -> bool:
        return self.partition_path(model, dataset, partition).is_file()

    def partitions(self, model: str, dataset: str) -> list[str]:
        """The partitions present, sorted."""
        directory = self.dataset_dir(model, dataset)
        if not directory.is_dir():
            return []
        return sorted(
            child.name.removeprefix("date=")
            for child in directory.iterdir()
            if child.name.startswith("date=") and (child / _DATA_FILE).is_file()
        )

    def existing_partition_path(self, model: str, dataset: str, partition: str) -> Path:
        path = self.partition_path(model, dataset, partition)
        if not path.is_file():
            raise MissingPartitionError(
                f"{model}/{dataset} has no partition {partition} in the lake (expected {path}); "
                f"materialize {model}/{dataset} for {partition} first"
            )
        return path

    def read_partition(self, model: str, dataset: str, partition: str) -> pd.DataFrame:
        return pq.read_table(self.existing_partition_path(model, dataset, partition)).to_pandas()

    def read_json(self, model: str, dataset: str, name: str) -> Any | None:
        """The JSON document, or None when it was never written."""
        path = self.document_path(model, dataset, name)
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def scan_sql(self, model: str, dataset: str, partitions: Sequence[str]) -> str:
        """A DuckDB table expression over the given partitions (all must exist)."""
        paths = [str(self.existing_partition_path(model, dataset, p)) for p in partitions]
        if not paths:
            raise MissingPartitionError(f"{model}/{dataset}: no partitions to read")
        return f"read_parquet({paths!r}, union_by_name = true, hive_partitioning = false)"

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-process DuckDB connection; close it when done."""
        return duckdb.connect()
