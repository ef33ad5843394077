"""Atomic writers: an output is either the complete new file or the last good one, never half-written.

Each writer writes to a temporary file beside the target and renames it into place (`os.replace` is
atomic on POSIX within one filesystem), so a stage that fails midway leaves the previous outputs intact.
"""

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it onto `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_temporaries(*folders: Path) -> list[Path]:
    """Delete the temporary files (`.<name>.<random>.tmp`) a killed writer left in `folders`; returns them.

    Only safe while no writer is running there: call it at the start of the stage that owns the folders (DVC runs
    one stage of a repository at a time).
    """
    left = [f for folder in folders if Path(folder).is_dir() for f in Path(folder).rglob(".*.tmp") if f.is_file()]
    for file in left:
        file.unlink()
    return left


def _write(target: Path, write: Callable[[Path], Any]) -> None:
    with atomic_path(target) as tmp:
        write(tmp)


def write_parquet(frame: pd.DataFrame, target: Path) -> None:
    """Write `frame` to Parquet atomically, without the pandas index."""
    _write(target, lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(frame: pd.DataFrame, target: Path) -> None:
    """Write `frame` to CSV atomically, without the pandas index."""
    _write(target, lambda tmp: frame.to_csv(tmp, index=False))


def json_text(payload: Any) -> str:
    """`payload` as indented, key-sorted JSON text with a final newline (stable diffs for `dvc metrics diff`)."""
    return json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n"


def write_json(payload: Any, target: Path) -> None:
    """Write `payload` as `json_text` atomically."""
    write_text(json_text(payload), target)


def write_text(text: str, target: Path) -> None:
    """Write `text` atomically."""
    _write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class ParquetChunks:
    """Write a Parquet file one row group at a time, atomically: the target appears only on `close()`.

    `schema` fixes the Arrow types, so every chunk (and an empty file) has the same columns and types.
    """

    def __init__(self, target: Path, schema):
        import pyarrow.parquet as pq

        self._ctx = atomic_path(target)
        self._tmp = self._ctx.__enter__()
        self.schema = schema
        self._writer = pq.ParquetWriter(self._tmp, schema)

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        if len(frame):
            self._writer.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))

    def close(self, ok: bool = True) -> None:
        """Finish the file; move it into place only if `ok` (else discard it and keep the old target)."""
        self._writer.close()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
