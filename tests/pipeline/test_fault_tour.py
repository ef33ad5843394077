"""The fault tour: bad parameters and impossible data, run as a user runs them (`dvc repro data` in a project on the
small profile), each ending in one clear message that names the parameter or the file, column and rule, with no
traceback on the screen and the last good tables kept. README "What happens when..." lists the same cases.

Cases of other kinds live beside their code and are listed in the README table too: a killed or failed data stage
(tests/pipeline/test_failures.py), coded churn flags (tests/pipeline/test_targets.py), stale Optuna trials and MLflow
runs (tests/model/test_tune.py, tests/core/test_tracking.py), the personal-data screen
(tests/contract/test_snapshot_file.py), survival's duration proxies (tests/survival/test_proxies.py).
"""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import make_project, project_env, run

SMALL = {"simulate": {"n_customers": 600, "n_months": 18, "shock_month": 12, "recession_month": 6,
                      "campaign_months": [9], "oracle_paths": 2, "oracle_survival_months": 6}}
TABLES = ("customers", "monthly", "market", "churn_events", "campaigns")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> tuple[Path, Path]:
    """A project after `dvc repro data` on a small simulation, and its five tables as a bank's CSV folder."""
    project = make_project(tmp_path_factory.mktemp("tour") / "project", SMALL)
    run([sys.executable, "-m", "dvc", "repro", "data"], project)
    bank = project.parent / "bank"
    bank.mkdir()
    for name in TABLES:
        pd.read_parquet(project / "data" / "raw" / f"{name}.parquet").to_csv(bank / f"{name}.csv", index=False)
    return project, bank


def raw_md5(project: Path) -> dict[str, str]:
    return {f.name: hashlib.md5(f.read_bytes()).hexdigest() for f in sorted((project / "data" / "raw").glob("*"))}


def repro_data(project: Path, **sections) -> subprocess.CompletedProcess:
    """`dvc repro data` after merging `sections` into params.yaml (restored afterwards)."""
    return with_params(project, [sys.executable, "-m", "dvc", "repro", "data"], sections)


def with_params(project: Path, cmd: list[str], sections: dict) -> subprocess.CompletedProcess:
    """Run `cmd` in `project` with `sections` merged into params.yaml (one level deep; restored afterwards)."""
    params_file = project / "params.yaml"
    saved = params_file.read_text()
    params = yaml.safe_load(saved)
    for section, values in sections.items():
        params[section] = {**params[section], **values}
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        return subprocess.run(cmd, cwd=project, env=project_env(project), capture_output=True, text=True)
    finally:
        params_file.write_text(saved)


def one_message(done: subprocess.CompletedProcess, stage: str = "data") -> str:
    """The stage's message: it failed, said why in one `churnlab <stage>: error:` message, and showed no traceback."""
    assert done.returncode != 0, done.stdout[-2000:]
    assert "Traceback (most recent call last)" not in done.stderr, done.stderr[-3000:]
    start = done.stderr.index(f"churnlab {stage}: error: ")
    return done.stderr[start:]


