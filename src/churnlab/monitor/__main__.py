"""`python -m churnlab.monitor` (what dvc.yaml runs): the stage's `main()`, failing with one clear message."""

from churnlab.core.cli import run_stage
from churnlab.monitor.stage import main

run_stage(main, "monitor")
