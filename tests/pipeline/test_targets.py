"""A churn flag coded Yes/No, Y/N, true/false or 1/0 is usable through `dvc exp run -S`, as a user types it.

DVC writes `-S data.positive=Yes` into params.yaml as `positive: Yes` (YAML 1.2: a string); churnlab reads params
as DVC writes them, so the string stays "Yes" (a YAML 1.1 reader made it the boolean true and no value matched).
"""

import json
import subprocess
import sys

import pytest
from conftest import churn_modelling_rows, make_project, project_env, run

CODINGS = [("Yes", "No"), ("Y", "N"), ("true", "false"), ("1", "0")]


@pytest.mark.slow
@pytest.mark.alongside  # a project of its own: make test's second process, to balance the lanes
@pytest.mark.parametrize(("positive", "negative"), CODINGS)
def test_a_coded_churn_flag_runs_through_dvc_exp_run(tmp_path, positive, negative):
    rows = churn_modelling_rows(300)
    rows["Churn"] = rows.pop("Exited").map({1: positive, 0: negative})
    rows.to_csv(tmp_path / "churn.csv", index=False)
    project = make_project(tmp_path / "project", {"data": {"source": "snapshot", "path": str(tmp_path / "churn.csv"),
                                                           "id": "CustomerId", "target": "Churn"}})
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        run(cmd, project)
    run([sys.executable, "-m", "dvc", "exp", "run", "data", "-S", f"data.positive={positive}",
         "-S", f"data.negative={negative}"], project)
    metrics = json.loads((project / "reports" / "metrics" / "data.json").read_text())
    assert metrics["customers"] == 300
    assert metrics["churn_rate"] == pytest.approx((rows["Churn"] == positive).mean())
    written = subprocess.run(["git", "diff", "params.yaml"], cwd=project, env=project_env(project),
                             capture_output=True, text=True).stdout
    assert f"positive: {positive}" in written or f"positive: '{positive}'" in written
