"""`python -m churnlab.data` (what dvc.yaml runs): the stage's `main()`, failing with one clear message."""

from churnlab.core.cli import run_stage
from churnlab.data.stage import main

run_stage(main, "data")
