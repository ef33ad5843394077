"""Comparing experiments as users do: `dvc exp run -S ...`, then `dvc exp show`, `dvc metrics diff`, `dvc plots diff`.

On the small pipeline (`pipeline_dir`): the headline metrics are committed files (metrics/<stage>.json), so DVC
shows them for the baseline commit and for the experiment; a second `dvc repro` does nothing; the experiment runs in
a temporary copy (`--temp`), so the shared pipeline folder is left as it was.
"""

import json
import subprocess
import sys

import pytest
import yaml
from conftest import project_env, run

DVC = [sys.executable, "-m", "dvc"]


def dvc(project, *args) -> str:
    return run([*DVC, *args], project).stdout


@pytest.mark.slow
def test_an_experiment_is_compared_with_the_baseline(pipeline_dir):
    project = pipeline_dir
    assert "Data and pipelines are up to date." in dvc(project, "status")  # nothing reruns: no run ids, no timings
    headline = json.loads((project / "metrics" / "evaluate.json").read_text())
    assert set(headline) >= {"roc_auc", "pr_auc", "ece", "empc"}
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], project)

    ran = dvc(project, "exp", "run", "--temp", "evaluate", "-n", "more-trials", "-S", "train.tune.n_trials=6")
    # the copy gets every output from the cache, so only the stages that read the changed param run again
    assert "Running stage 'train'" in ran
    assert "Running stage 'data'" not in ran and "Running stage 'features'" not in ran

    shown = json.dumps(json.loads(dvc(project, "exp", "show", "--json")))  # rows: the baseline and the experiment
    assert "more-trials" in shown and "metrics/evaluate.json" in shown and "roc_auc" in shown
    assert '"n_trials": 6' in shown  # the experiment's params

    # --all: more trials resume the same study and may keep its best trial, leaving every number unchanged
    compared = json.loads(dvc(project, "metrics", "diff", "HEAD", "more-trials", "--all", "--json"))
    roc = compared["metrics/evaluate.json"]["roc_auc"]
    assert roc["old"] == headline["roc_auc"] and 0.5 < roc["new"] < 1
    plots = subprocess.run([*DVC, "plots", "diff", "HEAD", "more-trials", "--json"], cwd=project,
                           env=project_env(project), capture_output=True, text=True)
    assert plots.returncode == 0, plots.stderr[-2000:]
    assert "churn_roc" in plots.stdout
    assert "Data and pipelines are up to date." in dvc(project, "status")  # --temp left the workspace as it was


def numeric(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


@pytest.mark.slow
def test_every_plot_of_dvc_yaml_has_points_on_a_numeric_x_axis(pipeline_dir):
    """`dvc plots show` draws nothing against a date string (the monitor plots were empty) and draws stage-level
    `plots:` entries as extra default plots: every plot is top-level, with data and a number on its x axis."""
    pipeline = yaml.safe_load((pipeline_dir / "dvc.yaml").read_text())
    assert not [name for name, stage in pipeline["stages"].items() if "plots" in stage]
    x_of = {name: spec["x"] for entry in pipeline["plots"] for name, spec in entry.items()}
    shown = json.loads(dvc(pipeline_dir, "plots", "show", "--json"))["data"]
    assert set(shown) == set(x_of)
    for name, x in x_of.items():
        points = [p for image in shown[name] for p in image["content"]["data"]["values"]]
        assert points, f"plot {name} has no data"
        assert all(numeric(p[x]) for p in points), f"plot {name}: x={x} is not a number"
