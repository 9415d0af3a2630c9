"""The Gradescope autograder, end to end: the zip unpacks into Gradescope's layout, setup.sh and
run_autograder run there on a submission, and results.json is right; hidden tests stay hidden in
everything the student sees before the grades are published."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from course_lib.grading.exercises import BEGIN, EXERCISES
from course_lib.grading.grade import gradescope_test, score_table
from course_lib.grading.gradescope import build_autograder_zip
from course_lib.grading.release import make_release

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_ONLY = ("jupyterlab", "streamlit", "plotly", "ipywidgets", "matplotlib")


def record(exercise, name, points, hidden, passed):
    return dict(nodeid=f"tests/homework/{'hidden/' if hidden else ''}test_{exercise}.py::{name}", name=name,
                exercise=exercise, points=points, hidden=hidden, outcome="passed" if passed else "failed",
                message="" if passed else "AssertionError: secret hidden detail")


def table_rows(text):
    """{exercise: (got, top)} and the total, parsed from the grader's printed table."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)\s+([\d.]+) / ([\d.]+)\s*$", line)
        if m:
            rows[m[1]] = (float(m[2]), float(m[3]))
    return rows


def test_printed_table_leaves_out_hidden_points():
    tests = [gradescope_test(r) for r in [
        record("patchify", "test_shape", 1, False, True), record("patchify", "test_values", 3, True, True),
        record("clip_loss", "test_sym", 2, False, False), record("clip_loss", "test_big", 4, True, True)]]
    results = dict(score=sum(t["score"] for t in tests), tests=tests, stdout_visibility="hidden")
    assert [t["visibility"] for t in tests] == ["visible", "after_published", "visible", "after_published"]
    printed = score_table(results)
    assert table_rows(printed) == {"patchify": (1.0, 1.0), "clip_loss": (0.0, 2.0), "total": (1.0, 3.0)}
    assert "secret" not in printed and "test_values" not in printed
    everything = table_rows(score_table(results, show_hidden=True))  # the instructor's own view
    assert everything["total"] == (8.0, 10.0)


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    return build_autograder_zip(tmp_path_factory.mktemp("zip") / "autograder.zip")


def test_zip_has_gradescope_layout_and_installs_only_grading_needs(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        requirements = zf.read("requirements-grading.txt").decode()
        sources = {n: zf.read(n).decode() for n in names if n.startswith("course_lib/") and n.endswith(".py")}
    assert {"setup.sh", "run_autograder", "course_lib/grading/grade.py", "tests/conftest.py"} <= names
    assert not any(n.startswith("source/") for n in names)  # would land in /autograder/source/source
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    for ex in EXERCISES:
        assert ex.hidden_tests in names and ex.public_tests in names, ex.name
    marked = [n for n, text in sources.items() if any(line.strip() == BEGIN for line in text.splitlines())]
    assert not marked  # stubs, never solutions
    assert not any(n.startswith(("notebooks/", "streamlit_app/", "data/checkpoints/")) for n in names)
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup
    assert "requirements.txt" not in setup.replace("requirements-grading.txt", "")
    for package in RUNTIME_ONLY:
        assert package not in setup + requirements, package
    assert "pytest-timeout" in requirements


def unpack_autograder(zip_path, base):
    """A tree laid out like Gradescope's /autograder: source/ (the zip), submission/, results/."""
    ag = base / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(ag / "source")
        for info in zf.infolist():  # extractall drops the permission bits
            os.chmod(ag / "source" / info.filename, info.external_attr >> 16 or 0o644)
    shutil.copy2(ag / "source" / "run_autograder", ag / "run_autograder")  # as Gradescope does
    (ag / "submission").mkdir()
    (ag / "results").mkdir()
    return ag


def run_script(ag, script, **extra):
    env = {"PATH": os.environ["PATH"], "HOME": str(ag), "AUTOGRADER_ROOT": str(ag),
           "AUTOGRADER_PYTHON": sys.executable, "AUTOGRADER_SKIP_INSTALL": "1", **extra}
    return subprocess.run([str(script)], cwd=ag, env=env, capture_output=True, text=True, timeout=300)


def per_exercise(tests):
    scores = defaultdict(lambda: [0.0, 0.0])
    for t in tests:
        scores[t["tags"][0]][0] += t["score"]
        scores[t["tags"][0]][1] += t["max_score"]
    return {k: tuple(v) for k, v in scores.items()}


@pytest.mark.slow
def test_autograder_grades_solutions_and_release_in_gradescope_layout(autograder_zip, tmp_path):
    ag = unpack_autograder(autograder_zip, tmp_path)
    setup = run_script(ag, ag / "source" / "setup.sh")
    assert setup.returncode == 0 and "autograder ready" in setup.stdout, setup.stderr[-2000:]
    assert f"course code in {ag / 'source'}" in setup.stdout  # the unpacked copy, not this checkout
    for ex in EXERCISES:  # a flat upload, as Gradescope stores it
        shutil.copy(ROOT / ex.file, ag / "submission" / Path(ex.file).name)
    run = run_script(ag, ag / "run_autograder")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads((ag / "results" / "results.json").read_text())
    tests = results["tests"]
    assert {t["tags"][0] for t in tests} == {e.name for e in EXERCISES}
    top = sum(t["max_score"] for t in tests)
    assert top > 0 and results["score"] == top  # the solutions: full marks
    assert results["stdout_visibility"] == "hidden"
    hidden = [t for t in tests if t["visibility"] != "visible"]
    assert hidden and {t["visibility"] for t in hidden} == {"after_published"}
    assert all("/hidden/" not in t["name"] for t in tests if t["visibility"] == "visible")
    # what the grader printed counts the public tests only
    public = per_exercise([t for t in tests if t["visibility"] == "visible"])
    printed = table_rows(run.stdout)
    assert printed.pop("total") == (sum(v[0] for v in public.values()), sum(v[1] for v in public.values()))
    assert printed == public and public != per_exercise(tests)
    for t in hidden:
        assert t["name"].split(": ")[-1] not in run.stdout + run.stderr

    # a submission made from the student release: every stub scores 0, results.json still complete
    release = tmp_path / "release"
    make_release(release)
    for ex in EXERCISES:
        shutil.copy(release / ex.file, ag / "submission" / Path(ex.file).name)
    names = "patchify attention_matrix_bytes"
    run = run_script(ag, ag / "run_autograder", AUTOGRADER_EXERCISES=names)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads((ag / "results" / "results.json").read_text())
    assert {t["tags"][0] for t in results["tests"]} == set(names.split())
    assert results["score"] == 0 and all(t["max_score"] > 0 for t in results["tests"])
    assert all("not implemented yet" in t["output"] for t in results["tests"])
