"""Every assignment in solutions/ (and the fixture one) is checked here automatically.

- the committed exercises/ is what `make release` generates now (not stale);
- the release holds no solution code and no hidden-test text;
- the solution notebook, submitted as is, autogrades to full marks;
- the blank release, submitted as is, autogrades to 0 without crashing the run.

One autograde run serves the whole class (all assignments, two students), so each notebook is
executed once.
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, all_assignments, make_course, real_assignments
from sslcourse import course

pytestmark = pytest.mark.xdist_group("grading")


def _cells(path):
    nb = json.loads(path.read_text())
    return [(c["cell_type"], c["source"] if isinstance(c["source"], str) else "".join(c["source"]),
             c.get("metadata", {}).get("nbgrader")) for c in nb["cells"]]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("release"), all_assignments())
    course.release(root)
    return root


@pytest.fixture(scope="module")
def graded(released):
    submitted = released / "submitted"
    for name in all_assignments():
        shutil.copytree(released / "solutions" / name, submitted / "perfect-student" / name)
        shutil.copytree(released / "exercises" / name, submitted / "blank-student" / name)
    grades = course.autograde(released, feedback=False, budget_s=0)  # the class is the solution itself: no budget to time
    return {(g.student, g.assignment): g for g in grades}


@pytest.mark.parametrize("name", real_assignments())
def test_committed_exercises_are_not_stale(name, released):
    fresh = sorted((released / "exercises" / name).glob("*.ipynb"))
    committed = sorted((ROOT / "exercises" / name).glob("*.ipynb"))
    assert [p.name for p in committed] == [p.name for p in fresh], f"exercises/{name} is missing notebooks"
    for new, old in zip(fresh, committed):
        assert _cells(old) == _cells(new), f"exercises/{name}/{old.name} is stale: run `make release`"


@pytest.mark.parametrize("name", all_assignments())
def test_release_holds_no_answers(name, released):
    """No line that the source notebook has only inside a solution or hidden-test block is released."""
    answer_lines, public_lines = set(), set()
    for nb in (released / "solutions" / name).glob("*.ipynb"):
        for kind, source, meta in _cells(nb):
            if kind == "markdown" and meta and meta.get("solution"):
                answer_lines.add(source.strip())  # a model answer to a free-text question
                continue
            inside = False
            for line in source.splitlines():
                if "### BEGIN SOLUTION" in line or "### BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "### END SOLUTION" in line or "### END HIDDEN TESTS" in line:
                    inside = False
                else:
                    (answer_lines if inside else public_lines).add(line.strip())
    secret = {line for line in answer_lines - public_lines if len(line) > 12}
    for nb in (released / "exercises" / name).glob("*.ipynb"):
        assert course.leaked_answers(nb) == []
        released_lines = {line.strip() for _, source, _ in _cells(nb) for line in source.splitlines()}
        released_lines |= {source.strip() for _, source, _ in _cells(nb)}
        leaked = sorted(secret & released_lines)
        assert not leaked, f"{nb.name} releases solution or hidden-test lines: {leaked[:3]}"


@pytest.mark.parametrize("name", all_assignments())
def test_solution_autogrades_to_full_marks(name, graded):
    g = graded["perfect-student", name]
    assert g.score is not None, f"the solution of {name} was not graded: {g.reason}"
    assert g.max_score >= (5 if name == "00_fixture" else 10)
    assert g.score == g.max_score, f"the solution of {name} scores {g.score}/{g.max_score}"


@pytest.mark.parametrize("name", all_assignments())
def test_blank_release_autogrades_to_zero(name, graded):
    g = graded["blank-student", name]
    assert g.score == 0, f"the blank release of {name} scores {g.score} ({g.reason})"
