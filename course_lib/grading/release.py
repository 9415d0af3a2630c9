"""The student release: the same repo with every solution region replaced by a stub.

    python -m course_lib.grading release --out DIR

Solution regions become `raise NotImplementedError("Exercise '<name>' ... Hint: ...")`, hidden
tests and instructor-only files are left out, and notebook outputs are cleared. In a git checkout
only the files git tracks are copied: an instructor's untracked notes never reach the students.
"""

import ast
import json
import shutil
import subprocess
from pathlib import Path

from course_lib.grading.exercises import BEGIN, END, EXERCISES, stub_message

# never copied into a release or a grading sandbox
SKIP_PARTS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "test-artifacts",
              ".ipynb_checkpoints", "runs", "student_release", "build"}
# instructor-only: hidden tests and the mutants that prove the tests catch wrong answers
INSTRUCTOR_ONLY = ("tests/homework/hidden", "tests/homework/mutants", "tests/instructor/",
                   "tests/test_grading.py", "tests/test_gradescope")


def git_toplevel(root):
    """The checkout `root` is the top of, or None (not a git checkout, or only a folder inside one)."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, check=True,
                             capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return top if Path(top).resolve() == Path(root).resolve() else None


def repo_files(root):
    """Files of the repo: the files git tracks in a checkout (never untracked ones), else a walk."""
    root = Path(root)
    if git_toplevel(root):
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True,
                             capture_output=True, text=True).stdout.split("\0")
        files = [root / f for f in out if f]
    else:  # an unpacked autograder or release: every file but junk
        files = [p for p in root.rglob("*") if p.is_file()]
    return [f for f in files if f.is_file() and not SKIP_PARTS & set(f.relative_to(root).parts)]


def enclosing_function(tree, lineno):
    """Name of the innermost function whose body contains line `lineno`."""
    best = None
    for node in ast.walk(tree):
        is_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if is_function and node.lineno <= lineno <= node.end_lineno:
            if best is None or node.lineno > best.lineno:
                best = node
    return best.name if best else None


def strip_solutions(source, path=""):
    """Replace each BEGIN/END SOLUTION region of `source` by a stub; returns (text, exercises found).

    The exercise is the registry entry whose function encloses the region.
    """
    by_function = {f.strip(): e for e in EXERCISES if path.endswith(e.file) or not path
                   for f in e.function.split(",")}
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    out, found, inside = [], [], False
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            name = enclosing_function(tree, number)
            if name not in by_function:
                raise ValueError(f"{path}:{number}: solution region in {name!r}, "
                                 "which is not a registered exercise.")
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError({stub_message(by_function[name])!r})\n")
            found.append(by_function[name].name)
            inside = True
        elif marker == END:
            if not inside:
                raise ValueError(f"{path}:{number}: '{END}' without a matching '{BEGIN}'.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{path}: '{BEGIN}' without a matching '{END}'.")
    return "".join(out), found


def clear_notebook(path):
    nb = json.loads(Path(path).read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def make_release(out, root=None, keep_hidden=False, skip=()):
    """Write the student version of the repo at `root` into `out`; returns the exercises stubbed.

    `keep_hidden` keeps the instructor-only files (grading sandboxes, the autograder zip); `skip`
    names folders to leave out as well.
    """
    root = Path(root or Path(__file__).resolve().parents[2])
    out = Path(out)
    if out.resolve() == root.resolve():
        raise ValueError("The release directory must not be the repository itself: pick another --out.")
    if out.exists():
        shutil.rmtree(out)
    stubbed = []
    for src in repo_files(root):
        rel = src.relative_to(root).as_posix()
        if not keep_hidden and rel.startswith(INSTRUCTOR_ONLY):
            continue
        if any(rel.startswith(f"{folder}/") for folder in skip):
            continue
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".py" and BEGIN in src.read_text(errors="ignore"):
            text, found = strip_solutions(src.read_text(), rel)
            dst.write_text(text)
            stubbed += found
        else:
            shutil.copy2(src, dst)
        if src.suffix == ".ipynb":
            clear_notebook(dst)
    return stubbed
