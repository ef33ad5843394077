"""`python -m churnlab.features` (what dvc.yaml runs): the features stage's `main()`."""

from churnlab.features.stage import main

main()
