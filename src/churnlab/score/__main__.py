"""`python -m churnlab.score` (what dvc.yaml runs): the score stage's `main()`."""

from churnlab.score.stage import main

main()
