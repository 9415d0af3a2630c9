"""`check("patchify")`: run one exercise's public tests and print ✓ or ✗ with a short reason."""

from pathlib import Path

from course_lib.grading.exercises import get_exercise
from course_lib.grading.grade import REPO, run_tests


def check(name, root=None, verbose=True):
    """Run the public tests of exercise `name` against the current code; True if all pass.

    The tests run in a fresh Python process, so edits to course_lib are picked up without
    restarting the notebook's kernel.
    """
    ex = get_exercise(name)
    root = Path(root or REPO)
    records = run_tests(root, [ex.public_tests], per_test_timeout=30)
    if not records:
        if verbose:
            print(f"✗ no public tests found for {name!r} ({ex.public_tests}).")
        return False
    for rec in records:
        if verbose:
            mark = "✓" if rec["outcome"] == "passed" else "✗"
            reason = "" if rec["outcome"] == "passed" else f": {rec['message']}"
            print(f"{mark} {rec['name']}{reason}")
    passed = sum(r["outcome"] == "passed" for r in records)
    if verbose:
        cheer = " Well done!" if passed == len(records) else ""
        print(f"{passed}/{len(records)} tests pass for {name!r}.{cheer}")
    return passed == len(records)
