"""The lake's manifest and its one reader (`churnlab.core.lake`), on folders written here with pyarrow (no Spark):
a manifest reads back as written, byte for byte the same twice; the reader gives the rows of the chosen cutoffs and
columns with the recorded types, and a missing folder or a partition with other rows than recorded is a clear
error. The Spark writer and the content hash are tested in test_lake_spark.py."""

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnlab.core.lake import LakeError, Manifest, read_manifest, read_rows, read_schema, repair, write_manifest

SCHEMA = pa.schema([("customer_id", pa.string()), ("cutoff", pa.timestamp("ns")), ("segment",
                    pa.dictionary(pa.int32(), pa.string())), ("balance", pa.float64())])


def rows() -> pd.DataFrame:
    """Five snapshot rows at two cutoffs: three at 2021-01-31, two at 2021-02-28."""
    return pd.DataFrame({"customer_id": ["a", "b", "c", "a", "c"],
                         "cutoff": ["2021-01-31"] * 3 + ["2021-02-28"] * 2,
                         "segment": ["mass", "private", "mass", "mass", "affluent"],
                         "balance": [10.0, 2500.5, None, 12.0, 80.0]})


def lake_project(tmp_path, parts: pd.DataFrame | None = None, *, order: tuple[str, ...] = (),
                 written: pd.DataFrame | None = None) -> tuple:
    """A project root (dvc.yaml) with a lake folder of `written` (default `rows()`) written by pyarrow as Spark lays
    it out (lake/snapshots/v1/cutoff=YYYY-MM-DD/*.parquet) and its manifest, with `order`, at
    data/processed/snapshots.parquet."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    folder = tmp_path / "lake" / "snapshots" / "v1"
    written = rows() if written is None else written
    pq.write_to_dataset(pa.Table.from_pandas(written, preserve_index=False), folder, partition_cols=["cutoff"])
    if parts is None:
        parts = pd.DataFrame({"cutoff": ["2021-01-31", "2021-02-28"], "rows": [3, 2],
                              "hash": ["00000000000000aa", "00000000000000bb"]})
    manifest = Manifest("lake/snapshots/v1", "cutoff", SCHEMA, parts, order)
    tracked = tmp_path / "data" / "processed" / "snapshots.parquet"
    write_manifest(manifest, tracked)
    return tracked, manifest, folder


def test_a_manifest_reads_back_as_written_and_is_the_same_bytes_twice(tmp_path):
    tracked, manifest, _ = lake_project(tmp_path)
    again = read_manifest(tracked)
    assert (again.location, again.partition, again.schema, again.rows) == ("lake/snapshots/v1", "cutoff", SCHEMA, 5)
    pd.testing.assert_frame_equal(again.parts, manifest.parts)
    assert again.hash == manifest.hash and len(again.hash) == 32
    first = tracked.read_bytes()
    write_manifest(again, tracked)
    assert tracked.read_bytes() == first  # no time stamp: dvc.lock changes only with the data
    metadata = pq.read_schema(tracked).metadata
    assert metadata[b"churnlab.manifest"] == b"1" and metadata[b"churnlab.rows"] == b"5"
    assert read_schema(tracked) == SCHEMA


def test_the_whole_hash_changes_with_one_partition_hash_and_with_the_schema(tmp_path):
    _, manifest, _ = lake_project(tmp_path)
    changed = manifest.parts.assign(hash=["00000000000000aa", "00000000000000bc"])
    assert Manifest(manifest.location, "cutoff", SCHEMA, changed).hash != manifest.hash
    wider = SCHEMA.set(3, pa.field("balance", pa.float32()))
    assert Manifest(manifest.location, "cutoff", wider, manifest.parts).hash != manifest.hash


def test_an_ordinary_parquet_file_is_read_as_before(tmp_path):
    target = tmp_path / "snapshots.parquet"
    frame = rows().assign(cutoff=lambda f: pd.to_datetime(f["cutoff"]))
    frame.to_parquet(target, index=False)
    assert read_manifest(target) is None
    got = read_rows(target, columns=["customer_id", "cutoff"], cutoffs=[pd.Timestamp("2021-02-28")])
    assert got["customer_id"].tolist() == ["a", "c"]
    assert read_schema(target).names == list(frame.columns)


def test_the_reader_gives_the_chosen_cutoffs_and_columns_with_the_recorded_types(tmp_path, monkeypatch):
    tracked, _, _ = lake_project(tmp_path)
    monkeypatch.chdir(tmp_path / "data")  # the relative location is found from the project root, not the cwd
    everything = read_rows(tracked).sort_values(["cutoff", "customer_id"], ignore_index=True)
    expected = rows().assign(cutoff=lambda f: pd.to_datetime(f["cutoff"]).astype("datetime64[ns]"),
                             segment=lambda f: f["segment"].astype("category"))
    pd.testing.assert_frame_equal(everything, expected, check_categorical=False)
    assert isinstance(everything["segment"].dtype, pd.CategoricalDtype)
    january = read_rows(tracked, columns=["customer_id", "balance"], cutoffs=["2021-01-31"])
    assert list(january.columns) == ["customer_id", "balance"] and sorted(january["customer_id"]) == ["a", "b", "c"]
    assert read_rows(tracked, cutoffs=[pd.Timestamp("2020-12-31")]).empty


def test_the_rows_come_back_in_the_recorded_order_with_sorted_categories(tmp_path):
    """Spark's files come back in any order: the manifest's order is the rows' order, whatever order they were
    written in, and a category's levels are sorted, as pandas sorts those of the local engine's file."""
    shuffled = rows().iloc[[4, 2, 0, 3, 1]]  # c@02-28, c, a, a@02-28, b: neither sorted nor the file's order
    tracked, manifest, _ = lake_project(tmp_path, order=("cutoff", "customer_id"), written=shuffled)
    assert read_manifest(tracked).order == ("cutoff", "customer_id")
    got = read_rows(tracked)
    assert got["customer_id"].tolist() == ["a", "b", "c", "a", "c"]
    assert got["cutoff"].dt.strftime("%m").tolist() == ["01", "01", "01", "02", "02"]
    assert got["segment"].cat.categories.tolist() == ["affluent", "mass", "private"]
    balance = read_rows(tracked, columns=["balance"])
    assert balance.columns.tolist() == ["balance"]  # the sort keys are not returned
    assert balance["balance"].tolist()[:2] == [10.0, 2500.5]


def test_a_missing_version_folder_is_a_clear_error(tmp_path):
    tracked, _, folder = lake_project(tmp_path)
    shutil.rmtree(folder)
    with pytest.raises(LakeError, match=r"snapshots\.parquet: the lake folder .*lake/snapshots/v1 of this manifest is "
                                        r"missing: the lake was changed outside churnlab; run dvc repro -f features"):
        read_rows(tracked)


def test_a_partition_with_other_rows_than_recorded_is_a_clear_error(tmp_path):
    tracked, _, folder = lake_project(tmp_path)
    for file in (folder / "cutoff=2021-02-28").iterdir():
        file.unlink()
    with pytest.raises(LakeError, match=r"snapshots\.parquet: the lake folder lake/snapshots/v1 does not hold the rows "
                                        r"its manifest records \(cutoff=2021-02-28: 0 rows, the manifest says 2\): "
                                        r"the lake was changed outside churnlab; run dvc repro -f features"):
        read_rows(tracked)
    assert len(read_rows(tracked, cutoffs=["2021-01-31"])) == 3  # the intact partition still reads


def test_an_edited_manifest_is_refused(tmp_path):
    tracked, manifest, _ = lake_project(tmp_path)
    table = pq.read_table(tracked)
    edited = table.set_column(1, "rows", pa.array([3, 7], pa.int64()))
    pq.write_table(edited.replace_schema_metadata(table.schema.metadata), tracked)
    with pytest.raises(LakeError, match=r"do not add up to its hash .*: the manifest was edited"):
        read_rows(tracked)


def test_the_repair_names_the_stage_that_writes_the_output():
    assert repair("lake/snapshots/v1").endswith("run dvc repro -f features")
    assert repair("lake/early_warning/v1").endswith("run dvc repro -f score")
    assert repair("s3a://bank/lake/monitor_scores/0123abcd").endswith("run dvc repro -f monitor")
    assert repair("/data/lake/other/v1").endswith("run dvc repro -f <the stage that writes it>")
