"""Atomic writers: a failed write leaves the previous file untouched and no temporary file behind."""

import json

import pandas as pd
import pytest

from churnlab.core.io import ParquetChunks, atomic_path, write_csv, write_json, write_parquet


def test_writers_round_trip(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    write_parquet(frame, tmp_path / "deep" / "f.parquet")
    write_csv(frame, tmp_path / "f.csv")
    write_json({"b": 1.5, "a": [1]}, tmp_path / "m.json")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "deep" / "f.parquet"), frame)
    assert pd.read_csv(tmp_path / "f.csv")["a"].tolist() == [1, 2]
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [1], "b": 1.5}
    assert (tmp_path / "m.json").read_text().index('"a"') < (tmp_path / "m.json").read_text().index('"b"')


def test_failed_write_keeps_the_last_good_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("last good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half writ")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "last good"
    assert list(tmp_path.iterdir()) == [target]


def test_parquet_chunks_appear_only_when_closed_ok(tmp_path):
    import pyarrow as pa

    schema = pa.schema([("x", pa.int64())])
    target = tmp_path / "chunks.parquet"
    writer = ParquetChunks(target, schema)
    writer.write(pd.DataFrame({"x": [1, 2]}))
    writer.write(pd.DataFrame({"x": [3]}))
    assert not target.exists()
    writer.close()
    assert pd.read_parquet(target)["x"].tolist() == [1, 2, 3]
    aborted = ParquetChunks(target, schema)
    aborted.write(pd.DataFrame({"x": [9]}))
    aborted.close(ok=False)
    assert pd.read_parquet(target)["x"].tolist() == [1, 2, 3]
    assert list(tmp_path.iterdir()) == [target]
