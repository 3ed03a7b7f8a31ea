"""Every notebook is stored without outputs, and every lecture executes top to bottom.

Solution notebooks are executed by the grading round trip (tests/test_assignments.py), so each
notebook runs once in the suite.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT
from sslcourse import course, plot

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
    blank = undrawn_figures(nb)
    assert not blank, f"{path.name}: cells that draw but show no image: {blank}"


# A cell draws when it calls pyplot or a figure function of sslcourse.plot.
PLOT_FUNCTIONS = sorted(name for name in dir(plot) if not name.startswith("_") and callable(getattr(plot, name))
                        and getattr(getattr(plot, name), "__module__", "") == plot.__name__ and name != "save_figure")
DRAWS = re.compile(r"\bplt\.(show|subplots|figure|imshow|plot|bar|scatter|hist)\(|(?<![\w.])(plot\.)?("
                   + "|".join(PLOT_FUNCTIONS) + r")\(")


def undrawn_figures(nb) -> list[str]:
    """``"cell N: first line"`` of each code cell that draws (pyplot or sslcourse.plot) yet has no image output."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("#", "from ", "import ")))
        if DRAWS.search(code) and not any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            out.append(f"cell {i}: {cell.source.strip().splitlines()[0][:60]}")
    return out


def test_undrawn_figure_check_names_the_cell():
    """The check fails for a cell that calls pyplot but shows nothing, and passes one with an image."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot([1, 2])"),
                nbformat.v4.new_code_cell("x = 1  # plt is not called here")]
    assert undrawn_figures(nb) == ["cell 0: fig, ax = plt.subplots()"]
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
    assert undrawn_figures(nb) == []
