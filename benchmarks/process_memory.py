"""Peak memory of a benchmark's child process tree (the stage, its worker processes, Spark's JVM), for the
benchmarks that run a stage in a child process."""

import contextlib

import psutil


def tree_rss(pid: int) -> int:
    """Resident bytes of process `pid` and all its descendants (Spark's JVM, the block workers); 0 once gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended while we looked
            total += process.memory_info().rss
    return total
