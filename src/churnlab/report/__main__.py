"""`python -m churnlab.report` (what dvc.yaml runs): the stage's `main()`, failing with one clear message."""

from churnlab.core.cli import run_stage
from churnlab.report.stage import main

run_stage(main, "report")
