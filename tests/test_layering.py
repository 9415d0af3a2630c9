"""The layout is the architecture: imports flow one way, files and functions stay short.

The allowed order is written once, here, lowest layer first. A module may import its own layer
and the layers below it, never one above; every import counts, including those inside functions.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "course_lib"

LAYERS = [
    ("data", ["course_lib.data", "course_lib.tokenizers"]),
    ("building blocks", ["course_lib.attention", "course_lib.patches", "course_lib.positions",
                         "course_lib.blocks"]),
    # losses are functions of tensors; they sit under the models because MAE's forward returns its
    # loss (the official interface) and SimCLR's model holds its objective
    ("losses", ["course_lib.losses"]),
    ("models", ["course_lib.vit", "course_lib.cnn", "course_lib.swin", "course_lib.mae", "course_lib.clip",
                "course_lib.simclr", "course_lib.audio", "course_lib.dino"]),
    ("complexity", ["course_lib.complexity"]),
    ("evaluation", ["course_lib.evaluate"]),
    ("checkpoints", ["course_lib.checkpoints"]),
    ("official weights", ["course_lib.official"]),
    ("training", ["course_lib.train"]),
    ("figures", ["course_lib.viz"]),
    ("experiments", ["course_lib.experiments"]),
    ("grading", ["course_lib.grading"]),
]
# Third-party packages a layer may not import (the app and the notebooks sit above all of course_lib).
NEVER = {"streamlit", "ipywidgets", "IPython", "nbformat", "nbclient"}
FIGURES = {"matplotlib", "plotly"}
FIGURE_LAYERS = {"training", "figures", "experiments"}  # training: a run draws its own loss curve
PROGRESS_LAYERS = {"data", "evaluation", "checkpoints", "official weights", "training", "figures",
                   "experiments", "grading"}
MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 50


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module):
    """Index into LAYERS of the longest matching prefix; None outside course_lib's layers."""
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def imports_of(path):
    """Every imported module name in a file: (line, name), relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x, from ..y import z
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + [base]).strip(".")
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                      if layer_of(f"{base}.{alias.name}") is not None and base.startswith("course_lib")]
    return found


def library_files():
    return sorted(LIB.rglob("*.py"))


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in library_files() if module_name(p) != "course_lib"
                and layer_of(module_name(p)) is None]
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


def test_imports_only_flow_downward():
    upward = []
    for path in library_files():
        here = layer_of(module_name(path))
        if here is None:
            continue
        for line, name in imports_of(path):
            there = layer_of(name)
            if there is not None and there > here:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({LAYERS[here][0]}) imports {name} "
                              f"({LAYERS[there][0]})")
    assert not upward, "imports that run back up the layers:\n" + "\n".join(upward)


def test_no_library_module_imports_the_app_notebook_or_figure_tools_out_of_place():
    wrong = []
    for path in library_files():
        here = layer_of(module_name(path))
        name_of_layer = LAYERS[here][0] if here is not None else ""
        for line, name in imports_of(path):
            top = name.split(".")[0]
            if (top in NEVER or (top in FIGURES and name_of_layer not in FIGURE_LAYERS)
                    or (top == "tqdm" and name_of_layer not in PROGRESS_LAYERS)):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({name_of_layer}) imports {name}")
    assert not wrong, "\n".join(wrong)


def test_no_file_over_300_lines_and_no_function_over_50():
    long_files, long_functions = [], []
    for path in library_files():
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            long_files.append(f"{path.relative_to(ROOT)} ({len(text.splitlines())} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert not long_files and not long_functions, "\n".join(long_files + long_functions)


def test_class_names_are_distinct_across_the_kit():
    seen = {}
    for path in library_files():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                seen.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    repeated = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not repeated, f"one class name, several classes: {repeated}"


@pytest.mark.parametrize("module", ["course_lib.vit", "course_lib.mae", "course_lib.swin", "course_lib.clip",
                                    "course_lib.simclr", "course_lib.audio", "course_lib.cnn",
                                    "course_lib.dino", "course_lib.losses"])
def test_importing_a_model_registers_no_recipe_and_imports_nothing_above(module):
    code = (f"import sys, {module}\n"
            "from course_lib.train.recipe import RECIPES\n"
            "above = sorted(m for m in sys.modules if m.startswith(('course_lib.train.recipes.', "
            "'course_lib.checkpoints', 'course_lib.official', 'course_lib.evaluate', 'course_lib.viz', "
            "'course_lib.experiments', 'course_lib.grading')))\n"
            "print(len(RECIPES), above)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "0 []", f"importing {module}: {out.stdout.strip()}"
