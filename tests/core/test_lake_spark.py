"""The Spark side of the lake (`churnlab.core.lake_spark`) on a tiny frame, in one Spark session (conftest's `spark`):
the content hash does not depend on partitions or row order and changes with one value; a write gives a versioned
folder and a manifest that the reader (pyarrow, or Spark for a URI) reads back; the same rows give the same bytes;
a failed write leaves the previous manifest and folder as they were."""

import pandas as pd
import pyarrow as pa
import pytest

from churnlab.core.lake import read_manifest, read_rows, read_schema
from churnlab.core.lake_spark import content_hash, move_to_lake, spark_rows, write_lake, write_lake_frame
from churnlab.core.outputs import StageResult

pytestmark = pytest.mark.slow

SCHEMA = pa.schema([("customer_id", pa.string()), ("cutoff", pa.timestamp("ns")), ("balance", pa.float64()),
                    ("payroll", pa.bool_())])


def snapshot_rows(spark, rows: int = 40):
    """`rows` customers at two cutoffs (2021-01-31 and 2021-02-28), as a Spark DataFrame with a date cutoff."""
    frame = pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(rows)],
                          "cutoff": pd.to_datetime(["2021-01-31", "2021-02-28"] * (rows // 2)).date,
                          "balance": [i * 10.5 for i in range(rows)], "payroll": [i % 3 == 0 for i in range(rows)]})
    return spark.createDataFrame(frame).selectExpr("customer_id", "cutoff", "balance", "payroll")


def test_the_content_hash_ignores_partitions_and_row_order_and_sees_one_changed_value(spark):
    from pyspark.sql import functions as F

    rows = snapshot_rows(spark)
    one = content_hash(rows.coalesce(1), partition="cutoff")
    assert one["rows"].tolist() == [20, 20] and one["cutoff"].tolist() == ["2021-01-31", "2021-02-28"]
    pd.testing.assert_frame_equal(content_hash(rows.repartition(4), partition="cutoff"), one)
    pd.testing.assert_frame_equal(content_hash(rows.orderBy(F.rand(7)).repartition(3), partition="cutoff"), one)
    changed = rows.withColumn("balance", F.when(F.col("customer_id") == "c005", 1.0).otherwise(F.col("balance")))
    other = content_hash(changed, partition="cutoff")
    assert other["hash"][0] == one["hash"][0] and other["hash"][1] != one["hash"][1]  # c005 is at 2021-02-28


def test_a_write_reads_back_gives_the_same_manifest_twice_and_a_failed_write_keeps_the_last(spark, tmp_path,
                                                                                              monkeypatch):
    from pyspark.sql import functions as F

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    tracked = tmp_path / "data" / "processed" / "snapshots.parquet"
    rows = snapshot_rows(spark)
    manifest = write_lake(rows.repartition(3), lake="lake", name="snapshots", manifest=tracked, schema=SCHEMA)
    assert manifest.location == f"lake/snapshots/{manifest.hash}" and manifest.rows == 40
    assert sorted(p.name for p in (tmp_path / "lake" / "snapshots").iterdir()) == [manifest.hash]  # no staging left
    first = tracked.read_bytes()
    expected = rows.toPandas().assign(cutoff=lambda f: pd.to_datetime(f["cutoff"]).astype("datetime64[ns]"))
    got = read_rows(tracked).sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected.sort_values("customer_id", ignore_index=True))
    via_spark = read_rows(tracked, cutoffs=["2021-01-31"], columns=["customer_id", "cutoff"], spark=spark)
    assert len(via_spark) == 20  # (a local folder: pyarrow; Spark reads URIs, next)

    write_lake(rows.coalesce(1), lake="lake", name="snapshots", manifest=tracked, schema=SCHEMA)
    assert tracked.read_bytes() == first  # the same rows, other partitions: the same version and manifest bytes

    failing = rows.withColumn("balance", F.when(F.col("customer_id") == "c039", F.raise_error(F.lit("disk full")))
                              .otherwise(F.col("balance")))
    with pytest.raises(Exception, match="disk full"):
        write_lake(failing, lake="lake", name="snapshots", manifest=tracked, schema=SCHEMA)
    assert tracked.read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "lake" / "snapshots").iterdir()) == [manifest.hash]

    uri = write_lake(rows, lake=f"file://{tmp_path}/uri-lake", name="snapshots", manifest=tmp_path / "m.parquet",
                     schema=SCHEMA)
    assert uri.hash == manifest.hash and read_manifest(tmp_path / "m.parquet").location.startswith("file://")
    read_back = read_rows(tmp_path / "m.parquet", spark=spark).sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(read_back, got)


