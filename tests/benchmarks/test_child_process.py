"""benchmarks/child_process.py: the CPU time of a process tree counts a descendant nobody waits for (as Spark's JVM)."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from child_process import run_measured  # noqa: E402

# The child starts a grandchild that burns CPU and prints its own CPU seconds, reads that line and exits without
# waiting for it: the grandchild's time is not in the child's rusage, as a JVM pyspark never waits for.
PARENT = """
import subprocess, sys
burn = "import time\\nx = 0\\nfor i in range(8_000_000): x += i\\nprint(time.process_time(), flush=True)"
grandchild = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
print(grandchild.stdout.readline().strip(), flush=True)
"""


def test_the_cpu_time_counts_a_descendant_that_is_never_waited_for(tmp_path):
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:
        run = run_measured([sys.executable, "-c", PARENT], cwd=tmp_path, stdout=stdout)
    grandchild_cpu = float(out.read_text().strip())
    assert run.code == 0
    assert run.cpu_s >= grandchild_cpu - 0.3, (run, grandchild_cpu)  # the last sample misses at most ~0.2 s
