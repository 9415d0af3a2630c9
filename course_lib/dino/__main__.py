"""`python -m course_lib.dino compare` (attention Jaccard) and `... attributes` (what the features know)."""

from course_lib.dino.analysis import main

main()
