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

from course_lib.grading.exercises import BEGIN, END, EXERCISES, get_exercise
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


# -- no solution in the release ------------------------------------------------------------------
# Solution lines that only name the inputs (shape unpacking, aliases) and so also appear in other
# code about the same tensors; every other line of every solution region must be absent.
NAMING_ONLY = {"B, C, H, W = imgs.shape", "B, L, D = x.shape", "M = window_size", "p = patch_size",
               "check_divisible(H, W, p)", "h, w = H // p, W // p", "return table"}


def solution_lines():
    """{stripped line: exercise file} of every line inside a solution region."""
    lines = {}
    for rel in sorted({e.file for e in EXERCISES}):
        inside = False
        for line in (ROOT / rel).read_text().splitlines():
            marker = line.strip()
            if marker in (BEGIN, END):
                inside = marker == BEGIN
            elif inside and marker and not marker.startswith("#"):
                lines[marker.split("  # ")[0].strip()] = rel  # the code, without its comment
    return lines


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "release"
    make_release(out)
    return out


def test_release_holds_no_solution_line_anywhere(release_dir):
    lines = solution_lines()
    assert len(lines) > 50 and NAMING_ONLY <= set(lines)
    texts = {p.relative_to(release_dir).as_posix(): p.read_text(errors="ignore")
             for p in release_dir.rglob("*") if p.is_file()}
    leaks = sorted(f"{line!r} (from {rel}) in {name}" for line, rel in lines.items()
                   if line not in NAMING_ONLY for name, text in texts.items() if line in text)
    assert not leaks, "\n".join(leaks)
    assert not any(name.startswith(("tests/instructor/", "tests/homework/hidden/")) for name in texts)


def test_release_has_no_second_attention_formula(release_dir):
    """attention_weights gives explicit_attention's map: in the release it is the exercise's stub."""
    code = ("import torch\nfrom course_lib.attention import attention_weights\n"
            "q = torch.randn(1, 2, 3, 4)\ntry:\n    attention_weights(q, q, 0.5)\n"
            "except NotImplementedError as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=release_dir, capture_output=True, text=True,
                         env={"PYTHONPATH": str(release_dir), "PATH": "/usr/bin:/bin",
                              "PYTHONDONTWRITEBYTECODE": "1"})
    assert "Exercise 'attention' is not implemented yet" in run.stdout, run.stderr[-1000:]


def test_release_copies_only_the_files_git_tracks(tmp_path, release_dir):
    repo = tmp_path / "repo"
    (repo / "course_lib").mkdir(parents=True)
    (repo / "course_lib" / "tracked.py").write_text("X = 1\n")
    (repo / "notes_untracked.txt").write_text("the instructor's answers\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "course_lib/tracked.py"], cwd=repo, check=True)
    make_release(tmp_path / "out", root=repo)
    assert (tmp_path / "out" / "course_lib" / "tracked.py").exists()
    assert not (tmp_path / "out" / "notes_untracked.txt").exists()
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    shipped = {p.relative_to(release_dir).as_posix() for p in release_dir.rglob("*") if p.is_file()}
    assert shipped <= set(tracked)  # this checkout's release: tracked files only
