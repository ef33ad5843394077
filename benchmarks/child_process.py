"""Run a stage (or any command) in a child process and measure it, for the benchmarks that do: wall time, CPU
time and peak memory of the whole process tree (the stage, its worker processes, Spark's JVM)."""

import contextlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Measured:
    """One child run. `cpu_s` is user + system time of the child and every descendant it waited for (`os.wait4`):
    the fairer figure when other work shares the machine. Spark's JVM is a descendant pyspark does not wait for,
    so on Spark `cpu_s` counts Python only. `peak_gib` is the largest summed resident memory of the process tree,
    sampled every 0.2 s (or the child's own `ru_maxrss`, if larger)."""

    wall_s: float
    cpu_s: float
    peak_gib: float
    code: int


def run_measured(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, **popen) -> Measured:
    """Run `argv` in `cwd` and wait for it; its wall time, CPU time, peak memory and exit code."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, env=env, **popen)
    peak, done = [0], threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    return Measured(wall_s=time.perf_counter() - start, cpu_s=usage.ru_utime + usage.ru_stime,
                    peak_gib=max(peak[0] / 1024**3, usage.ru_maxrss / 1024**2),  # ru_maxrss is in KiB on Linux
                    code=child.returncode)

