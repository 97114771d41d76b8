"""The lake: atomic partition writes that replace, never append, and never leave half a file."""

from __future__ import annotations

import pandas as pd
import pytest

from resources.lake import LakeResource, MissingPartitionError

pytestmark = pytest.mark.unit


def test_rewriting_a_partition_replaces_it(lake: LakeResource) -> None:
    lake.write_partition("m", "d", "2026-01-01", pd.DataFrame({"x": [1, 2, 3]}))
    lake.write_partition("m", "d", "2026-01-01", pd.DataFrame({"x": [7, 8]}))
    assert lake.read_partition("m", "d", "2026-01-01")["x"].tolist() == [7, 8]
    files = list(lake.dataset_dir("m", "d").rglob("*"))
    assert [f.name for f in files if f.is_file()] == ["data.parquet"], "no temporary files left behind"


def test_a_failed_write_keeps_the_previous_partition(lake: LakeResource) -> None:
    lake.write_partition("m", "d", "2026-01-01", pd.DataFrame({"x": [1]}))
    target = lake.partition_path("m", "d", "2026-01-01")
    with pytest.raises(RuntimeError, match="disk full"), lake.stage(target) as staged:
        staged.path.write_bytes(b"half a parquet file")
        raise RuntimeError("disk full")
    assert lake.read_partition("m", "d", "2026-01-01")["x"].tolist() == [1]
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.parquet"]


def test_partitions_listing_and_copy(lake: LakeResource) -> None:
    for key in ("2026-01-02", "2026-01-01"):
        lake.write_partition("m", "raw", key, pd.DataFrame({"x": [key]}))
    assert lake.partitions("m", "raw") == ["2026-01-01", "2026-01-02"]
    assert lake.partitions("m", "absent") == []
    lake.copy_partition("m", "raw", "copy", "2026-01-02")
    assert lake.read_partition("m", "copy", "2026-01-02")["x"].tolist() == ["2026-01-02"]
    lake.delete_partition("m", "copy", "2026-01-02")
    assert not lake.has_partition("m", "copy", "2026-01-02")


def test_missing_partition_says_what_to_do(lake: LakeResource) -> None:
    with pytest.raises(
        MissingPartitionError, match=r"m/raw has no partition 2026-01-09 .* materialize m/raw for 2026-01-09"
    ):
        lake.read_partition("m", "raw", "2026-01-09")


def test_json_documents_and_duckdb_scans(lake: LakeResource) -> None:
    assert lake.read_json("m", "stats", "s.json") is None
    lake.write_json("m", "stats", "s.json", {"a": 1})
    assert lake.read_json("m", "stats", "s.json") == {"a": 1}
    for key, values in (("2026-01-01", [1, 2]), ("2026-01-02", [3])):
        lake.write_partition("m", "d", key, pd.DataFrame({"x": values}))
    con = lake.connect()
    try:
        total = con.execute(f"SELECT sum(x) FROM {lake.scan_sql('m', 'd', ['2026-01-01', '2026-01-02'])}").fetchone()
    finally:
        con.close()
    assert total == (6,)
