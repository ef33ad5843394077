"""Every scale benchmark still runs, at its tiny size (`--tiny`), so none can rot unnoticed. Their figures are not
checked here (benchmarks measure, tests check behaviour): only that each prints them."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, SHARED_DATA

BENCH = ROOT / "benchmarks"
# benchmark -> the lines of figures its tiny run must print; a new benchmark must be added here
PRINTS = {
    "bench_simulate.py": ["customers=800 months=24", "monthly_rows=", "wall_time_s=", "oracle_auc="],
    "bench_features.py": ["engine=local (DuckDB) features stage: 800 customers x 24 months", "exit 0", "wall_s=",
                          "peak_rss_gib=", "snapshots x 49"],
    "bench_survival.py": ["generate 3,000 lifetimes", "Kaplan-Meier (delayed entry)", "Cox PH (delayed entry, Efron)",
                          "PH tests on 500 sampled", "Weibull AFT (delayed entry)", "per-month counts on local",
                         "Cox PH from counts (payroll x segment)", "from counts - lifelines", "total_wall_time_s="],
    "bench_real.py": ["1,000 customers", "churnlab_tuned", "roc_auc_mean", "wall time"],
    "bench_retention.py": [": retention ", "share_of_oracle=", "dr_coverage=", "mean_share_of_oracle=",
                           "seeds_with_at_least_4_of_5=", "wall_time_s="],
    "bench_cox_spark.py": ["generate 2,000 lifetimes", "covariates=35", "Cox in memory (numpy)",
                           "Cox from Spark's sums (local[2])", "passes over the customers", "max |coef spark - numpy|"],
    "bench_score.py": ["rows=2,000 features=", "local: predict 2,000 rows:", "local: reasons of 2,000 rows",
                       "mean_p_churn="],
    "bench_pipeline.py": ["engine=local customers=400 stage=data exit=0", "customers=800 stage=data exit=0",
                          "peak_rss_gib=", "pipeline_wall_s=", "engine=local stage=data sizes=400,800",
                          "cpu_exponent=", "extrapolated_100M_h="],
    "bench_train_sample.py": ["training_rows=", "rows=500 fit_s=", "test_roc_auc=", "auc_loss_vs_all=",
                              "paired resamples"],
    "bench_monitor.py": ["rows=5,000 columns=40", "numpy: Binning.counts", "DuckDB, 8 columns a query: from Parquet",
                         "DuckDB, 40 columns a query: from the pandas frame", "numpy: ks_test of 30 numeric columns",
                         "identical=True"],
}


def bench(name: str, *args: str) -> str:
    """Run benchmarks/<name> --tiny with `args`; return its stdout (the figures it prints)."""
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run([sys.executable, str(BENCH / name), "--tiny", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def check_prints(name: str, out: str) -> None:
    missing = [line for line in PRINTS[name] if line not in out]
    assert not missing, f"{name} --tiny did not print {missing}:\n{out}"


def test_every_benchmark_has_a_smoke_run():
    assert sorted(p.name for p in BENCH.glob("bench_*.py")) == sorted(PRINTS)


@pytest.mark.slow
def test_bench_simulate_runs_the_data_stage_at_a_tiny_size():
    check_prints("bench_simulate.py", bench("bench_simulate.py"))


@pytest.mark.slow
def test_bench_features_simulates_then_runs_the_features_stage(tmp_path):
    """The local engine only: `--engine local spark` at this size costs another minute of Spark (one session, a
    job per query), over the suite's budget; tests/features/test_engines.py runs the stage on Spark instead."""
    out = bench("bench_features.py", "--workdir", str(tmp_path))
    check_prints("bench_features.py", out)
    assert (tmp_path / "data" / "processed" / "snapshots.parquet").exists()


@pytest.mark.slow
def test_bench_survival_fits_every_step_at_a_tiny_size():
    check_prints("bench_survival.py", bench("bench_survival.py"))


@pytest.mark.slow
@pytest.mark.alongside  # a project of its own: make test's second process, to balance the lanes
def test_bench_retention_runs_every_stage_up_to_retention_for_one_tiny_bank(tmp_path):
    out = bench("bench_retention.py", "--workdir", str(tmp_path))
    check_prints("bench_retention.py", out)
    assert len(list(tmp_path.glob("seed-*/reports/metrics/retention.json"))) == 1


@pytest.mark.slow
@pytest.mark.alongside
def test_bench_cox_spark_fits_both_ways_at_a_tiny_size():
    """Spark local[2] for about a minute (its own session, in a child process: `make test` runs it in the Spark lane,
    `alongside`); skipped without the spark extra."""
    pytest.importorskip("pyspark", reason="bench_cox_spark.py needs the spark extra: pip install -e '.[spark]'")
    check_prints("bench_cox_spark.py", bench("bench_cox_spark.py"))


@pytest.mark.slow
def test_bench_monitor_counts_the_bins_at_a_tiny_size():
    check_prints("bench_monitor.py", bench("bench_monitor.py"))


@pytest.mark.slow
@pytest.mark.alongside
def test_bench_monitor_counts_and_tests_on_spark_at_a_tiny_size():
    """The Spark half: bin counts and KS statistics equal numpy's (`identical=True`); skipped without the extra."""
    pytest.importorskip("pyspark", reason="bench_monitor.py --engine spark needs the spark extra")
    out = bench("bench_monitor.py", "--engine", "spark", "--columns-per-query", "8")
    assert "Spark: KS of 30 columns from Parquet, run 2" in out and "identical=True" in out, out


@pytest.mark.slow
@pytest.mark.shared_data
def test_bench_real_compares_every_model_at_a_tiny_size(tmp_path):
    if not (SHARED_DATA / "churn_modelling" / "Churn_Modelling.csv").exists():
        pytest.skip(f"Churn_Modelling.csv not found under {SHARED_DATA} (provided outside the repository)")
    out = bench("bench_real.py", "--output", str(tmp_path / "bench_real.csv"))
    check_prints("bench_real.py", out)
    assert (tmp_path / "bench_real.csv").exists()


@pytest.mark.slow
def test_bench_score_scores_with_the_local_pyfunc_at_a_tiny_size():
    """The local engine only, as for bench_features: the spark_udf path is checked by tests/model/test_spark_scoring.py
    and tests/score/test_spark_udf.py."""
    check_prints("bench_score.py", bench("bench_score.py", "--engine", "local"))


@pytest.mark.slow
def test_bench_pipeline_runs_the_first_stage_at_two_tiny_sizes_and_fits_its_exponent(tmp_path):
    out = bench("bench_pipeline.py", "--workdir", str(tmp_path))
    check_prints("bench_pipeline.py", out)
    rows = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(rows) == 2  # one stage at two sizes, one line each
    assert (tmp_path / "local-800" / "data" / "raw" / "monthly.parquet").exists()


@pytest.mark.slow
def test_bench_train_sample_refits_the_test_projects_model_on_a_sample_and_on_all_rows(pipeline_dir):
    """On the suite's project after `dvc repro` (the benchmark only reads it)."""
    check_prints("bench_train_sample.py", bench("bench_train_sample.py", str(pipeline_dir)))
