"""Every notebook is stored without outputs; every lecture and every solution executes top to
bottom and shows each figure it draws; every lecture's deck fits 1280x720 slide by slide.

Solution notebooks are graded in tests/test_assignments.py (headless, as the autograder runs
them); here they run once more with the inline backend, at the autograder's budgets
(NBGRADER_EXECUTION set), to check that every drawing cell shows its image.
"""

from __future__ import annotations

import ast
import json
import re

import pytest

import deckcheck
from conftest import ROOT
from sslcourse import course, notebook, plot
from sslcourse.course import slides

NOTEBOOKS = sorted(p for folder in ("lectures", "solutions", "exercises") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them (Edit > Clear Outputs of All Cells)"


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_executes_top_to_bottom(path, tmp_path):
    """Executed and rendered as `make lectures` does; then its deck is measured in chromium: at least
    a slide per section, and no slide whose content leaves the 1280x720 viewport."""
    course.render([str(path)], out=tmp_path / "lectures")
    nb = course.read_notebook(tmp_path / "lectures" / path.name)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {})]
    assert figures, f"{path.name} shows no figure"
    blank = undrawn_figures(nb)
    assert not blank, f"{path.name}: cells that draw but show no image: {blank}"
    # the headline comparison for build/results.json, from this very run
    record = notebook.collect_results(nb).get(path.stem)
    assert record and record["ssl"] and record["baselines"], f"{path.name} reports no headline (report_results)"

    reason = deckcheck.missing()
    if reason:
        pytest.skip(f"executed and rendered; deck layout not measured: {reason}")
    deck = tmp_path / "lectures" / f"{path.stem}.slides.html"
    result = deckcheck.open_page("deck", deck, tmp_path / "slide.png")
    assert not deckcheck.offline_problems(result), deckcheck.offline_problems(result)
    assert len(result["slides"]) >= slides.sections(nb), (len(result["slides"]), slides.sections(nb))
    overflows = deckcheck.overflowing_slides(result, path.stem)
    assert not overflows, "slides that do not fit 1280x720:\n" + "\n".join(overflows)


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_shows_every_figure_it_draws(path):
    nb = course.execute_notebook(path, timeout=600, env={"NBGRADER_EXECUTION": "autograde"})
    errors = [o.get("ename") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: cells raised {errors}"
    blank = undrawn_figures(nb)
    assert not blank, f"{path.name}: cells that draw but show no image: {blank}"


# A cell draws when it calls pyplot or a figure function of sslcourse.plot.
PLOT_FUNCTIONS = sorted(name for name in dir(plot) if not name.startswith("_") and callable(getattr(plot, name))
                        and getattr(getattr(plot, name), "__module__", "") == plot.__name__ and name != "save_figure")
DRAWS = re.compile(r"\bplt\.(show|subplots|figure|imshow|plot|bar|scatter|hist)\(|(?<![\w.])(plot\.)?("
                   + "|".join(PLOT_FUNCTIONS) + r")\(")


def _split_definitions(source: str) -> tuple[str, dict[str, str]]:
    """(the cell's code outside function/class definitions, {name of a function defined: its source})."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: treat the whole cell as top-level code
        return source, {}
    lines, drop, defs = source.splitlines(), set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            drop.update(range(first, node.end_lineno))
            defs[node.name] = "\n".join(lines[first:node.end_lineno])
    return "\n".join(line for i, line in enumerate(lines) if i not in drop), defs


SKIPPED = re.compile(r"(^|: )skipped\b", re.M)


def undrawn_figures(nb) -> list[str]:
    """``"cell N: first line"`` of each code cell that draws (pyplot, sslcourse.plot, or a helper the
    notebook defined that draws) yet has no image output. Defining a helper does not draw. A cell
    that draws only when optional data exists (CIFAR-10, open_clip) and printed a line saying it
    ``skipped`` is not silent, so it is not reported."""
    out, helpers = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        top, defs = _split_definitions(cell.source)
        helpers += [name for name, body in defs.items() if DRAWS.search(body)]
        code = "\n".join(line for line in top.splitlines() if not line.lstrip().startswith(("#", "from ", "import ")))
        draws = DRAWS.search(code) or any(re.search(rf"(?<![\w.]){re.escape(h)}\(", code) for h in helpers)
        said_skipped = any(o.get("output_type") == "stream" and SKIPPED.search(o.get("text", ""))
                           for o in cell.get("outputs", []))
        if draws and not said_skipped and not any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            out.append(f"cell {i}: {cell.source.strip().splitlines()[0][:60]}")
    return out


def test_undrawn_figure_check_names_the_cell():
    """The check fails for a cell that calls pyplot but shows nothing, and passes one with an image."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot([1, 2])"),
                nbformat.v4.new_code_cell("x = 1  # plt is not called here"),
                nbformat.v4.new_code_cell("def show(x):\n    plt.imshow(x)\n    plt.show()"),
                nbformat.v4.new_code_cell("show(img)")]
    # a cell that says it skipped its figure (optional data missing) is not silent; other text is no excuse
    optional = nbformat.v4.new_code_cell("if data is not None:\n    plt.plot(data)")
    optional.outputs = [nbformat.v4.new_output("stream", name="stdout", text="CIFAR-10 is not available here: skipped\n")]
    chatty = nbformat.v4.new_code_cell("plt.plot([1])")
    chatty.outputs = [nbformat.v4.new_output("stream", name="stdout", text="nothing was skipped here, yet no image\n")]
    nb.cells += [optional, chatty]
    # defining a drawing helper draws nothing; calling it does
    assert undrawn_figures(nb) == ["cell 0: fig, ax = plt.subplots()", "cell 3: show(img)", "cell 5: plt.plot([1])"]
    for cell in (nb.cells[0], nb.cells[3]):
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})]
    assert undrawn_figures(nb) == ["cell 5: plt.plot([1])"]


def test_headline_results_are_checked_shown_and_collected(tmp_path, monkeypatch):
    """report_results refuses what is not a fraction, shows a text line, and render() merges the
    records of executed notebooks into results.json (keeping lectures rendered earlier)."""
    import nbformat

    with pytest.raises(ValueError, match="fractions"):
        notebook.report_results("x", "knn_top1", "d", {"ssl": 61.0}, {"raw": 0.3})
    with pytest.raises(ValueError, match="finite"):
        notebook.report_results("x", "knn_top1", "d", {"ssl": float("nan")}, {})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from sslcourse.notebook import report_results\n"
        "report_results('99_demo', 'knn_top1', 'toy', {'SSL': 0.6}, {'raw pixels': 0.3})")]
    path = tmp_path / "lectures" / "99_demo.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    (tmp_path / "results.json").write_text(json.dumps({"00_earlier": {"metric": "m"}}))
    course.render([str(path)], out=tmp_path / "out", results=tmp_path / "results.json")
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["00_earlier"] == {"metric": "m"}
    assert results["99_demo"]["ssl"] == {"SSL": 0.6} and results["99_demo"]["baselines"] == {"raw pixels": 0.3}
    assert "headline (knn_top1, toy): SSL 60.0%" in (tmp_path / "out" / "99_demo.html").read_text()

