"""Homework: the exercise registry, `check()`, the grader and the student release.

    from course_lib.grading import check;  check("patchify")
    python -m course_lib.grading {check,grade,release,gradescope} ...
"""

from course_lib.grading.check import check
from course_lib.grading.exercises import EXERCISES, get_exercise

__all__ = ["check", "EXERCISES", "get_exercise"]
