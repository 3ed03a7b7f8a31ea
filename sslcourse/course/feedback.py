"""Feedback a student may see: test names, points, pass or fail and their own errors, never a hidden test.

nbgrader's `generate_feedback` renders the autograded notebook as it is: every test cell with its
hidden tests (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``, an independent reference
implementation included), and tracebacks that quote the test cell's source around the failing line
and the frames of the grader's package (``sslcourse``, whose code is the reference). Handing that
HTML back would hand out the answers.

`HideHiddenTests` is an nbconvert preprocessor that runs inside `generate_feedback`, after nbgrader's
`GetGrades` (so the points shown are nbgrader's, from the gradebook), and rewrites each notebook
before it is rendered (`sanitise_notebook`):

  * the hidden block of every cell is replaced by one line, ``HIDDEN_PLACEHOLDER``; the visible
    tests stay, the students had them;
  * a test cell's outputs are replaced by one status line (``test_x: passed, 3 / 3 points`` or
    ``test_x: failed, 0 / 2 points``) and, when it failed, the error: exception type and message,
    where in the test cell it was raised (a visible line, quoted, or "in the hidden tests"), and
    the traceback frames of the student's own cells, nothing else;
  * an error in any other cell keeps only the frames of cells the student can read in full; file
    frames (the ``sslcourse`` package, torch, the standard library) are always dropped.

It is switched on twice: by the course's nbgrader_config.py (``FEEDBACK_PREPROCESSORS``, so that a
TA's own ``nbgrader generate_feedback`` and formgrader's button hide the tests too) and by
`generate_feedback` below, which the autograder calls and which passes it on nbgrader's command
line whatever the course's config says. Only the feedback is rewritten: autograded/ keeps the full
notebooks for the TA and formgrader.
"""
from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sslcourse.course.common import _nbgrader

if TYPE_CHECKING:  # annotations only; nbformat is a dev extra
    from nbformat import NotebookNode

BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # nbgrader's ClearHiddenTests delimiters
HIDDEN_PLACEHOLDER = "# hidden tests: not shown"
# nbgrader's default GenerateFeedback.preprocessors with ours after GetGrades (it needs the scores).
FEEDBACK_PREPROCESSORS = ["nbgrader.preprocessors.GetGrades", "sslcourse.course.feedback.HideHiddenTests",
                          "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The first line of a traceback entry for a notebook cell: IPython >= 8.6 ("Cell In[5], line 3"),
# 8.0-8.5 ("Input In [5], in <cell line: 3>()"). Any other entry (a file frame) is dropped.
_CELL_FRAME = re.compile(r"^\s*(?:Cell In\[(\d+)\], line (\d+)|Input In \[(\d+)\], in <cell line: (\d+)>)")


# --------------------------------------------------------------------------- cell sources


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def hidden_line_numbers(source: str) -> set[int]:
    """1-based numbers of the lines of `source` inside hidden-test blocks, the delimiter lines included.

    A block without its END line runs to the end of the cell (hidden, rather than shown by mistake).
    """
    hidden, inside = set(), False
    for number, line in enumerate(source.split("\n"), start=1):
        if BEGIN_HIDDEN in line:
            inside = True
        if inside:
            hidden.add(number)
        if END_HIDDEN in line:
            inside = False
    return hidden


def strip_hidden(source: str) -> str:
    """`source` with each hidden-test block replaced by one `HIDDEN_PLACEHOLDER` line (same indentation)."""
    hidden = hidden_line_numbers(source)
    out = []
    for number, line in enumerate(source.split("\n"), start=1):
        if number not in hidden:
            out.append(line)
        elif number - 1 not in hidden:  # the first line of a block
            out.append(line[:len(line) - len(line.lstrip())] + HIDDEN_PLACEHOLDER)
    return "\n".join(out)


def _is_test_cell(cell: dict) -> bool:
    """A cell whose full source the student must not read: a grade cell that is not their answer, or
    any cell with a hidden block."""
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    return (cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")) \
        or BEGIN_HIDDEN in _source(cell)


# --------------------------------------------------------------------------- tracebacks


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def _frame_cell(entry: str, cells: list[dict], index: int) -> tuple[int, int] | None:
    """(cell index, line) of a traceback entry that is a frame of a notebook cell, else None.

    ``In[N]`` is the execution count: the nearest cell at or before `index` that ran as N (after a
    kernel restart the counts start again; the cells before a failure were re-run in the new kernel).
    """
    match = _CELL_FRAME.match(_plain(entry))
    if not match:
        return None
    count = int(match.group(1) or match.group(3))
    line = int(match.group(2) or match.group(4))
    order = list(range(index, -1, -1)) + list(range(index + 1, len(cells)))
    for j in order:
        if cells[j].get("cell_type") == "code" and cells[j].get("execution_count") == count:
            return j, line
    return None


def _where_in_test(cell: dict, line: int) -> str:
    """Where a test cell raised: its visible line, quoted, or the hidden tests (never their text)."""
    gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id") or "the test cell"
    source = _source(cell).split("\n")
    if line in hidden_line_numbers(_source(cell)) or not 1 <= line <= len(source):
        return f"raised in the hidden tests of {gid} (not shown)"
    return f"raised by a visible test of {gid}, line {line}: {source[line - 1].strip()}"


def sanitise_error(output: dict, cells: list[dict], index: int) -> dict:
    """An error output rebuilt from its type, message and the frames of the student's own cells.

    Kept: a frame of a cell the student can read in full (their answer, a setup cell), as IPython
    wrote it. A frame of a test cell becomes one line saying where it raised (`_where_in_test`).
    Dropped: every file frame (the grader's package, libraries) and any entry that is not a frame.
    """
    ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
    lines = ["Traceback of your own cells (the tests and the grader's code are not shown):"]
    for entry in output.get("traceback", [])[1:]:
        found = _frame_cell(entry, cells, index)
        if found is None:
            continue
        j, line = found
        lines.append(_where_in_test(cells[j], line) if _is_test_cell(cells[j]) else entry.rstrip("\n"))
    lines.append(f"{ename}: {evalue}")
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": lines}


# --------------------------------------------------------------------------- notebooks


def _status(cell: dict, failed: bool) -> str:
    """`test_x: passed, 3 / 3 points`: the points GetGrades put into the cell (the gradebook's)."""
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    score, points = meta.get("score"), meta.get("points")
    failed = failed or (score is not None and points is not None and float(score) < float(points))
    text = f"{meta.get('grade_id') or 'test'}: {'failed' if failed else 'passed'}"
    if score is not None and points is not None:
        text += f", {float(score):g} / {float(points):g} points"
    return text + "\n"


def sanitise_notebook(nb: NotebookNode) -> NotebookNode:
    """Rewrite an autograded notebook (in place, and return it) into what its student may see.

    See the module docstring: hidden blocks become `HIDDEN_PLACEHOLDER`; a test cell's outputs become
    its status line and its error (`sanitise_error`); other cells keep their outputs, errors
    rebuilt the same way. `nb` is an nbformat NotebookNode (attribute access for the templates).
    """
    import nbformat  # a dev extra (installed with nbgrader): only the grading process needs it

    cells = nb.cells
    sources = [_source(c) for c in cells]  # the originals: frame lines refer to them
    originals = [dict(c, source=s) for c, s in zip(cells, sources)]
    for index, cell in enumerate(cells):
        if BEGIN_HIDDEN in sources[index]:
            cell.source = strip_hidden(sources[index])
        if cell.get("cell_type") != "code":
            continue
        errors = [sanitise_error(o, originals, index) for o in cell.get("outputs", [])
                  if o.get("output_type") == "error"]
        if _is_test_cell(originals[index]):
            status = {"output_type": "stream", "name": "stdout", "text": _status(cell, failed=bool(errors))}
            cell.outputs = [nbformat.from_dict(o) for o in [status, *errors]]
        else:
            cell.outputs = [nbformat.from_dict(sanitise_error(o, originals, index))
                            if o.get("output_type") == "error" else o for o in cell.outputs]
    return nb


@functools.cache
def _preprocessor_class() -> type:
    """The nbconvert preprocessor class, built on first use: nbconvert is a dev extra of the package."""
    from nbconvert.preprocessors import Preprocessor  # dev extra; only nbgrader's process loads this
    from traitlets import Bool  # comes with nbconvert

    class HideHiddenTests(Preprocessor):
        """Feedback without hidden tests (``sslcourse.course.feedback.sanitise_notebook``)."""

        enabled = Bool(True).tag(config=True)

        def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
            return sanitise_notebook(nb), resources

    HideHiddenTests.__qualname__ = "HideHiddenTests"  # the name nbgrader's config and help show
    return HideHiddenTests


def __getattr__(name: str) -> Any:
    """``sslcourse.course.feedback.HideHiddenTests``, the name nbgrader's config imports."""
    if name == "HideHiddenTests":
        return _preprocessor_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def generate_feedback(root: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """`nbgrader generate_feedback NAME --force ARGS` in `root`, with the hidden tests hidden.

    The preprocessors are given on the command line, so this holds even when the course's
    nbgrader_config.py lacks them. The caller reads the returned process (nbgrader's output).
    """
    listed = ",".join(f'"{p}"' for p in FEEDBACK_PREPROCESSORS)
    return _nbgrader(root, "generate_feedback", name, "--force", *args,
                     f"--GenerateFeedback.preprocessors=[{listed}]", check=False)
