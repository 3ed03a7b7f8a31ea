"""Feedback never shows hidden tests (sslcourse.course.feedback): what a student's HTML may contain.

The sanitiser on a hand-made notebook (no kernel), then a graded class of the fixture assignment
(two students, `--jobs 2` so each is its own shard and the feedback is merged): the HTML has each test
cell's name, points, pass or fail and the student's own error, and no line of any hidden test,
no test-cell source around the failing line, no frame of the `sslcourse` package. The same holds
when the TA regenerates the feedback with a plain `nbgrader generate_feedback` (the course config).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import ROOT, make_course
from mutants import grade_cells
from mutants.faults import replace_function, write
from sslcourse import course
from sslcourse.course import feedback

NAME = "00_fixture"
RED, GREEN, RESET = "\x1b[31m", "\x1b[32m", "\x1b[39m"


def _grade_meta(gid: str, points: float | None = None, solution: bool = False) -> dict:
    meta = {"grade_id": gid, "grade": points is not None, "solution": solution, "locked": not solution,
            "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _hand_made_notebook():
    """A setup cell, the student's answer and a test cell that failed inside the answer, IPython-style."""
    test_source = ("assert f(1) == 2\n"
                   "### BEGIN HIDDEN TESTS\n"
                   "reference = lambda x: SECRET_REFERENCE_FORMULA(x)\n"
                   "assert f(5) == reference(5)\n"
                   "### END HIDDEN TESTS")
    traceback = [
        f"{RED}-----------------------------------------------------------{RESET}",
        f"{RED}ValueError{RESET}                 Traceback (most recent call last)",
        # the test cell's frame: IPython quotes the cell around the line, hidden tests included
        f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m{GREEN}In[3]{RESET}{GREEN}, line 4{RESET}\n"
        f"{GREEN}      3{RESET} reference = lambda x: SECRET_REFERENCE_FORMULA(x)\n"
        f"{GREEN}----> 4{RESET} assert f(5) == reference(5)\n",
        # the student's frame
        f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m{GREEN}In[2]{RESET}{GREEN}, line 3{RESET}, in f(x)\n"
        f"{GREEN}      2{RESET}     if x > 2:\n"
        f"{GREEN}----> 3{RESET}         raise ValueError('x too big: %d' % x)\n",
        # a frame of the grader's package
        f"\x1b[36mFile \x1b[39m{GREEN}/site/sslcourse/grading.py:66{RESET}, in forbid_calls()\n"
        f"{GREEN}---> 66{RESET}     PACKAGE_REFERENCE_LINE\n",
        f"{RED}ValueError{RESET}: x too big: 5",
    ]
    nb = new_notebook(cells=[
        new_markdown_cell("# Intro"),
        new_code_cell("import math", execution_count=1, metadata=_grade_meta("setup")),
        new_code_cell("def f(x):\n    if x > 2:\n        raise ValueError('x too big: %d' % x)\n    return x + 1",
                      execution_count=2, metadata=_grade_meta("answer", solution=True)),
        new_code_cell(test_source, execution_count=3, metadata=_grade_meta("test_f", points=2), outputs=[
            new_output("stream", name="stdout", text="printed by SECRET_REFERENCE_FORMULA\n"),
            new_output("error", ename="ValueError", evalue="x too big: 5", traceback=traceback)]),
    ])
    nb.cells[3].metadata.nbgrader.update(score=0.0)  # what nbgrader's GetGrades adds from the gradebook
    return nb


def _text(nb) -> str:
    return "\n".join([c.source for c in nb.cells] + [o.get("text", "") + "\n".join(o.get("traceback", []))
                                                      for c in nb.cells for o in c.get("outputs", [])])


def test_sanitiser_removes_hidden_tests_and_keeps_only_the_students_frames():
    nb = feedback.sanitise_notebook(_hand_made_notebook())
    nbformat.validate(nb)
    test = nb.cells[3]
    assert test.source == f"assert f(1) == 2\n{feedback.HIDDEN_PLACEHOLDER}"
    assert [o.output_type for o in test.outputs] == ["stream", "error"]
    assert test.outputs[0].text == "test_f: failed, 0 / 2 points\n"
    tb = "\n".join(test.outputs[1].traceback)
    assert "raised in the hidden tests of test_f (not shown)" in tb
    assert "raise ValueError('x too big: %d' % x)" in re.sub(r"\x1b\[[0-9;]*m", "", tb)  # the student's frame
    assert tb.endswith("ValueError: x too big: 5")
    everything = _text(nb)
    for secret in ("SECRET_REFERENCE_FORMULA", "reference(5)", "PACKAGE_REFERENCE_LINE", "sslcourse/", "BEGIN HIDDEN"):
        assert secret not in everything, secret
    assert nb.cells[1].source == "import math" and nb.cells[2].source.startswith("def f(x):")


def test_sanitiser_quotes_a_failing_visible_test_and_hides_an_unterminated_block():
    nb = _hand_made_notebook()
    error = nb.cells[3].outputs[1]
    error.traceback = [error.traceback[0], error.traceback[1],
                       f"Cell {GREEN}In[3]{RESET}, line 1\n----> 1 assert f(1) == 2\n      2 ### BEGIN HIDDEN TESTS\n",
                       "AssertionError: "]
    nb.cells[3].metadata.nbgrader.update(score=0.0)
    tb = "\n".join(feedback.sanitise_notebook(nb).cells[3].outputs[1].traceback)
    assert "raised by a visible test of test_f, line 1: assert f(1) == 2" in tb and "BEGIN HIDDEN" not in tb
    assert feedback.strip_hidden("a = 1\n    ### BEGIN HIDDEN TESTS\n    secret()\n") == \
        f"a = 1\n    {feedback.HIDDEN_PLACEHOLDER}"


