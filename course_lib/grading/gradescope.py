"""The Gradescope autograder zip: setup.sh, run_autograder, and the course source with all tests."""

import tempfile
import zipfile
from pathlib import Path

from course_lib.grading.release import make_release

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv > /dev/null
cd /autograder/source
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q -r requirements.txt pytest pytest-timeout
/autograder/venv/bin/pip install -q --no-deps -e .
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; the student's files are in /autograder/submission.
cd /autograder/source
mkdir -p /autograder/results
/autograder/venv/bin/python -m course_lib.grading grade --submission /autograder/submission \\
    --results /autograder/results/results.json
"""


def build_autograder_zip(out):
    """Write the zip Gradescope expects at its root (setup.sh, run_autograder, source/)."""
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        source = Path(tmp) / "source"
        make_release(source, keep_hidden=True)  # stubs + instructor tests: never solutions
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in [("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)]:
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o755 << 16  # executable
                zf.writestr(info, text)
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    zf.write(path, Path("source") / path.relative_to(source))
    return out
