"""Where every stage reads and writes, relative to the project root (the folder holding dvc.yaml).

DVC runs each stage from the project root, so these relative paths resolve there; tests `chdir` into a
temporary copy. Only `main()` functions use these paths.
"""

from pathlib import Path

PARAMS = Path("params.yaml")

RAW = Path("data/raw")
CUSTOMERS = RAW / "customers.parquet"
MONTHLY = RAW / "monthly.parquet"
MARKET = RAW / "market.parquet"
CHURN_EVENTS = RAW / "churn_events.parquet"
CAMPAIGNS = RAW / "campaigns.parquet"
SNAPSHOT_SOURCE = RAW / "snapshot.parquet"  # the snapshot source's rows (instead of the five tables above)
SOURCE = RAW / "source.json"  # which source the data stage read, and what it offers (time axis, campaigns, oracle)

# Simulator ground truth. No feature may read these; only evaluation against the oracle does.
ORACLE = Path("data/oracle")
ORACLE_MONTHLY = ORACLE / "monthly_truth.parquet"
ORACLE_CUSTOMERS = ORACLE / "customer_truth.parquet"
ORACLE_EFFECTS = ORACLE / "campaign_effects.parquet"
ORACLE_SURVIVAL = ORACLE / "survival_truth.parquet"

PROCESSED = Path("data/processed")
SNAPSHOTS = PROCESSED / "snapshots.parquet"
LIFETIMES = PROCESSED / "lifetimes.parquet"
CLV = PROCESSED / "clv.parquet"

MODELS = Path("models")
REPORTS = Path("reports")
METRICS = REPORTS / "metrics"
PLOTS = REPORTS / "plots"
INDICATORS = REPORTS / "indicators.csv"

MLRUNS = Path("mlruns")
HEADLINE = Path("metrics")  # <stage>.json: the few headline numbers DVC tracks in git (`dvc exp show`, `metrics diff`)


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder at or above `start` (default: cwd) holding dvc.yaml.

    Notebooks run from notebooks/ and call this to read pipeline outputs with the paths above.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    raise FileNotFoundError(f"no dvc.yaml at or above {here}: run from inside the churnlab project")


def repository_root(start: Path | None = None) -> Path:
    """The project root that owns the MLflow store: the real repository even inside a DVC temp copy."""
    here = (start or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return here


def relative_to_root(value: str, start: Path | None = None) -> str:
    """`value` relative to the repository root when it is an absolute path inside it, else unchanged.

    MLflow params and tags must not record machine paths (/home/alice/churnlab/data/x.csv -> data/x.csv).
    """
    if not isinstance(value, str) or not Path(value).is_absolute():
        return value
    try:
        return str(Path(value).resolve().relative_to(repository_root(start)))
    except ValueError:
        return value

# train / evaluate / register
SPLIT = MODELS / "split.json"  # the cutoffs of the out-of-time split, written by train
CHURN_MODEL = MODELS / "churn_model.pkl"  # the chosen model: tuned XGBoost, calibrated
CANDIDATES = MODELS / "candidates"  # baselines and the uncalibrated tuned model, one pickle each
STUDY = MODELS / "optuna.db"  # the Optuna study (persisted across runs so tuning resumes)
TRAIN_RUN = MODELS / "mlflow_run.json"  # MLflow run ids and the logged model's URI
MODEL_COMPARISON = REPORTS / "model_comparison.csv"

# segment / score
SEGMENTS = PROCESSED / "segments.parquet"  # one row per (customer_id, cutoff): bands, cluster, value tier, stage
SEGMENT_PROFILES = REPORTS / "segments.csv"  # size, churn rate and CLV per segment level (no ids)
CLUSTER_PROFILES = REPORTS / "clusters.csv"  # behaviour clusters: name, size, centroid
LIFECYCLE_TRANSITIONS = REPORTS / "lifecycle_transitions.csv"
EARLY_WARNING = REPORTS / "early_warning.parquet"  # + .csv; pseudonymous ids only
GRADE_TABLE = REPORTS / "grade_table.csv"
GRADE_MIGRATION = REPORTS / "grade_migration.csv"

# retention
RETENTION = REPORTS / "retention"  # profit curve, Qini curves, policies, campaign KM, churner tables, win-back list
