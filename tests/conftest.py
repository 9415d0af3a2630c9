import os
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(ROOT))
OFFICIAL_KEYS = ROOT / "tests" / "fixtures" / "official_keys"


def read_official_keys(name):
    """{key: shape tuple} from tests/fixtures/official_keys/NAME.txt."""
    table = {}
    for line in (OFFICIAL_KEYS / f"{name}.txt").read_text().splitlines():
        if line.strip():
            key, shape = line.split("\t")
            table[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return table


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


# -- the student release: unimplemented exercises are reported clearly --------------------------
STUB = re.compile(r"Exercise '(\w+)' is not implemented yet")


_MISSING = None


def unimplemented_exercises():
    """Names of the homework exercises whose stub is still in course_lib (student release only)."""
    global _MISSING
    if _MISSING is None:
        from course_lib.grading.exercises import EXERCISES

        _MISSING = [e.name for e in EXERCISES
                    if f"Exercise '{e.name}' is not implemented yet" in (ROOT / e.file).read_text()]
    return _MISSING


def _skip(report, item, reason):
    report.outcome = "skipped"
    report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that hits an exercise stub: graded tests fail with the hint, others are skipped.

    Only the student release has stubs; in the full kit this hook never fires. App pages run in
    another process (a browser test), where the stub's message cannot reach the test: while any
    exercise is missing, such a failing page test is skipped with the list of missing exercises.
    """
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.failed:
        return
    match = STUB.search(report.longreprtext)
    graded = item.get_closest_marker("exercise") is not None
    if match is not None and graded:
        line = next(ln for ln in report.longreprtext.splitlines() if STUB.search(ln))
        report.longrepr = line.strip().removeprefix("E").strip()
    elif match is not None:
        _skip(report, item, f"needs homework exercise '{match.group(1)}' (not implemented yet)")
    elif not graded and ("page" in item.name or item.get_closest_marker("browser")):
        missing = unimplemented_exercises()
        if missing:
            _skip(report, item, f"the app pages need the homework exercises; still to implement: {', '.join(missing)}")
