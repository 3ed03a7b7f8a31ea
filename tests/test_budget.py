"""One looping submission cannot hold the class up: a time budget per submission, from the solution's time.

autograde first grades each assignment's solution alone and gives every submission
max(min_budget_s, budget_factor x that time) in all. A cell gets at most what is left of the
budget; once it is spent the remaining cells are not run and score 0, with a reason line, and the
other students are graded as before.
"""
from __future__ import annotations

import copy
import json
import shutil

import pytest

from conftest import make_course
from mutants import graded_functions
from sslcourse import course

pytestmark = pytest.mark.xdist_group("grading")
FIXTURE = "00_fixture"


@pytest.mark.slow
def test_a_looping_submission_stops_at_its_budget_and_the_class_goes_on(tmp_path):
    root = make_course(tmp_path, [FIXTURE])
    course.release(root)
    solution = json.loads((root / "solutions" / FIXTURE / f"{FIXTURE}.ipynb").read_text())
    looping = copy.deepcopy(solution)
    looping["cells"][graded_functions(looping)["mean_of_squares"]]["source"] = \
        "def mean_of_squares(x):\n    while True:\n        pass\n"
    folder = root / "submitted" / "loop" / FIXTURE
    folder.mkdir(parents=True)
    (folder / f"{FIXTURE}.ipynb").write_text(json.dumps(looping))
    shutil.copytree(root / "solutions" / FIXTURE, root / "submitted" / "honest" / FIXTURE)

    grades = {g.student: g for g in course.autograde(root, timeout=600, budget_factor=4, min_budget_s=1,
                                                     progress=False, feedback=False)}
    log = (root / "autograde-logs" / f"{FIXTURE}-budget.txt").read_text()
    budget = float(log.rsplit("= ", 1)[1].split(" s")[0])
    assert "4 x the solution's" in log and budget >= 1

    assert grades["honest"].score == grades["honest"].max_score == 5 and not grades["honest"].reason
    loop = grades["loop"]
    assert loop.score == 0, loop  # test_mean_of_squares timed out at the budget, test_cosine never ran
    assert "used up its time budget" in loop.reason and "test_cosine" in loop.reason, loop.reason


def test_an_explicit_budget_skips_timing_the_solution(tmp_path):
    root = make_course(tmp_path, [FIXTURE])
    course.release(root)
    shutil.copytree(root / "solutions" / FIXTURE, root / "submitted" / "honest" / FIXTURE)
    grades = course.autograde(root, budget_s=300, progress=False, feedback=False)
    assert [g.score for g in grades] == [5]
    assert not list((root / "autograde-logs").glob("*-budget.txt"))
