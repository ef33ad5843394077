"""A failed or killed `dvc repro data` leaves the last good tables byte-identical, as users run it (under DVC).

DVC deletes a stage's outputs before running it unless they are `persist`; the data stage's outputs are, and every
file is written atomically (the simulator's tables only once all of them are complete), so neither a contract that
fails validation nor a `kill -9` in the middle of a simulation loses the previous tables. Temporary files of a
killed writer are ignored by DVC (.dvcignore) and removed by the next run.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_project, project_env, run

SMALL = {"simulate": {"n_customers": 1200, "n_months": 24, "shock_month": 16, "recession_month": 8,
                      "campaign_months": [12], "oracle_paths": 4, "oracle_survival_months": 12}}
DVC = [sys.executable, "-m", "dvc"]


def tables(project: Path) -> dict[str, str]:
    """md5 of every file under data/raw and data/oracle, temporary files included (they must not be there)."""
    return {str(f.relative_to(project)): hashlib.md5(f.read_bytes()).hexdigest()
            for folder in ("data/raw", "data/oracle") for f in sorted((project / folder).rglob("*")) if f.is_file()}


def set_params(project: Path, section: str, **values) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section] |= values
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def simulated(tmp_path) -> tuple[Path, dict[str, str]]:
    """A project whose `dvc repro data` ran once on a small simulation; the md5 of its tables."""
    project = make_project(tmp_path / "project", SMALL)
    run([*DVC, "repro", "data"], project)
    before = tables(project)
    assert "data/raw/monthly.parquet" in before and "data/oracle/monthly_truth.parquet" in before
    return project, before


@pytest.mark.slow
@pytest.mark.alongside  # a project of its own: make test's second process, to balance the lanes
def test_a_contract_that_fails_validation_keeps_the_previous_tables(simulated, tmp_path):
    project, before = simulated
    folder = tmp_path / "bank"
    folder.mkdir()
    for name in ("customers", "monthly", "market", "churn_events", "campaigns"):
        frame = pd.read_parquet(project / "data" / "raw" / f"{name}.parquet")
        if name == "monthly":
            frame.loc[3, "deposit_balance"] = -5.0
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    set_params(project, "data", source="contract", path=str(folder))
    done = subprocess.run([*DVC, "repro", "data"], cwd=project, env=project_env(project), capture_output=True,
                          text=True)
    assert done.returncode != 0
    assert "deposit_balance" in done.stderr and "greater_than_or_equal_to(0)" in done.stderr
    assert "Traceback" not in done.stderr  # one clear message; the traceback is in .churnlab/logs/data.log
    assert tables(project) == before
    assert (project / "reports" / "metrics" / "data.json").exists()


@pytest.mark.slow
@pytest.mark.alongside  # a project of its own: make test's second process, to balance the lanes
def test_a_killed_simulation_keeps_the_previous_tables_and_the_next_run_cleans_up(simulated):
    project, before = simulated
    set_params(project, "simulate", n_customers=2400)
    dvc = subprocess.Popen([*DVC, "repro", "data"], cwd=project, env=project_env(project),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((project / "data" / "raw").glob(".*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the simulation has opened its table writers: it is mid-run
    assert list((project / "data" / "raw").glob(".*.tmp")), "the data stage never started writing"
    os.killpg(dvc.pid, signal.SIGKILL)  # kill -9 of DVC, the stage and its simulation workers
    dvc.wait()

    left = tables(project)
    assert {k: v for k, v in left.items() if not Path(k).name.endswith(".tmp")} == before
    (project / ".dvc" / "tmp" / "rwlock").unlink(missing_ok=True)  # a killed DVC leaves its lock behind
    (project / ".dvc" / "tmp" / "lock").unlink(missing_ok=True)
    run([*DVC, "repro", "data"], project)
    after = tables(project)
    assert not [name for name in after if Path(name).name.startswith(".")], "temporary files were not cleaned"
    assert after["data/raw/monthly.parquet"] != before["data/raw/monthly.parquet"]  # 2,400 customers now
    assert subprocess.run([*DVC, "status", "data"], cwd=project, env=project_env(project), capture_output=True,
                          text=True).stdout.strip().endswith("Data and pipelines are up to date.")
