"""Benchmark (not a test): the retention targets of issue #15 over several simulated banks (seeds).

For each seed the real stages run, as `dvc repro retention` would run them, in a work folder outside the repository
(`python -m churnlab.<stage>` for data, features, survival, train, register and retention), with params.yaml the
repository's except `base.seed` (and `--trials`, Optuna trials of the churn model: 10 by default, which gave the
test ROC-AUC of 40 within one standard error, README "Two experiments compared"). Each seed is a different bank:
its customers, its campaigns, its market path, and every random choice of the stages. Per seed it prints, from
reports/metrics/retention.json:

- the learned offer policy's true net value (EUR, from the simulator's oracle) and its share of the oracle
  policy's at the same budget, and whether it beats random, risk and expected-loss targeting;
- how many of the five policies' doubly robust 95 % intervals hold their true value (`dr_coverage`).

Then the totals over the seeds: mean share, coverage summed (target: at least 4 of 5 a seed), and wall time.

    .venv/bin/python benchmarks/bench_retention.py                 # 5 seeds from params.yaml's base.seed
    .venv/bin/python benchmarks/bench_retention.py --seeds 2 --trials 40
    .venv/bin/python benchmarks/bench_retention.py --tiny --workdir "$(mktemp -d)"   # smoke run (the test suite's)
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
from projects import merge, sized_params

REPO = Path(__file__).resolve().parents[1]
STAGES = ("data", "features", "survival", "train", "register", "retention")
# Checks that it runs (a small bank, few trials, short fits, few redraws); its figures mean nothing. 36 months (the
# shortest window the default survival params take) with the oracle every third month, as sized_params does; small
# forests and boosters, as the test profile (tests/profile.yaml) has them
TINY_MONTHS = 36
TINY = {"simulate": {"n_customers": 2000, "oracle_paths": 4, "oracle_every_months": 3},
        "train": {"tune": {"n_trials": 2, "max_rounds": 300},
                  "baselines": {"models": {"forest": {"n_estimators": 30}}}},
        "survival": {"models": ["cox"]},
        "retention": {"offers": {"draws": 20, "folds": 2, "xgboost": {"n_estimators": 50}},
                      "policies": {"n_boot": 20}, "uplift": {"n_boot": 20, "xgboost": {"n_estimators": 50}},
                      "churners": {"max_customers": 300}}}


def run_seed(workdir: Path, params: dict, *, seed: int) -> dict:
    """The six stages in workdir with base.seed = seed; the `offers` part of reports/metrics/retention.json."""
    workdir.mkdir(parents=True, exist_ok=True)
    seeded = merge(params, {"base": {"seed": seed}})
    (workdir / "params.yaml").write_text(yaml.safe_dump(seeded, allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", OMP_WAIT_POLICY="PASSIVE")
    env.pop("CHURNLAB_PSEUDONYM_KEY", None)  # simulated ids: the seeded key, as in a fresh clone
    for stage in STAGES:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"churnlab.{stage}"], cwd=workdir, env=env,
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"seed {seed}: stage {stage} failed:\n{done.stderr[-3000:]}")
        print(f"seed {seed}: {stage} {time.perf_counter() - start:.0f} s", flush=True)
    metrics = json.loads((workdir / "reports/metrics/retention.json").read_text(encoding="utf-8"))
    return metrics["offers"]


def line(seed: int, offers: dict) -> str:
    """One seed's figures (EUR on the seed's held-out campaign customers)."""
    true = {name: policy["true_net_value"] for name, policy in offers["policies"].items()}
    beats = ",".join(offers["learned_beats"]) or "none"
    return (f"seed={seed} held_out={offers['rows_held_out']:,} budget_eur={offers['budget_eur']:,.0f} "
            f"learned_true_eur={true['learned']:,.0f} oracle_true_eur={true['oracle']:,.0f} "
            f"share_of_oracle={offers['learned_share_of_oracle']:.3f} beats={beats} "
            f"dr_coverage={offers['dr_coverage']}/{offers['dr_coverage_of']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="simulated banks: base.seed, base.seed + 1, ...")
    parser.add_argument("--trials", type=int, default=10, help="Optuna trials of the churn model (train.tune)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the work folders here (default: a "
                                                                   "temporary folder, removed at the end)")
    parser.add_argument("--tiny", action="store_true", help="smoke run: 1 seed, a 2,000-customer bank over 36 months")
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params = merge(params, {"train": {"tune": {"n_trials": args.trials}}})
    if args.tiny:
        sized = sized_params(params, customers=TINY["simulate"]["n_customers"], months=TINY_MONTHS)
        params, args.seeds, args.trials = merge(sized, TINY), 1, TINY["train"]["tune"]["n_trials"]
    first = params["base"]["seed"]
    started, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as scratch:
        root = args.workdir or Path(scratch)
        for seed in range(first, first + args.seeds):
            offers = run_seed(root / f"seed-{seed}", params, seed=seed)
            rows.append(offers)
            print(line(seed, offers), flush=True)
    shares = [offers["learned_share_of_oracle"] for offers in rows]
    covered = sum(offers["dr_coverage"] for offers in rows)
    of = sum(offers["dr_coverage_of"] for offers in rows)
    seeds_ok = sum(offers["dr_coverage"] >= 4 for offers in rows)
    beats_all = sum(set(offers["learned_beats"]) >= {"random", "risk", "expected_loss"} for offers in rows)
    print(f"seeds={len(rows)} trials={args.trials} mean_share_of_oracle={sum(shares) / len(shares):.3f} "
          f"min_share={min(shares):.3f} max_share={max(shares):.3f} learned_beats_all={beats_all}/{len(rows)}")
    print(f"dr_coverage={covered}/{of} seeds_with_at_least_4_of_5={seeds_ok}/{len(rows)}")
    print(f"wall_time_s={time.perf_counter() - started:.0f}")


if __name__ == "__main__":
    main()
