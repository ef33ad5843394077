"""`python -m churnlab.evaluate` (what dvc.yaml runs): the evaluate stage's `main()`."""

from churnlab.evaluate.stage import main

main()