BAD_PARAMS = [
    ({"base": {"horizon_months": -1}}, "params.yaml: base.horizon_months = -1: must be >= 1"),
    ({"base": {"horizon_months": 0}}, "params.yaml: base.horizon_months = 0: must be >= 1"),
    ({"base": {"horizon_months": "abc"}}, 'params.yaml: base.horizon_months = "abc": must be a whole number >= 1'),
    ({"base": {"seed": "abc"}}, 'params.yaml: base.seed = "abc": must be a whole number >= 0'),
    ({"simulate": {"n_customers": 0}}, "params.yaml: simulate.n_customers = 0: must be >= 1"),
    ({"train": {"tune": {"n_trials": 0}}}, "params.yaml: train.tune.n_trials = 0: must be >= 1"),
    ({"data": {"source": "excel"}}, "params.yaml: data.source = \"excel\": must be"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("change", "sentence"), BAD_PARAMS, ids=[s.split(":")[1].strip() for _, s in BAD_PARAMS])
def test_a_bad_parameter_is_one_sentence_before_any_work(simulated, change, sentence):
    """Data parameters under `dvc repro data`; a train parameter with train's own command, which DVC runs (`dvc
    repro data` would skip the unchanged data stage). Every stage checks the whole params.yaml before any work."""
    project, _ = simulated
    before = raw_md5(project)
    if "train" in change:
        params = yaml.safe_load((project / "params.yaml").read_text())
        sections = {"train": {"tune": {**params["train"]["tune"], **change["train"]["tune"]}}}
        message = one_message(with_params(project, [sys.executable, "-m", "churnlab.train"], sections), "train")
    else:
        message = one_message(repro_data(project, **change))
    assert sentence in message.splitlines()[0]
    assert raw_md5(project) == before


def mutate(bank: Path, target: Path, table: str, change) -> Path:
    """A copy of the bank folder with `change(frame)` applied to one table's CSV.

    The copy's ids are whole numbers (the simulator's C00012345 becomes 12345), as a core-banking export has them.
    """
    shutil.copytree(bank, target)
    for name in TABLES:
        frame = pd.read_csv(target / f"{name}.csv")
        if "customer_id" in frame:
            frame["customer_id"] = frame["customer_id"].str.lstrip("C").astype("int64")
        if name == table:
            change(frame)
        frame.to_csv(target / f"{name}.csv", index=False)
    return target


def blank_id(frame):
    frame.loc[2, "customer_id"] = None


def float_ids(frame):
    frame["customer_id"] = frame["customer_id"].astype("float64")  # written as 12345.0


def infinite_balance(frame):
    frame.loc[3, "deposit_balance"] = np.inf


def missing_market_month(frame):
    frame.drop(index=4, inplace=True)


def duplicate_month(frame):
    frame.loc[len(frame)] = frame.loc[0]


BAD_DATA = [  # table, change, what the message must name
    ("monthly", blank_id, ["monthly.csv", "column 'customer_id' is blank or missing in 1 row(s), e.g. data rows [3]"]),
    ("monthly", float_ids, ["monthly.csv", "the id types differ"]),
    ("monthly", infinite_balance, ["monthly.csv", "column 'deposit_balance' is not a finite number", "[4]"]),
    ("market", missing_market_month, ["market.csv", "column 'month' skips 1 month-end(s)"]),
    ("monthly", duplicate_month, ["monthly.csv", "duplicate key (customer_id, month)"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("table", "change", "named"), BAD_DATA, ids=[c.__name__ for _, c, _ in BAD_DATA])
def test_impossible_data_is_an_error_naming_file_column_and_rows(simulated, tmp_path, table, change, named):
    project, bank = simulated
    before = raw_md5(project)
    folder = mutate(bank, tmp_path / "bank", table, change)
    message = one_message(repro_data(project, data={"source": "contract", "path": str(folder)}))
    for part in named:
        assert part in message, message
    assert raw_md5(project) == before  # the last good tables stay


@pytest.mark.slow
def test_two_bad_tables_are_both_reported(simulated, tmp_path):
    project, bank = simulated
    folder = mutate(bank, tmp_path / "bank", "monthly", infinite_balance)
    market = pd.read_csv(folder / "market.csv")
    missing_market_month(market)
    market.to_csv(folder / "market.csv", index=False)
    message = one_message(repro_data(project, data={"source": "contract", "path": str(folder)}))
    assert "2 tables break the data contract" in message
    assert "monthly.csv" in message and "market.csv" in message


@pytest.mark.slow
def test_parquet_saved_as_csv_is_read_with_a_warning(simulated, tmp_path):
    project, bank = simulated
    folder = tmp_path / "bank"
    shutil.copytree(bank, folder)
    pd.read_csv(folder / "market.csv", parse_dates=["month"]).to_parquet(folder / "market.csv", index=False)
    done = repro_data(project, data={"source": "contract", "path": str(folder)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "market.csv: the file is Parquet" in done.stderr
