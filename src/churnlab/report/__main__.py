"""`python -m churnlab.report` (what dvc.yaml runs): the report stage's `main()`."""

from churnlab.report.stage import main

main()
