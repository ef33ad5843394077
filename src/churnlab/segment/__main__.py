"""`python -m churnlab.segment` (what dvc.yaml runs): the segment stage's `main()`."""

from churnlab.segment.stage import main

main()
