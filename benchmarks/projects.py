"""Project folders for the benchmarks that run stages outside the repository: params.yaml resized or changed,
the files the stages read besides their own outputs, and each stage's command and environment."""

import os
import shlex
import shutil
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("dvc.yaml", "notebooks")  # what the stages read from the project besides params.yaml and their outputs


def merge(params: dict, changes: dict) -> dict:
    """params with `changes` written over it, section by section (a nested dict updates, anything else replaces)."""
    out = dict(params)
    for key, value in changes.items():
        out[key] = merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def stage_commands() -> dict[str, str]:
    """dvc.yaml's stages in file order (the pipeline's order) -> their commands."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {name: stage["cmd"] for name, stage in stages.items()}


def sized_params(params: dict, *, customers: int, months: int, engine: str = "local",
                 master: str = "local[2]") -> dict:
    """params.yaml for a bank of `customers` over `months`, on `engine` (local, spark, or spark-lake: Spark with
    `engine.spark.lake: lake`, a folder in the project). The calendar shocks move inside a shorter window; the
    oracle's probability is computed every third month from 16 paths (its cost at 1M)."""
    simulate = params["simulate"]
    spark = {"master": master, "remote": None, **({"lake": "lake"} if engine == "spark-lake" else {})}
    return merge(params, {
        "simulate": {"n_customers": customers, "n_months": months, "oracle_every_months": 3, "oracle_paths": 16,
                     "shock_month": min(simulate["shock_month"], months - 8),
                     "campaign_months": [m for m in simulate["campaign_months"] if m < months]},
        "engine": {"name": engine.removesuffix("-lake"), "spark": spark}})


def prepare(folder: Path, params: dict) -> None:
    """A project folder: params.yaml, and dvc.yaml and notebooks/ copied from the repository."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    for name in PROJECT:
        source, target = REPO / name, folder / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy(source, target)


def argv_and_env(cmd: str) -> tuple[list[str], dict[str, str]]:
    """A dvc.yaml command (`OMP_WAIT_POLICY=PASSIVE python -m churnlab.train`) as argv for this interpreter, and
    the environment: ours, its VAR=value prefixes, src/ on PYTHONPATH, no pseudonym key (simulated ids)."""
    words = shlex.split(cmd)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("CHURNLAB_PSEUDONYM_KEY", None)
    while "=" in words[0]:
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if words[0] != "python":
        raise SystemExit(f"dvc.yaml command {cmd!r} does not start with python: the benchmark cannot run it")
    return [sys.executable, *words[1:]], env
