"""Whole-pipeline scale benchmark (not a test): every dvc.yaml stage, in order, on a simulated bank of a given size,
on the local engine, on Spark (`--engine spark`, local[2] unless `--master`), on Spark with a lake (`spark-lake`:
`engine.spark.lake` a folder in the project) or several; wall time, CPU time and peak memory per stage; with two
sizes or more, the fitted scaling exponent of each stage.

Each (engine, size) runs in its own project folder under `--workdir`: params.yaml is the repository's with the
simulation resized (`--customers`, `--months`; the oracle's probability every third month from 16 paths, as in
bench_simulate.py) and `engine.name` set; dvc.yaml and notebooks/ are copied in; MLflow writes to that folder's
mlruns/. Each stage runs its dvc.yaml command in a child process (`child_process.run_measured`), so the figures are
the stage's own: no DVC hashing or caching. A stage that fails stops that run; its stderr's tail is printed.

Every run appends one line per stage to `<workdir>/results.jsonl`, so sizes and engines run at different times
add up. At the end the benchmark prints, per engine and stage, the exponent b of wall time ~ customers^b fitted
by least squares on log-log over every size in results.jsonl, and the wall time that b extrapolates to 20M and
100M customers on this one machine (an extrapolation, not a measurement). With both engines at a size it checks
that their metrics agree (reports/metrics/*.json, numbers to 1e-6 relative) and prints `metrics_identical=`.

    .venv/bin/python benchmarks/bench_pipeline.py --customers 1000000 --months 36 --engine local spark
    .venv/bin/python benchmarks/bench_pipeline.py --customers 250000 500000 1000000   # the scaling curve
    .venv/bin/python benchmarks/bench_pipeline.py --engine spark --spark-conf spark.driver.memory=8g
    .venv/bin/python benchmarks/bench_pipeline.py --tiny --workdir "$(mktemp -d)"   # smoke run (the test suite's)
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from child_process import run_measured
from projects import REPO, argv_and_env, merge, prepare, sized_params, stage_commands

# Checks that it runs: two tiny banks through the first stage (a whole tiny pipeline costs minutes of the suite;
# tests/pipeline runs every stage on the test profile); its figures mean nothing
TINY = {"customers": [400, 800], "months": 24, "stages": ["data"]}


def run_pipeline(folder: Path, stages: list[str], *, label: dict, results: Path) -> bool:
    """Run `stages` in `folder` in order, printing and appending each stage's figures; False once one fails."""
    commands = stage_commands()
    for stage in stages:
        argv, env = argv_and_env(commands[stage])
        load = os.getloadavg()[0]
        log = folder / "logs" / f"{stage}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            run = run_measured(argv, cwd=folder, env=env, stdout=out, stderr=out)
        row = {**label, "stage": stage, "wall_s": round(run.wall_s, 1), "cpu_s": round(run.cpu_s, 1),
               "peak_gib": round(run.peak_gib, 2), "exit": run.code, "load_at_start": round(load, 1)}
        with results.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")
        print(f"engine={label['engine']} customers={label['customers']:,} stage={stage} exit={run.code} "
              f"wall_s={run.wall_s:.1f} cpu_s={run.cpu_s:.1f} peak_rss_gib={run.peak_gib:.2f} "
              f"(load average {load:.1f} at start)", flush=True)
        if run.code:
            print(f"stage {stage} failed; the end of {log}:\n" + "".join(log.read_text().splitlines(True)[-30:]))
            return False
    return True


