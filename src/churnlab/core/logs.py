"""Logging set-up, called once by each stage's `main()`; library code only calls `logging.getLogger`."""

import logging
import os
import warnings


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr as `time level module: message`; quiet the chatty third-party loggers."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for name in ("alembic", "mlflow", "urllib3", "git", "matplotlib", "numba"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="sqlalchemy")
