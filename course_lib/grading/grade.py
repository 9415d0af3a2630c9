"""Grading: run each exercise's tests in a clean sandbox and write Gradescope's results.json.

    python -m course_lib.grading grade --submission DIR --results results.json

The sandbox is a fresh copy of the release (solutions stubbed) with the instructor's tests,
public and hidden, and only the submission's exercise files copied in: a submission cannot
change tests or the grader. Each exercise runs in its own sandbox and subprocess, each test with
a timeout, so a hanging or crashing exercise scores 0 on its own tests and the rest go on.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_lib.grading.exercises import EXERCISES, get_exercise
from course_lib.grading.release import make_release

REPO = Path(__file__).resolve().parents[2]
NOT_NEEDED = ("data/checkpoints", "notebooks", "streamlit_app", "benchmarks")


def find_submitted(submission, rel_path):
    """The submission's copy of `rel_path`: DIR/rel_path, else a unique DIR/**/basename."""
    submission = Path(submission)
    direct = submission / rel_path
    if direct.is_file():
        return direct
    matches = [p for p in submission.rglob(Path(rel_path).name) if p.is_file()]
    return matches[0] if len(matches) == 1 else None


def build_sandbox(root, submission, dest):
    """Release of `root` (with hidden tests) in `dest`, with the submission's exercise files in it."""
    make_release(dest, root=root, keep_hidden=True, skip=NOT_NEEDED)
    used = []
    if submission is not None:
        for rel in sorted({e.file for e in EXERCISES}):
            src = find_submitted(submission, rel)
            if src is not None:
                (Path(dest) / rel).write_bytes(src.read_bytes())
                used.append(rel)
    return used


def run_tests(sandbox, test_paths, per_test_timeout=20, collect_only=False):
    """Run pytest on `test_paths` inside `sandbox` in a subprocess; → list of test records."""
    with tempfile.TemporaryDirectory(prefix="report-") as tmp:
        return _run_tests(sandbox, test_paths, per_test_timeout, collect_only, Path(tmp) / "report.json")


def _run_tests(sandbox, test_paths, per_test_timeout, collect_only, report):
    env = {**os.environ, "GRADING_REPORT": str(report), "PYTHONPATH": str(sandbox),
           "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "course_lib.grading.pytest_plugin",
           "-p", "no:cacheprovider", "--rootdir", str(sandbox), "-o", "addopts="]
    cmd += ["--collect-only"] if collect_only else [f"--timeout={per_test_timeout}"]
    existing = [p for p in test_paths if (Path(sandbox) / p).exists()]
    if not existing:
        return []
    backstop = 120 if collect_only else per_test_timeout * 12 + 60
    try:
        subprocess.run(cmd + existing, cwd=sandbox, env=env, timeout=backstop,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired:
        pass  # whatever did not report stays "not run" and scores 0
    if not report.exists():
        return []
    return json.loads(report.read_text())


def expected_tests(root, names):
    """Every graded test of the exercises `names`, collected from a pristine sandbox."""
    with tempfile.TemporaryDirectory(prefix="collect-") as tmp:
        build_sandbox(root, None, tmp)
        paths = [p for n in names for p in (get_exercise(n).public_tests, get_exercise(n).hidden_tests)]
        return run_tests(tmp, paths, collect_only=True)


def grade_exercise(root, submission, name, per_test_timeout):
    ex = get_exercise(name)
    with tempfile.TemporaryDirectory(prefix=f"grade-{name}-") as tmp:
        build_sandbox(root, submission, tmp)
        return run_tests(tmp, [ex.public_tests, ex.hidden_tests], per_test_timeout)


def grade(submission, root=REPO, names=None, per_test_timeout=20):
    """Grade `submission` → Gradescope results dict."""
    start = time.time()
    names = names or [e.name for e in EXERCISES]
    expected = {r["nodeid"]: r for r in expected_tests(root, names)}
    for name in names:
        for rec in grade_exercise(root, submission, name, per_test_timeout):
            if rec["nodeid"] in expected and rec["outcome"] != "not run":
                expected[rec["nodeid"]] = rec
    tests = [gradescope_test(r) for r in expected.values()]
    return dict(score=sum(t["score"] for t in tests), execution_time=round(time.time() - start, 1),
                tests=tests, visibility="visible", stdout_visibility="hidden")


def gradescope_test(rec):
    passed = rec["outcome"] == "passed"
    return dict(name=f"{rec['exercise']}: {rec['name']}", score=rec["points"] if passed else 0.0,
                max_score=rec["points"], status="passed" if passed else "failed",
                output=rec["message"] or ("ok" if passed else "failed"),
                visibility="after_published" if rec["hidden"] else "visible",
                tags=[rec["exercise"]])


def score_table(results, show_hidden=False):
    """Per-exercise score table, as printed by the grader.

    Only the public tests count unless `show_hidden` (the instructor's own runs): the grader's
    output must not reveal a hidden test's points before the grades are published.
    """
    tests = [t for t in results["tests"] if show_hidden or t["visibility"] == "visible"]
    per = {}
    for t in tests:
        got, top = per.get(t["tags"][0], (0.0, 0.0))
        per[t["tags"][0]] = (got + t["score"], top + t["max_score"])
    title = "all tests" if show_hidden else "public tests"
    lines = [f"{'exercise':<26}{title:>15}"]
    lines += [f"{name:<26}{got:>7.1f} / {top:<5.1f}" for name, (got, top) in per.items()]
    got, top = sum(t["score"] for t in tests), sum(t["max_score"] for t in tests)
    lines.append(f"{'total':<26}{got:>7.1f} / {top:<5.1f}")
    if not show_hidden and len(tests) < len(results["tests"]):
        lines.append("Hidden tests are graded too; their results are shown when the grades are published.")
    return "\n".join(lines)
