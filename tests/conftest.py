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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that hits an exercise stub: graded tests fail with the hint, others are skipped.

    Only the student release has stubs; in the full kit this hook never fires.
    """
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    match = STUB.search(report.longreprtext)
    if match is None:
        return
    name = match.group(1)
    if item.get_closest_marker("exercise"):
        line = next(ln for ln in report.longreprtext.splitlines() if STUB.search(ln))
        report.longrepr = line.strip().removeprefix("E").strip()
    else:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"Skipped: needs homework exercise '{name}' (not implemented yet)")
