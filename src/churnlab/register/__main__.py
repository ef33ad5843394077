"""`python -m churnlab.register` (what dvc.yaml runs): the register stage's `main()`."""

from churnlab.register.stage import main

main()