def test_a_pandas_output_moved_to_the_lake_reads_back_with_its_own_dtypes(spark, tmp_path, monkeypatch):
    """An early-warning-like frame: ordered and unordered categories, plain and nullable integers, missing floats
    and texts. `move_to_lake` writes it partitioned by its datetime column and takes it out of the stage's result;
    `read_rows` gives back the frame itself, dtypes, category order and missing values included."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    tracked = tmp_path / "reports" / "early_warning.parquet"
    frame = pd.DataFrame({
        "rank": [3, 1, 4, 2], "customer_pseudonym": ["p_a", "p_b", None, "p_d"],  # an order no column sorts
        "cutoff": pd.to_datetime(["2023-11-30", "2023-12-31", "2023-12-31", "2023-12-31"]),
        "p_churn": [0.9, float("nan"), 0.4, 0.1],
        "grade": pd.Categorical(["E", "D", "B", "A"], categories=list("ABCDE"), ordered=True),
        "segment": pd.Categorical(["mass", None, "private", "mass"], categories=["private", "mass", "affluent"]),
        "region": pd.Categorical(["east", "west", "east", "west"], categories=["west", "east"]),  # all seen
        "label": pd.array([1, None, 0, 0], dtype="Int8"), "complete": [True, False, True, True]})
    result = StageResult({}, tables={tracked: frame, tmp_path / "reports" / "other.csv": frame})
    move_to_lake(result, spark, lake="lake", partitions={tracked: "cutoff"})
    assert list(result.tables) == [tmp_path / "reports" / "other.csv"]
    manifest = read_manifest(tracked)
    assert manifest.location == f"lake/early_warning/{manifest.hash}" and manifest.rows == 4
    assert read_schema(tracked).names == list(frame.columns)  # not the row number the order is kept by
    assert manifest.parts["cutoff"].tolist() == ["2023-11-30", "2023-12-31"]
    got = read_rows(tracked)
    pd.testing.assert_frame_equal(got, frame, check_exact=True)  # the frame's own row order, too
    assert got["grade"].cat.categories.tolist() == list("ABCDE") and got["grade"].cat.ordered
    assert got["region"].cat.categories.tolist() == ["west", "east"]  # not the order the values come in
    december = read_rows(tracked, cutoffs=["2023-12-31"], columns=["rank", "segment"])
    assert december["rank"].tolist() == [1, 4, 2] and december["segment"].cat.categories.tolist()[0] == "private"

    recategorised = frame.assign(grade=frame["grade"].cat.set_categories(list("EDCBA"), ordered=True))
    again = write_lake_frame(spark, recategorised, lake="lake", name="early_warning", manifest=tracked,
                             partition="cutoff")
    assert again.hash != manifest.hash  # the same values with other categories are another version


def test_spark_rows_reads_a_file_or_a_lake_at_the_given_cutoffs(spark, tmp_path, monkeypatch):
    """The same rows from the local engine's Parquet file (nanosecond cutoffs, as pandas writes them) and from a
    manifest's lake folder (a date partition): only the asked cutoff's."""
    from churnlab.core.engine import SparkSql

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    rows = snapshot_rows(spark)
    frame = rows.toPandas().assign(cutoff=lambda f: pd.to_datetime(f["cutoff"]).astype("datetime64[ns]"))
    expected = frame[frame["cutoff"] == "2021-02-28"].reset_index(drop=True)
    file = tmp_path / "snapshots.parquet"
    frame.to_parquet(file)
    tracked = tmp_path / "data" / "snapshots.parquet"
    write_lake(rows, lake="lake", name="snapshots", manifest=tracked, schema=SCHEMA)
    sql = SparkSql(spark)
    for path in (file, tracked):
        found = spark_rows(sql, path, cutoffs=[pd.Timestamp("2021-02-28")], view="read_back").toPandas()
        found = found.assign(cutoff=pd.to_datetime(found["cutoff"]).astype("datetime64[ns]"))[expected.columns]
        pd.testing.assert_frame_equal(found.sort_values("customer_id", ignore_index=True), expected, obj=str(path))
    assert spark_rows(sql, file, cutoffs=[pd.Timestamp("2020-12-31")], view="read_back").count() == 0
