"""Every lecture notebook runs top to bottom (outputs are not saved back)."""

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.time()
    client.execute()
    elapsed = time.time() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    # a matplotlib Figure shown as its text ("<Figure size 800x600 with 2 Axes>") instead of a picture
    unrendered = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.get("outputs", [])
                  if "".join(o.get("data", {}).get("text/plain", "")).startswith("<Figure size")
                  and "image/png" not in o.get("data", {})]
    assert not unrendered, f"{path.name}: figures shown as text in cells {sorted(set(unrendered))}"
    assert elapsed < 240, f"{path.name} took {elapsed:.0f} s; keep notebooks under 2 minutes"


def test_notebooks_are_saved_without_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
        assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"
