"""`python -m churnlab.train` (what dvc.yaml runs): the stage's `main()`, failing with one clear message."""

from churnlab.core.cli import run_stage
from churnlab.train.stage import main

run_stage(main, "train")
