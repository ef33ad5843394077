"""Scale benchmark of the `features` stage (not a test): 1,000,000 customers over 36 months, quarterly cutoffs,
on the local engine (DuckDB), on Spark (`--engine spark`, local[2] unless `--master`), or on both in one run.

Target: under 10 minutes and under 8 GB peak RSS on the 2-core research machine. The contract tables come
from the real `data` stage (the simulator, its oracle work cut to the minimum, since the features stage never
reads it), run once in a work folder outside the repository; the stage then runs as `python -m churnlab.features`
in a child process per engine, so the figures exclude the simulation: wall time, CPU time (user + system of
the child and what it waited for, `os.wait4`) and peak RSS, sampled every 0.2 s as the summed resident memory
of the child and all its descendants (Spark's JVM is a grandchild the rusage of the child does not count).
With two engines it then checks that they wrote the same snapshots, lifetimes and catalogue (floats to 1e-9)
and prints `identical=True` or what differs. The printed figures go into docs/benchmarks.md and docs/scale.md.

    .venv/bin/python benchmarks/bench_features.py --customers 1000000 --months 36
    .venv/bin/python benchmarks/bench_features.py --customers 100000 --engine local spark   # both, side by side
    .venv/bin/python benchmarks/bench_features.py --tiny --workdir "$(mktemp -d)"   # smoke run (the test suite's)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from child_process import run_measured
from projects import merge, sized_params

from churnlab.core import paths

REPO = Path(__file__).resolve().parents[1]
TINY = {"customers": 800, "months": 24, "every": 12}  # checks that it runs; its figures mean nothing
OUTPUTS = (paths.SNAPSHOTS, paths.LIFETIMES, paths.INDICATORS)


def generate(workdir: Path, *, customers: int, months: int, params: dict) -> None:
    """Run the real `data` stage (the simulator) in workdir for the contract tables (skipped if already there).

    The stamp lives outside data/raw: the data stage removes files there that it did not write.
    """
    stamp = workdir / "bench.json"
    wanted = {"customers": customers, "months": months}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        print(f"reusing simulated tables in {workdir / 'data/raw'}")
        return
    # The oracle is ground truth for evaluation, not an input of the features stage: do as little as possible.
    sized = merge(sized_params(params, customers=customers, months=months),
                  {"simulate": {"oracle_paths": 2}, "data": {"source": "simulator"}})
    (workdir / "params.yaml").write_text(yaml.safe_dump(sized), encoding="utf-8")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "churnlab.data"], cwd=workdir, check=True, env=_env())
    stamp.write_text(json.dumps(wanted))
    print(f"simulated {customers:,} customers x {months} months in {time.perf_counter() - start:.0f} s")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO / "src"))




def compare(workdir: Path, engines: list[str]) -> list[str]:
    """What differs between the first two engines' outputs ([] when the same: exact but floats to 1e-9)."""
    problems = []
    for output in OUTPUTS:
        read = pd.read_parquet if output.suffix == ".parquet" else pd.read_csv
        first, second = (read(workdir / "engines" / engine / output.name) for engine in engines[:2])
        try:
            pd.testing.assert_frame_equal(first, second, check_exact=False, rtol=1e-9, atol=1e-12)
        except AssertionError as err:
            problems.append(f"{output.name}: {str(err).splitlines()[0]}")
    return problems


def run_engine(workdir: Path, params: dict, *, engine: str, master: str, label: str) -> int:
    """The features stage on `engine`; print its figures; keep its outputs in workdir/engines/<engine>."""
    params = {**params, "engine": {**params["engine"], "name": engine,
                                   "spark": {**params["engine"]["spark"], "master": master, "remote": None}}}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    load = os.getloadavg()[0]
    run = run_measured([sys.executable, "-m", "churnlab.features"], cwd=workdir, env=_env())
    wall, cpu, rss, code = run.wall_s, run.cpu_s, run.peak_gib, run.code
    metrics = json.loads((workdir / paths.METRICS / "features.json").read_text()) if code == 0 else {}
    where = f"Spark {master}" if engine == "spark" else "DuckDB"
    cpu_note = " (Python only, not the JVM)" if engine == "spark" else ""
    print(f"engine={engine} ({where}) features stage: {label}: exit {code}, wall_s={wall:.1f} ({wall / 60:.1f} min), "
          f"CPU {cpu:.0f} s{cpu_note} on {os.cpu_count()} cores (load average {load:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end), peak_rss_gib={rss:.2f} (peak RSS of the process tree), "
          f"{metrics.get('snapshots', 0):,} snapshots x {metrics.get('features', 0)} features, "
          f"{metrics.get('cutoffs', 0)} cutoffs", flush=True)
    if code == 0:
        kept = workdir / "engines" / engine
        kept.mkdir(parents=True, exist_ok=True)
        for output in OUTPUTS:
            shutil.copy(workdir / output, kept / output.name)
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--every", type=int, default=3, help="cutoff_every_months (3 = quarterly)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "churnlab-bench-features")
    parser.add_argument("--engine", nargs="+", choices=["local", "spark"], default=["local"],
                        help="one engine, or both to compare them in one run")
    parser.add_argument("--master", default="local[2]", help="Spark master for --engine spark")
    parser.add_argument("--tiny", action="store_true", help=f"smoke run at {TINY}")
    args = parser.parse_args()
    if args.tiny:
        vars(args).update(TINY)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    generate(workdir, customers=args.customers, months=args.months, params=params)
    params["features"]["cutoff_every_months"] = args.every
    label = f"{args.customers:,} customers x {args.months} months, cutoffs every {args.every} months"
    codes = [run_engine(workdir, params, engine=engine, master=args.master, label=label) for engine in args.engine]
    if len(args.engine) > 1 and not any(codes):
        problems = compare(workdir, args.engine)
        print(f"identical={not problems} (snapshots, lifetimes, catalogue of {' and '.join(args.engine)}; "
              f"floats to 1e-9){''.join(chr(10) + '  ' + p for p in problems)}")
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
