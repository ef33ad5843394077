"""`python -m churnlab.register` (what dvc.yaml runs): the stage's `main()`, failing with one clear message."""

from churnlab.core.cli import run_stage
from churnlab.register.stage import main

run_stage(main, "register")
