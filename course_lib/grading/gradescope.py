"""The Gradescope autograder zip: setup.sh, run_autograder and the course code, all at the zip's root.

    python -m course_lib.grading gradescope --out autograder.zip

Gradescope unpacks the zip into /autograder/source, runs setup.sh there once (as root) to build
the image, and runs run_autograder for every submission, with the student's files in
/autograder/submission and the results expected in /autograder/results/results.json. Both scripts
take the root from $AUTOGRADER_ROOT (default /autograder) and the interpreter from
$AUTOGRADER_PYTHON (default the venv setup.sh makes), so the same zip can be tried in a
temporary tree; AUTOGRADER_SKIP_INSTALL=1 skips setup.sh's apt-get and pip steps when that
interpreter already has the packages. The course code is the release with the instructor's tests
(stubs, never solutions), without notebooks, app, benchmarks or checkpoints.
"""

import tempfile
import zipfile
from pathlib import Path

from course_lib.grading.grade import NOT_NEEDED
from course_lib.grading.release import make_release

TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # the CPU build: no CUDA libraries to download
# what grading imports (found by running every homework test): no jupyterlab, streamlit, plotly…
GRADING_REQUIREMENTS = """numpy>=1.24
tqdm>=4.66
pytest>=8.0
pytest-timeout>=2.2
"""

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# AUTOGRADER_ROOT (default /autograder): where source/, submission/ and results/ are.
# AUTOGRADER_SKIP_INSTALL=1: skip apt-get and pip (the end-to-end test's interpreter has the packages;
# AUTOGRADER_PYTHON names it).
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PY="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
if [ "${{AUTOGRADER_SKIP_INSTALL:-0}}" != "1" ]; then
    apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv > /dev/null
    python3 -m venv "$ROOT/venv"
    "$ROOT/venv/bin/pip" install -q --upgrade pip
    "$ROOT/venv/bin/pip" install -q --index-url {TORCH_INDEX} "torch>=2.2"
    "$ROOT/venv/bin/pip" install -q -r "$ROOT/source/requirements-grading.txt"
fi
cd "$ROOT/source"
"$PY" -c "import torch, pytest_timeout, course_lib.grading as g, pathlib
print('autograder ready, torch', torch.__version__, '; course code in', pathlib.Path(g.__file__).parents[2])"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: the student's files are in $ROOT/submission, the
# results go to $ROOT/results/results.json. One thread, as the course measures it.
# AUTOGRADER_EXERCISES (instructor's dry runs only): grade just these exercises, space-separated.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
cd "$ROOT/source"
# shellcheck disable=SC2086
"$PY" -m course_lib.grading grade --submission "$ROOT/submission" \\
    --results "$ROOT/results/results.json" ${AUTOGRADER_EXERCISES:+--exercises $AUTOGRADER_EXERCISES}
if [ ! -s "$ROOT/results/results.json" ]; then
    MESSAGE="The autograder stopped before it could grade this submission: please tell your instructor."
    printf '{"score": 0, "stdout_visibility": "hidden", "output": "%s"}\n' "$MESSAGE" \
        > "$ROOT/results/results.json"
fi
"""


def _write_text(zf, name, text, executable=False):
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if executable else 0o644) << 16
    zf.writestr(info, text)


def build_autograder_zip(out, root=None):
    """Write the autograder zip: setup.sh, run_autograder, requirements-grading.txt and the course code,
    all at the zip's root (Gradescope puts the root in /autograder/source)."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        source = Path(tmp) / "source"
        make_release(source, root=root, keep_hidden=True, skip=NOT_NEEDED)  # stubs + instructor tests
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            _write_text(zf, "setup.sh", SETUP_SH, executable=True)
            _write_text(zf, "run_autograder", RUN_AUTOGRADER, executable=True)
            _write_text(zf, "requirements-grading.txt", GRADING_REQUIREMENTS)
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(source).as_posix())
    return out
