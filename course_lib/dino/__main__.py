"""`python -m course_lib.dino compare`: DINO vs supervised vs random on held-out ShapesWorld."""

from course_lib.dino.analysis import main

main()
