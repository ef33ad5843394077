"""`python -m churnlab.train` (what dvc.yaml runs): the train stage's `main()`."""

from churnlab.train.stage import main

main()
