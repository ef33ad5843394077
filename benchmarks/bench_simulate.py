"""Benchmark: simulate a large bank (default 1,000,000 customers over 36 months) and report time and memory.

Runs the real `data` stage (`python -m churnlab.data`) in a temporary project folder whose params.yaml
is the repository's with the size overridden, so Parquet is written in chunks exactly as in `dvc repro`.
Prints wall time, peak resident memory of the stage process, rows written and rows per second. With
`--engine local spark` it runs the stage once per engine (the blocks as processes, then as Spark tasks on
`--master`) and checks that both wrote the same files, byte for byte (`identical=True`).

    python benchmarks/bench_simulate.py                      # 1,000,000 x 36, oracle every 3 months
    python benchmarks/bench_simulate.py --customers 100000   # a quicker look
    python benchmarks/bench_simulate.py --customers 20000 --months 48 --oracle-every 1 --oracle-paths 32 \
        --engine local spark                                 # params.yaml's simulation, both engines
    python benchmarks/bench_simulate.py --tiny               # smoke run (the test suite's): 800 x 24, 2 paths
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml
from child_process import Measured, run_measured
from projects import merge, sized_params

ROOT = Path(__file__).resolve().parents[1]
TINY = {"customers": 800, "months": 24, "oracle_paths": 2}  # checks that it runs; its figures mean nothing




def run_stage(params: dict, engine: str) -> tuple[Measured, dict, float, dict[str, str]]:
    """The data stage on `engine` in a fresh folder: its measured run (`child_process.Measured`), data.json, MiB of
    Parquet and each file's SHA-256."""
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as folder:
        work = Path(folder)
        (work / "params.yaml").write_text(yaml.safe_dump({**params, "engine": {**params["engine"], "name": engine}}),
                                          encoding="utf-8")
        run = run_measured([sys.executable, "-m", "churnlab.data"], cwd=work)
        if run.code:
            raise SystemExit(f"the data stage failed on engine {engine} (exit {run.code})")
        metrics = json.loads((work / "reports/metrics/data.json").read_text(encoding="utf-8"))
        files = sorted((work / "data").rglob("*.parquet"))
        size_mb = sum(f.stat().st_size for f in files) / 1024**2
        digests = {str(f.relative_to(work)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    return run, metrics, size_mb, digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--oracle-every", type=int, default=3, help="oracle probability every N months")
    parser.add_argument("--oracle-paths", type=int, default=16)
    parser.add_argument("--engine", nargs="+", choices=["local", "spark"], default=["local"],
                        help="one engine, or both to compare their files in one run")
    parser.add_argument("--master", default="local[2]", help="Spark master for --engine spark")
    parser.add_argument("--tiny", action="store_true", help=f"smoke run at {TINY}")
    args = parser.parse_args()
    if args.tiny:
        vars(args).update(TINY)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = merge(sized_params(params, customers=args.customers, months=args.months, master=args.master),
                   {"simulate": {"oracle_every_months": args.oracle_every, "oracle_paths": args.oracle_paths}})
    print(f"customers={args.customers:,} months={args.months} oracle_every={args.oracle_every} "
          f"oracle_paths={args.oracle_paths} workers={params['simulate']['workers']}")
    digests = []
    for engine in args.engine:
        load = os.getloadavg()[0]
        run, metrics, size_mb, files = run_stage(params, engine)
        wall = run.wall_s
        digests.append(files)
        rows = metrics["rows"]["monthly"]
        where = f"Spark {args.master}" if engine == "spark" else "processes"
        print(f"engine={engine} ({where}): wall_time_s={wall:.1f} peak_rss_gib={run.peak_gib:.2f} "
              f"monthly_rows={rows:,} rows_per_s={rows / wall:,.0f} parquet_mib={size_mb:,.0f} "
              f"(load average {load:.1f} at start)")
        print(f"annual_churn_rate={metrics['annual_churn_rate']} oracle_auc={metrics['oracle']['auc']} "
              f"oracle_auc_mc_se={metrics['oracle']['auc_mc_standard_error']}", flush=True)
    if len(digests) == 2:
        print(f"identical={digests[0] == digests[1]} ({len(digests[0])} Parquet files compared byte for byte)")


if __name__ == "__main__":
    main()
