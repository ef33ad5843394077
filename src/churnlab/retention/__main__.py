"""`python -m churnlab.retention` (what dvc.yaml runs): the retention stage's `main()`."""

from churnlab.retention.stage import main

main()
