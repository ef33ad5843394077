"""Every scale benchmark still runs, at a tiny size, so none can rot unnoticed (their figures are not checked here:
benchmarks measure, tests check behaviour)."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

BENCH = ROOT / "benchmarks"


def bench(name: str, *args: str, cwd=None) -> str:
    """Run benchmarks/<name> with `args`; return its stdout (the figures it prints)."""
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_bench_simulate_runs_the_data_stage_at_a_tiny_size():
    out = bench("bench_simulate.py", "--customers", "800", "--months", "24", "--oracle-paths", "2")
    assert "customers=800 months=24" in out and "monthly_rows=" in out and "oracle_auc=" in out


@pytest.mark.slow
def test_bench_features_simulates_then_runs_the_features_stage(tmp_path):
    out = bench("bench_features.py", "--customers", "800", "--months", "24", "--workdir", str(tmp_path))
    assert "features stage: 800 customers x 24 months" in out and "exit 0" in out
    assert (tmp_path / "data" / "processed" / "snapshots.parquet").exists()


@pytest.mark.slow
def test_bench_survival_fits_every_step_at_a_tiny_size():
    out = bench("bench_survival.py", "--customers", "3000", "--ph-sample", "500")
    for step in ("generate 3,000 lifetimes", "Kaplan-Meier (delayed entry)", "Cox PH (delayed entry, Efron)",
                 "PH tests on 500 sampled", "Weibull AFT (delayed entry)"):
        assert step in out, out
