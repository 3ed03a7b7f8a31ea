"""Every notebook is stored without outputs, and every lecture executes top to bottom.

Solution notebooks are executed by the grading round trip (tests/test_assignments.py), so each
notebook runs once in the suite.
"""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from sslcourse import course

NOTEBOOKS = sorted(p for folder in ("lectures", "solutions", "exercises") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them (Edit > Clear Outputs of All Cells)"


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_executes_top_to_bottom(path):
    nb = course.execute_notebook(path, timeout=600)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {})]
    assert figures, f"{path.name} shows no figure"
