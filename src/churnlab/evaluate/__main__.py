"""`python -m churnlab.evaluate` (what dvc.yaml runs): the stage's `main()`, failing with one clear message."""

from churnlab.core.cli import run_stage
from churnlab.evaluate.stage import main

run_stage(main, "evaluate")
