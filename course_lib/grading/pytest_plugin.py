"""pytest plugin used by the grader and `check()`: records each homework test's outcome as JSON.

Loaded with `-p course_lib.grading.pytest_plugin`; writes to the file named by $GRADING_REPORT.
Each record: nodeid, exercise, points, hidden, outcome, message (one short line, not a traceback).
"""

import json
import os
import random

import pytest

from course_lib.grading.exercises import STUB_PREFIX

_records = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "exercise(name, points=1): a graded homework test")


def short_message(report, call):
    """One helpful line: the assertion or error, never a traceback."""
    if call is None or call.excinfo is None:
        return str(report.longrepr).strip().splitlines()[-1][:500] if report.longrepr else ""
    exc = call.excinfo.value
    text = str(exc).strip()
    if isinstance(exc, NotImplementedError) and text.startswith(STUB_PREFIX):
        return text
    if "Timeout" in type(exc).__name__ or "Timeout" in text[:80]:
        return "took too long (timed out): look for an infinite loop or a very slow loop."
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:500]


@pytest.fixture(autouse=True)
def _fixed_seeds():
    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("exercise")
    if marker is None:
        return
    if report.when == "call" or report.failed:
        name = marker.args[0] if marker.args else marker.kwargs["name"]
        _records[item.nodeid] = dict(
            nodeid=item.nodeid, name=item.name, exercise=name, points=float(marker.kwargs.get("points", 1)),
            hidden="/hidden/" in item.nodeid, outcome="passed" if report.passed else "failed",
            message="" if report.passed else short_message(report, call),
        )


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("exercise")
        if marker is not None:
            name = marker.args[0] if marker.args else marker.kwargs["name"]
            _records.setdefault(item.nodeid, dict(
                nodeid=item.nodeid, name=item.name, exercise=name,
                points=float(marker.kwargs.get("points", 1)),
                hidden="/hidden/" in item.nodeid, outcome="not run", message="the test did not run.",
            ))


def pytest_sessionfinish(session):
    path = os.environ.get("GRADING_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(list(_records.values()), f)