def test_course_config_and_the_autograder_use_the_same_preprocessors():
    from traitlets.config import Config
    from traitlets.utils.importstring import import_item
    from nbconvert.preprocessors import Preprocessor

    c = Config()
    exec((ROOT / "nbgrader_config.py").read_text(), {"get_config": lambda: c})
    assert c.GenerateFeedback.preprocessors == feedback.FEEDBACK_PREPROCESSORS
    cls = import_item("sslcourse.course.feedback.HideHiddenTests")
    assert issubclass(cls, Preprocessor) and cls().enabled


# --------------------------------------------------------------------------- a graded class

WRONG_COSINE = ("def cosine(a, b):\n"
                "    if a.shape[0] > 2:  # passes the visible test, fails the hidden one\n"
                "        raise ValueError('only short vectors, got %d' % a.shape[0])\n"
                "    return (a @ b) / (a.norm() * b.norm())\n")
CALLS_THE_PACKAGE = ("import sslcourse.utils\n\n\n"
                     "def mean_of_squares(x):\n"
                     "    sslcourse.utils.to_float_images(x)  # the package: the integrity check fails\n"
                     "    return (x * x).mean()\n")


def _visible_text(page: str) -> str:
    """What a browser shows of a feedback page: no styles or scripts, no tags, entities unescaped."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _hidden_lines(nb: dict) -> list[str]:
    """The non-trivial lines of every hidden-test block of a source notebook.

    A line that also appears outside the hidden blocks (``return out`` in a solution) is left out:
    the real assignments have a few; the fixture has none.
    """
    hidden, shown = [], set()
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        numbers = feedback.hidden_line_numbers(source)
        for i, ln in enumerate(source.split("\n"), start=1):
            (hidden.append if i in numbers else shown.add)(ln.strip())
    return [ln for ln in hidden if len(ln) >= 8 and "HIDDEN TESTS" not in ln and ln not in shown]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("feedback"), [NAME])
    course.release(root)
    sol = json.loads((root / "solutions" / NAME / f"{NAME}.ipynb").read_text())
    wrong = replace_function(replace_function(sol, "cosine", WRONG_COSINE), "mean_of_squares", CALLS_THE_PACKAGE)
    write(root / "submitted" / "correct" / NAME, sol, f"{NAME}.ipynb")
    write(root / "submitted" / "wrong" / NAME, wrong, f"{NAME}.ipynb")
    grades = course.autograde(root, jobs=2, timeout=30, progress=False)
    return root, sol, {g.student: g for g in grades}


def _page(root, student) -> str:
    return _visible_text((root / "feedback" / student / NAME / f"{NAME}.html").read_text())


def _assert_nothing_hidden(page: str, sol: dict) -> None:
    hidden = _hidden_lines(sol)
    assert len(hidden) >= 6, hidden  # the check has something to find
    leaked = [ln for ln in hidden if ln in page]
    assert not leaked, f"hidden-test lines in the feedback: {leaked}"
    assert "sslcourse/" not in page and "grading.py" not in page, "a frame of the grader's package"
    assert "HIDDEN TESTS" not in page and feedback.HIDDEN_PLACEHOLDER in page


def _assert_wrong_students_feedback(page: str) -> None:
    assert "test_mean_of_squares: failed, 0 / 3 points" in page and "test_cosine: failed, 0 / 2 points" in page
    assert "ValueError: only short vectors, got 16" in page
    assert "raise ValueError('only short vectors, got %d' % a.shape[0])" in page  # their own frame
    assert "AssertionError: integrity check: your function called the course's reference implementation" in page
    assert "raised in the hidden tests of test_cosine (not shown)" in page
    assert "assert torch.isclose(cosine(torch.tensor([1.0, 0.0])" in page  # the visible test stays


@pytest.mark.xdist_group("grading")
def test_feedback_shows_names_points_and_own_errors_but_no_hidden_test(graded):
    root, sol, grades = graded
    assert (grades["correct"].score, grades["wrong"].score) == (5, 0)
    for student in ("correct", "wrong"):
        _assert_nothing_hidden(_page(root, student), sol)
    correct = _page(root, "correct")
    for _, gid, points in grade_cells(sol):
        assert f"{gid}: passed, {points:g} / {points:g} points" in correct
    _assert_wrong_students_feedback(_page(root, "wrong"))
    autograded = (root / "autograded" / "wrong" / NAME / f"{NAME}.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" in autograded, "the TA's autograded copy keeps the hidden tests"


@pytest.mark.xdist_group("grading")
def test_feedback_regenerated_by_the_ta_with_plain_nbgrader_hides_them_too(graded):
    root, sol, _ = graded
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", NAME, "--force",
                           "--CourseDirectory.student_id=wrong"], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = _page(root, "wrong")
    _assert_nothing_hidden(page, sol)
    _assert_wrong_students_feedback(page)
