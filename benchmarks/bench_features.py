"""Scale benchmark of the `features` stage (not a test): 1,000,000 customers over 36 months, quarterly cutoffs.

Target: under 10 minutes and under 8 GB peak RSS on the 2-core research machine. The contract tables come
from the real `simulate` stage (its oracle work cut to the minimum, since the features stage never reads
it), run once in a work folder outside the repository; the stage then runs as `python -m churnlab.features`
in a child process, so its wall time, CPU time and peak RSS (the `os.wait4` rusage of that child alone)
exclude the simulation. The printed figures go into docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_features.py --customers 1000000 --months 36
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from churnlab.core import paths

REPO = Path(__file__).resolve().parents[1]


def generate(workdir: Path, *, customers: int, months: int, params: dict) -> None:
    """Run the real `data` stage (the simulator) in workdir for the contract tables (skipped if already there).

    The stamp lives outside data/raw: the data stage removes files there that it did not write.
    """
    stamp = workdir / "bench.json"
    wanted = {"customers": customers, "months": months}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        print(f"reusing simulated tables in {workdir / 'data/raw'}")
        return
    simulate = dict(params["simulate"])
    # The oracle is ground truth for evaluation, not an input of the features stage: do as little as possible.
    simulate.update(n_customers=customers, n_months=months, oracle_paths=2, oracle_every_months=3,
                    shock_month=min(simulate["shock_month"], months - 8),
                    campaign_months=[m for m in simulate["campaign_months"] if m < months])
    data = {**params["data"], "source": "simulator"}
    (workdir / "params.yaml").write_text(yaml.safe_dump({**params, "data": data, "simulate": simulate}),
                                         encoding="utf-8")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "churnlab.data"], cwd=workdir, check=True, env=_env())
    stamp.write_text(json.dumps(wanted))
    print(f"simulated {customers:,} customers x {months} months in {time.perf_counter() - start:.0f} s")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"))


def run_stage(workdir: Path) -> tuple[float, float, float, int]:
    """Run the features stage in a child process; return wall seconds, CPU seconds (user + system), peak RSS
    in GB and the exit code. CPU time is the fairer figure when other work shares the machine."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "churnlab.features"], cwd=workdir, env=_env())
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024**2, child.returncode  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--every", type=int, default=3, help="cutoff_every_months (3 = quarterly)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "churnlab-bench-features")
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    generate(workdir, customers=args.customers, months=args.months, params=params)
    params["features"]["cutoff_every_months"] = args.every
    (workdir / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    load = os.getloadavg()[0]
    wall, cpu, rss, code = run_stage(workdir)
    metrics = json.loads((workdir / paths.METRICS / "features.json").read_text()) if code == 0 else {}
    print(f"features stage: {args.customers:,} customers x {args.months} months, cutoffs every {args.every} "
          f"months: exit {code}, wall {wall / 60:.1f} min ({wall:.0f} s), CPU {cpu:.0f} s on {os.cpu_count()} "
          f"cores (load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end), peak RSS {rss:.2f} GB, "
          f"{metrics.get('snapshots', 0):,} snapshots x {metrics.get('features', 0)} features, "
          f"{metrics.get('cutoffs', 0)} cutoffs")
    sys.exit(code)


if __name__ == "__main__":
    main()
