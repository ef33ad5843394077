"""`python -m churnlab.data` (what dvc.yaml runs): the data stage's `main()`."""

from churnlab.data.stage import main

main()
