"""The homework loop: solutions score full marks, the release scores 0, every mutant loses points,
and a hanging or test-deleting submission still gets a complete results.json."""

import ast
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from course_lib.grading.exercises import BEGIN, EXERCISES, get_exercise
from course_lib.grading.grade import grade
from course_lib.grading.release import make_release, strip_solutions

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = sorted((ROOT / "tests" / "homework" / "mutants").glob("*__*.py"))
pytestmark = pytest.mark.slow


def per_exercise(results):
    scores = defaultdict(lambda: [0.0, 0.0])
    for t in results["tests"]:
        scores[t["tags"][0]][0] += t["score"]
        scores[t["tags"][0]][1] += t["max_score"]
    return scores


def replace_function(source, name, new_function):
    """`source` with the top-level function `name` replaced by the text `new_function`."""
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines = source.splitlines(keepends=True)
    return "".join(lines[: start - 1]) + new_function.rstrip() + "\n" + "".join(lines[node.end_lineno:])


def submission_with(tmp_path, replacements):
    """A submission folder (flat, as Gradescope uploads) with the solution files, edited."""
    sub = tmp_path / "submission"
    sub.mkdir(exist_ok=True)
    for ex in EXERCISES:
        target = sub / Path(ex.file).name
        if not target.exists():
            shutil.copy(ROOT / ex.file, target)
    for exercise, text in replacements.items():
        ex = get_exercise(exercise)
        target = sub / Path(ex.file).name
        name = ast.parse(text).body[0].name  # the mutant replaces the function it defines
        target.write_text(replace_function(target.read_text(), name, text))
    return sub


def test_every_exercise_has_a_region_and_tests():
    for ex in EXERCISES:
        text = (ROOT / ex.file).read_text()
        assert BEGIN in text, ex.name
        _, found = strip_solutions(text, ex.file)
        assert ex.name in found, ex.name
        assert (ROOT / ex.public_tests).exists() and (ROOT / ex.hidden_tests).exists(), ex.name


def test_exercise_files_have_distinct_names_for_a_flat_upload():
    """Gradescope submissions are a flat folder of files: two exercise files may not share a name."""
    files = sorted({ex.file for ex in EXERCISES})
    names = [Path(f).name for f in files]
    assert len(set(names)) == len(names), f"exercise files that share a name: {files}"


def test_solutions_score_full_marks(tmp_path):
    results = grade(submission_with(tmp_path, {}))
    for name, (got, top) in per_exercise(results).items():
        assert top > 0 and got == top, f"{name}: {got}/{top}"
    assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}
    json.dumps(results)  # serializable as Gradescope's results.json


def test_release_scores_zero_and_its_other_tests_pass(tmp_path):
    release = tmp_path / "release"
    stubbed = make_release(release)
    assert set(stubbed) == {e.name for e in EXERCISES}
    assert not (release / "tests" / "homework" / "hidden").exists()
    assert not (release / "tests" / "homework" / "mutants").exists()
    assert "# BEGIN SOLUTION" not in (release / "course_lib" / "losses.py").read_text()
    results = grade(tmp_path / "empty", root=release) if (tmp_path / "empty").mkdir() is None else None
    assert results["score"] == 0 and len(results["tests"]) > 0
    assert all("not implemented yet" in t["output"] for t in results["tests"])
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                          "tests/test_blocks.py", "tests/homework/test_patchify.py"],
                         cwd=release, capture_output=True, text=True, env={"PYTHONPATH": str(release),
                                                                            "PATH": "/usr/bin:/bin"})
    assert "needs homework exercise 'patchify'" in run.stdout  # non-exercise tests that need it: skipped
    assert "2 failed" in run.stdout and " passed" in run.stdout  # the graded tests fail, the rest pass
    assert "Traceback" not in run.stdout.split("short test summary")[-1]


def mutant_rounds():
    """Mutants grouped so that each round has at most one mutant per exercise."""
    rounds = []
    for path in MUTANTS:
        exercise = path.stem.split("__")[0]
        for r in rounds:
            if exercise not in r:
                r[exercise] = path
                break
        else:
            rounds.append({exercise: path})
    return rounds


@pytest.mark.parametrize("round_", mutant_rounds(), ids=lambda r: "+".join(p.stem for p in r.values()))
def test_every_mutant_loses_points(tmp_path, round_):
    sub = submission_with(tmp_path, {ex: p.read_text() for ex, p in round_.items()})
    scores = per_exercise(grade(sub, names=list(round_)))
    for exercise, path in round_.items():
        got, top = scores[exercise]
        assert got < top, f"mutant {path.name} kept full marks"


def test_hanging_and_test_deleting_submission_gets_complete_results(tmp_path):
    hang = "def patchify(imgs, patch_size):\n    while True:\n        pass\n"
    sub = submission_with(tmp_path, {"patchify": hang})
    losses = sub / "losses.py"
    losses.write_text("import pathlib, glob\nfor f in glob.glob('tests/homework/**/*.py', recursive=True):\n"
                      "    pathlib.Path(f).unlink()\n" + losses.read_text())
    names = ["patchify", "clip_loss", "attention_matrix_bytes"]
    results = grade(sub, names=names, per_test_timeout=3)
    scores = per_exercise(results)
    assert set(scores) == set(names)
    assert scores["patchify"][0] == 0 and scores["patchify"][1] > 0
    assert scores["attention_matrix_bytes"][0] == scores["attention_matrix_bytes"][1]
    assert any("timed out" in t["output"] for t in results["tests"] if t["tags"] == ["patchify"])
    assert (ROOT / "tests" / "homework" / "test_clip_loss.py").exists()  # the instructor's copy is safe
