"""MLflow set-up shared by every stage: one SQLite store under the repository's `mlruns/`, and lineage tags.

The store is resolved from the repository root, not the working directory, so that `dvc exp run --temp`
and `--queue` (which run in a copy inside the repository's .dvc folder) log to the same store as `dvc repro`.
`MLFLOW_TRACKING_URI`, when set, wins (tests point it at `tmp_path`).
"""

import hashlib
import json
import logging
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from churnlab.core import paths

EXPERIMENT = "churnlab"
# MLflow 3's UI opens an experiment without this tag in its GenAI view (traces); this value opens it on the runs
# of model training. Key and values as the MLflow 3.17 UI reads them (also genai_development, finetuning, ...).
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"

log = logging.getLogger(__name__)


def tracking_uri(start: Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI` if set, else SQLite at `<repository root>/mlruns/mlflow.db`."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    store = paths.repository_root(start) / paths.MLRUNS
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def start(experiment: str = EXPERIMENT):
    """Point MLflow at the project store (telemetry off) and select the experiment, created (or tagged) as a
    model-training experiment (`KIND_TAG`); returns the module."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow  # imported here: importing mlflow costs ~1 s and most helpers do not need it

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        artifacts = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
        location = artifacts.as_uri() if uri.startswith("sqlite:///") else None
        mlflow.create_experiment(experiment, artifact_location=location, tags={KIND_TAG: KIND})
    elif KIND_TAG not in found.tags:  # created before the tag was set; a kind chosen in the UI is kept
        mlflow.MlflowClient().set_experiment_tag(found.experiment_id, KIND_TAG, KIND)
    mlflow.set_experiment(experiment)
    fail_stale_runs(mlflow, experiment)
    return mlflow


def process_tags() -> dict[str, str]:
    """The machine and process a run belongs to, so a later run can tell that a RUNNING run's process is gone."""
    return {"host": socket.gethostname(), "pid": str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def fail_stale_runs(mlflow, experiment: str = EXPERIMENT) -> list[str]:
    """Mark FAILED the runs still RUNNING whose process, on this machine, no longer exists; returns their ids.

    A run stays RUNNING with no end time when its stage was killed (kill -9). Runs of other machines, and runs
    without the `host`/`pid` tags of `process_tags`, are left alone: their process cannot be checked from here.
    """
    client = mlflow.MlflowClient()
    found = mlflow.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], filter_string="attributes.status = 'RUNNING'") if found else []
    host = socket.gethostname()
    stale = [r for r in runs if r.data.tags.get("host") == host and r.data.tags.get("pid", "").isdigit()
             and not _alive(int(r.data.tags["pid"]))]
    for run in stale:
        client.set_terminated(run.info.run_id, status="FAILED")
        log.warning("MLflow run %s (%s) was left RUNNING by a killed process %s: marked FAILED", run.info.run_id,
                    run.data.tags.get("mlflow.runName", "?"), run.data.tags["pid"])
    return [run.info.run_id for run in stale]


@dataclass(frozen=True)
class Champion:
    """The registered model behind `models:/<name>@champion` and its registry record."""

    pyfunc: Any  # mlflow.pyfunc.PyFuncModel: calibrated churn probabilities from raw snapshot columns
    name: str
    version: int
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@champion"

    @property
    def version_uri(self) -> str:
        """This version's URI: what was loaded, even if the alias moves to another version meanwhile."""
        return f"models:/{self.name}/{self.version}"

    @property
    def model(self):
        """The ChurnModel inside the pyfunc wrapper (for SHAP and direct scoring)."""
        return self.pyfunc.unwrap_python_model().model


def load_champion(model_name: str) -> Champion:
    """Load the champion from the project store; MlflowException if no version holds the alias."""
    mlflow = start()
    record = mlflow.MlflowClient().get_model_version_by_alias(model_name, "champion")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    return Champion(pyfunc, model_name, int(record.version), record.run_id)


def read_train_run(record: Path = paths.TRAIN_RUN, model: Path = paths.CHURN_MODEL) -> dict:
    """models/mlflow_run.json: the MLflow run of the model in models/churn_model.pkl (run ids, the logged model URI).

    The record holds run ids, which differ on every run, so it is not a DVC output (the same params must give the
    same dvc.lock); stages order themselves by models/churn_model.pkl instead. The record names the md5 of the model
    it belongs to, checked here, so a record left by another train run can never be used.
    """
    if not Path(record).exists():
        raise FileNotFoundError(f"{record} is missing: the train stage writes it (dvc repro train)")
    run = json.loads(Path(record).read_text(encoding="utf-8"))
    if run.get("model_md5") != file_hash(model):
        raise RuntimeError(f"{record} describes another model than {model} (a train run outside DVC, or an "
                           "interrupted one): run `dvc repro -f train`")
    return run


def file_hash(path: Path) -> str:
    """md5 of a file's bytes (the hash DVC records), or "missing". A folder (a partitioned Parquet table): md5 of
    its files' relative paths and md5s, in path order (hidden files and Spark's _SUCCESS markers left out)."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith((".", "_")))
        return hashlib.md5("".join(f"{f.relative_to(path).as_posix()} {file_hash(f)}\n" for f in files)
                           .encode()).hexdigest()
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lineage_tags(stage: str, inputs: list[Path]) -> dict[str, str]:
    """Tags that tie a run to its code and data: git commit, dirty flag, and the md5 of each input file.

    No machine path is recorded: the entry point is the `python -m` command, a local origin is "local clone".
    """

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    remote = git("config", "--get", "remote.origin.url")
    tags = {
        **process_tags(),
        "stage": stage,
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower(),
        # MLflow would record the entry script and a local clone's origin as absolute machine paths
        "mlflow.source.name": f"python -m churnlab.{stage}",
        "mlflow.source.git.repoURL": remote if "://" in remote or remote.startswith("git@") else "local clone",
    }
    lock = Path("dvc.lock")
    if lock.exists():
        locked = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
        for dep in locked.get("stages", {}).get(stage, {}).get("deps", []):
            tags[f"dvc_dep.{dep['path']}"] = str(dep.get("md5", ""))
    for path in inputs:
        tags[f"data_md5.{Path(path).as_posix()}"] = file_hash(path)
    return tags
