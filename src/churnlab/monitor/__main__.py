"""`python -m churnlab.monitor` (what dvc.yaml runs): the monitor stage's `main()`."""

from churnlab.monitor.stage import main

main()
