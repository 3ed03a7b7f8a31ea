"""Parallel autograding: `sslcourse autograde --jobs 2` gives the serial scores, cell by cell; the same
submission graded twice gets the same score; shard courses merge into one gradebook.

The class: the fixture solution, the blank release and one submission per mutant of
tests/mutants/00_fixture.py (so the scores differ from student to student).
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from conftest import make_course
from mutants import graded_functions, load_mutants
from sslcourse import cli, course

pytestmark = pytest.mark.xdist_group("grading")

NAME = "00_fixture"


def _cell_scores(root, students):
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students:
            for nb in gb.find_submission(NAME, student).notebooks:
                for g in nb.grades:
                    out[student, g.name] = (g.auto_score, g.needs_manual_grade)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("parallel"), [NAME])
    course.release(root)
    sol = json.loads((root / "solutions" / NAME / f"{NAME}.ipynb").read_text())
    fns = graded_functions(sol)
    students = {"perfect": sol, "blank": json.loads((root / "exercises" / NAME / f"{NAME}.ipynb").read_text())}
    mutants, _ = load_mutants(NAME)
    for key in list(mutants)[::2]:  # every other mutant: both functions, four students
        nb = copy.deepcopy(sol)
        fn = next(f for f in fns if f"def {f}(" in mutants[key])
        nb["cells"][fns[fn]]["source"] = mutants[key].strip() + "\n"
        students[f"mutant-{key}"] = nb
    for student, nb in students.items():
        folder = root / "submitted" / student / NAME
        folder.mkdir(parents=True)
        (folder / f"{NAME}.ipynb").write_text(json.dumps(nb))
    serial = course.autograde(root, jobs=1, timeout=30, progress=False, feedback=False)
    first = _cell_scores(root, students)
    shutil.copy(root / course.GRADES_CSV, root / "grades-serial.csv")
    return root, sorted(students), serial, first


def test_parallel_jobs_give_the_serial_scores_cell_by_cell(runs, capsys):
    root, students, serial, first = runs
    rc = cli.main(["autograde", "--root", str(root), "--jobs", "2"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "autograde: 100%" in captured.err and f"{len(students)}/{len(students)}" in captured.err  # tqdm
    assert (root / course.GRADES_CSV).read_text() == (root / "grades-serial.csv").read_text()
    assert _cell_scores(root, students) == first
    scores = {g.student: g.score for g in serial}
    assert scores["perfect"] == 5 and scores["blank"] == 0
    assert all(0 < scores[s] < 5 for s in students if s.startswith("mutant-")), scores
    for student in students:  # the merged autograded notebooks and feedback are where formgrader looks
        assert (root / "autograded" / student / NAME / f"{NAME}.ipynb").is_file()
        assert (root / "feedback" / student / NAME / f"{NAME}.html").is_file()


def test_grading_the_same_submission_twice_gives_the_same_score(runs):
    root, students, serial, first = runs
    again = course.autograde(root, students=["perfect", "mutant-sum_not_mean"], jobs=1, timeout=30,
                             progress=False, feedback=False)
    assert {(g.student, g.score) for g in again} == {(g.student, g.score) for g in serial
                                                     if g.student in ("perfect", "mutant-sum_not_mean")}
    assert _cell_scores(root, students) == first


def test_shard_courses_merge_into_one_gradebook(runs, tmp_path):
    root, students, serial, first = runs
    main = make_course(tmp_path / "main", [NAME])
    course.release(main)
    merged = course.merge_course(root, main)
    assert sorted(merged) == [(s, NAME) for s in students]
    assert _cell_scores(main, students) == first
    assert (main / "autograded" / "perfect" / NAME / f"{NAME}.ipynb").is_file()