def numbers(value, prefix: str = "") -> dict[str, float]:
    """Every number in a metrics JSON, by its dotted path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in numbers(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in numbers(item, f"{prefix}{i}.").items()}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {}
    return {prefix.rstrip("."): float(value)}


def metric_differences(first: Path, second: Path, rtol: float = 1e-6) -> list[str]:
    """The metrics (reports/metrics/*.json) of two project folders that differ beyond `rtol` (or exist in one)."""
    differences = []
    for path in sorted((first / "reports/metrics").glob("*.json")):
        other = second / "reports/metrics" / path.name
        if not other.exists():
            differences.append(f"{path.name}: only in {first.name}")
            continue
        a, b = (numbers(json.loads(p.read_text(encoding="utf-8"))) for p in (path, other))
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b or not math.isclose(a[key], b[key], rel_tol=rtol, abs_tol=1e-12):
                differences.append(f"{path.name}: {key} {a.get(key)} vs {b.get(key)}")
    return differences


def fit_exponents(results: Path) -> list[str]:
    """Per engine and stage with two sizes or more: the exponents b of wall time and of CPU time ~ customers^b
    (least squares on log-log, the latest run of each size), and the wall time b extrapolates to 20M and 100M
    customers on this machine. CPU time is the steadier figure when other work shares the machine."""
    latest: dict[tuple[str, str], dict[int, dict]] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["exit"] == 0:
            latest.setdefault((row["engine"], row["stage"]), {})[row["customers"]] = row
    lines = []
    for (engine, stage), by_size in latest.items():
        if len(by_size) < 2:
            continue
        sizes = sorted(by_size)
        walls, cpus = ([max(by_size[n][key], 0.1) for n in sizes] for key in ("wall_s", "cpu_s"))
        b, b_cpu = (float(np.polyfit(np.log(sizes), np.log(values), 1)[0]) for values in (walls, cpus))
        projected = {n: walls[-1] * (n / sizes[-1]) ** b for n in (20_000_000, 100_000_000)}
        lines.append(f"engine={engine} stage={stage} sizes={','.join(f'{n:,}' for n in sizes)} "
                     f"walls_s={','.join(f'{w:.0f}' for w in walls)} exponent={b:.2f} "
                     f"cpus_s={','.join(f'{c:.0f}' for c in cpus)} cpu_exponent={b_cpu:.2f} "
                     f"extrapolated_20M_h={projected[20_000_000] / 3600:.1f} "
                     f"extrapolated_100M_h={projected[100_000_000] / 3600:.1f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--engine", nargs="+", choices=["local", "spark", "spark-lake"], default=["local"],
                        help="spark-lake: Spark writing the snapshots, segments and scores to a lake in the project")
    parser.add_argument("--master", default="local[2]", help="Spark master for --engine spark")
    parser.add_argument("--stages", nargs="+", default=None, help="the first stages only (default: all)")
    parser.add_argument("--resume", metavar="STAGE", help="keep each folder and start at STAGE (after a fix): the "
                        "earlier stages' outputs and results.jsonl lines are reused; params.yaml is written anew")
    parser.add_argument("--spark-conf", nargs="+", default=[], metavar="KEY=VALUE",
                        help="Spark settings over params.yaml's engine.spark.conf, e.g. spark.driver.memory=8g (an "
                        "edit of a project's params.yaml does not last: every run writes it anew)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "churnlab-bench-pipeline")
    parser.add_argument("--tiny", action="store_true", help=f"smoke run: {TINY}")
    args = parser.parse_args()
    if args.tiny:
        vars(args).update(TINY)
    commands = stage_commands()
    stages = args.stages or list(commands)
    unknown = sorted(set(stages) - set(commands))
    if unknown or stages != list(commands)[: len(stages)]:
        raise SystemExit(f"--stages must be the first stages of dvc.yaml in order ({list(commands)}); got {stages}")
    if args.resume:
        if args.resume not in stages:
            raise SystemExit(f"--resume {args.resume}: not one of the stages {stages}")
        stages = stages[stages.index(args.resume):]
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    if bad := [kv for kv in args.spark_conf if "=" not in kv]:
        raise SystemExit(f"--spark-conf takes KEY=VALUE, got {bad}")
    params = merge(params, {"engine": {"spark": {"conf": dict(kv.split("=", 1) for kv in args.spark_conf)}}})
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    results = workdir / "results.jsonl"
    print(f"months={args.months} stages={','.join(stages)} cores={os.cpu_count()} results={results}", flush=True)
    ok = True
    for customers in args.customers:
        folders = {}
        for engine in args.engine:
            folder = folders[engine] = workdir / f"{engine}-{customers}"
            if not args.resume:
                shutil.rmtree(folder, ignore_errors=True)
            prepare(folder, sized_params(params, customers=customers, months=args.months, engine=engine,
                                         master=args.master))
            label = {"engine": engine, "customers": customers, "months": args.months}
            ran = run_pipeline(folder, stages, label=label, results=results)
            ok &= ran
            if ran:
                latest = {row["stage"]: row["wall_s"] for row in map(json.loads, results.read_text().splitlines())
                          if (row["engine"], row["customers"], row["months"]) == (engine, customers, args.months)}
                total = sum(latest.values())
                print(f"engine={engine} customers={customers:,} pipeline_wall_s={total:.0f} ({total / 60:.1f} min, "
                      f"{len(latest)} stages)")
        if len(folders) == 2 and ok:
            differences = metric_differences(*folders.values())
            print(f"customers={customers:,} metrics_identical={not differences} (reports/metrics/*.json, numbers "
                  f"to 1e-6 relative){''.join(chr(10) + '  ' + d for d in differences[:20])}")
    print(*fit_exponents(results), sep="\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
