"""`python -m churnlab.survival` (what dvc.yaml runs): the survival stage's `main()`."""

from churnlab.survival.stage import main

main()
