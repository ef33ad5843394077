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


def tree_sample(pid: int, cpu: dict[tuple[int, float], float]) -> int:
    """Resident bytes of process `pid` and all its descendants (Spark's JVM, the block workers); 0 once gone.
    Also records in `cpu` each process's own user + system seconds so far, keyed by (pid, start time)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess), process.oneshot():  # NoSuchProcess: it ended while we looked
            total += process.memory_info().rss
            times = process.cpu_times()
            cpu[(process.pid, process.create_time())] = times.user + times.system
    return total


@dataclass(frozen=True)
class Measured:
    """One child run. `cpu_s` is the user + system time of the whole process tree: the fairer figure when other
    work shares the machine. It is the larger of two counts: the child and every descendant it waited for
    (`os.wait4`, exact for a process pool) and the sum of every process's own time at its last sample, every 0.2
    s (which also counts descendants nobody waits for, such as Spark's JVM and its Python workers; it misses a
    process's last 0.2 s and processes that live less than that). `peak_gib` is the largest summed resident
    memory of the process tree, sampled at the same times (or the child's own `ru_maxrss`, if larger)."""

    wall_s: float
    cpu_s: float
    peak_gib: float
    code: int


def run_measured(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, **popen) -> Measured:
    """Run `argv` in `cwd` and wait for it; its wall time, CPU time, peak memory and exit code."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, env=env, **popen)
    peak, cpu, done = [0], {}, threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_sample(child.pid, cpu))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    return Measured(wall_s=time.perf_counter() - start, cpu_s=max(usage.ru_utime + usage.ru_stime, sum(cpu.values())),
                    peak_gib=max(peak[0] / 1024**3, usage.ru_maxrss / 1024**2),  # ru_maxrss is in KiB on Linux
                    code=child.returncode)

