"""Benchmark: simulate a large bank (default 1,000,000 customers over 36 months) and report time and memory.

Runs the real `data` stage (`python -m churnlab.data`) in a temporary project folder whose params.yaml
is the repository's with the size overridden, so Parquet is written in chunks exactly as in `dvc repro`.
Prints wall time, peak resident memory of the stage process, rows written and rows per second.

    python benchmarks/bench_simulate.py                      # 1,000,000 x 36, oracle every 3 months
    python benchmarks/bench_simulate.py --customers 100000   # a quicker look
    python benchmarks/bench_simulate.py --tiny               # smoke run (the test suite's): 800 x 24, 2 paths
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {"customers": 800, "months": 24, "oracle_paths": 2}  # checks that it runs; its figures mean nothing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--oracle-every", type=int, default=3, help="oracle probability every N months")
    parser.add_argument("--oracle-paths", type=int, default=16)
    parser.add_argument("--tiny", action="store_true", help=f"smoke run at {TINY}")
    args = parser.parse_args()
    if args.tiny:
        vars(args).update(TINY)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["simulate"].update(n_customers=args.customers, n_months=args.months, oracle_every_months=args.oracle_every,
                              oracle_paths=args.oracle_paths, shock_month=min(params["simulate"]["shock_month"],
                                                                              args.months - 8),
                              campaign_months=[m for m in params["simulate"]["campaign_months"] if m < args.months])
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as folder:
        work = Path(folder)
        (work / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "churnlab.data"], cwd=work, check=True)
        wall = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # KiB -> GiB
        metrics = json.loads((work / "reports/metrics/data.json").read_text(encoding="utf-8"))
        size_mb = sum(f.stat().st_size for f in (work / "data").rglob("*.parquet")) / 1024**2
    rows = metrics["rows"]["monthly"]
    print(f"customers={args.customers:,} months={args.months} oracle_every={args.oracle_every} "
          f"oracle_paths={args.oracle_paths}")
    print(f"wall_time_s={wall:.1f} peak_rss_gib={peak_gb:.2f} monthly_rows={rows:,} "
          f"rows_per_s={rows / wall:,.0f} parquet_mib={size_mb:,.0f}")
    print(f"annual_churn_rate={metrics['annual_churn_rate']} oracle_auc={metrics['oracle']['auc']} "
          f"oracle_auc_mc_se={metrics['oracle']['auc_mc_standard_error']}")


if __name__ == "__main__":
    main()
