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
sys.path.insert(0, str(ROOT / "tests"))  # tests/browser.py
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
            _skip(report, item,
                  f"the app pages need the homework exercises; still to implement: {', '.join(missing)}")


# -- real-browser tests share one app server (tests/browser.py) ---------------------------------
@pytest.fixture(scope="session")
def app_url():
    """URL of one `streamlit run streamlit_app/app.py` shared by every browser test."""
    from browser import require_browser, streamlit_app

    require_browser()
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with streamlit_app(artifacts / "streamlit.log") as url:
        yield url


@pytest.fixture
def browser_page(app_url, tmp_path):
    """A fresh headless-Chromium page (its own profile directory)."""
    from browser import chromium_page

    with chromium_page(tmp_path / "profile") as page:
        yield page
