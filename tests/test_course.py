"""The course pipeline on the fixture assignment: release, bad input, zips, the demo build."""

from __future__ import annotations

import re
import zipfile

import pytest

from conftest import make_course
from sslcourse import course
from sslcourse.course.common import _gid as grade_id
from sslcourse.course.staging import _stage as stage


def test_release_strips_solutions_and_hidden_tests(tmp_path):
    root = make_course(tmp_path / "c", ["00_fixture"])
    (released,) = course.release(root)
    assert released == root / "exercises" / "00_fixture" / "00_fixture.ipynb"
    text = released.read_text()
    assert course.leaked_answers(released) == []
    assert "(x * x).mean()" not in text and "forbid_calls" not in text
    assert "raise NotImplementedError()" in text


def test_invalid_and_missing_notebooks_give_one_clear_line(tmp_path):
    root = make_course(tmp_path / "c", ["00_fixture"])
    (root / "solutions" / "00_fixture" / "00_fixture.ipynb").write_text("{not json")
    with pytest.raises(course.CourseError, match="is not a valid notebook"):
        course.release(root)
    with pytest.raises(course.CourseError, match="does not exist"):
        course.read_notebook(tmp_path / "missing.ipynb")
    with pytest.raises(course.CourseError, match="no nbgrader_config.py"):
        course.release(tmp_path)


def test_collect_zips_unpacks_lms_exports_and_refuses_unsafe_paths(tmp_path):
    zips = tmp_path / "zips"
    zips.mkdir()
    with zipfile.ZipFile(zips / "alice_submission.zip", "w") as zf:
        zf.writestr("00_fixture/00_fixture.ipynb", "{}")
    with zipfile.ZipFile(zips / "bob.zip", "w") as zf:
        zf.writestr("00_fixture (1).ipynb", "{}")  # loose, renamed by the browser
        zf.writestr("__MACOSX/._junk.ipynb", "x")
    out = course.collect_zips(zips, tmp_path / "submitted", ["00_fixture"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in out) == [
        "submitted/alice/00_fixture/00_fixture.ipynb", "submitted/bob/00_fixture/00_fixture.ipynb"]
    with zipfile.ZipFile(zips / "eve.zip", "w") as zf:
        zf.writestr("../../00_fixture.ipynb", "{}")
    with pytest.raises(course.CourseError, match="unsafe path"):
        course.collect_zips(zips, tmp_path / "submitted", ["00_fixture"])
    (zips / "eve.zip").write_bytes(b"not a zip")
    with pytest.raises(course.CourseError, match="not a valid zip"):
        course.collect_zips(zips, tmp_path / "submitted", ["00_fixture"])


def test_grade_table_marks_pending_free_text_and_problems():
    grades = [course.Grade("ann", "01_a", 10.0, 10.0, 2.0), course.Grade("bo", "01_a", None, 10.0, 0.0, "no submission")]
    table = course.grade_table(grades)
    assert "10/10*" in table and "bo / 01_a: no submission" in table


def test_grade_table_reports_an_assignment_nobody_submitted_once():
    students = ["ann", "bo", "cy"]
    grades = [course.Grade(s, "01_a", 5.0, 5.0, 0.0) for s in students]
    grades += [course.Grade(s, "02_b", None, 8.0, 0.0, "no submission") for s in students]
    grades += [course.Grade("ann", "03_c", None, 4.0, 0.0, "no submission"), course.Grade("bo", "03_c", 4.0, 4.0, 0.0),
               course.Grade("cy", "03_c", 0.0, 4.0, 0.0, "kernel died (out of memory?)")]
    lines = course.grade_table(grades).splitlines()
    assert [line for line in lines if "02_b" in line and "submission" in line] == \
        ["  02_b: no submission from any of the 3 students"]
    assert "  ann / 03_c: no submission" in lines and "  cy / 03_c: kernel died (out of memory?)" in lines
    assert course.GRADES_CSV != "grades.csv", "nbgrader export writes grades.csv and would overwrite ours"


@pytest.mark.xdist_group("grading")
def test_build_course_on_the_fixture_writes_the_index(tmp_path, capsys):
    root = make_course(tmp_path / "c", ["00_fixture"])
    index = course.build_course(root, lectures=False)
    page = index.read_text()
    assert "00_fixture" in page and "perfect-student" in page
    links = re.findall(r'href="([^"]+)"', page)
    assert links and all(not link.startswith(("/", "..")) and (index.parent / link).is_file() for link in links), links
    out = capsys.readouterr().out
    assert "5/5*" in out and "0/5" in out
    grades = (root / "build" / "grading-demo" / course.GRADES_CSV).read_text().splitlines()
    assert grades[0].startswith("student,assignment,autograded_score,autograded_max,hand_graded_max,total_max") \
        and len(grades) == 3
    feedback = root / "build" / "grading-demo" / "feedback" / "perfect-student" / "00_fixture" / "00_fixture.html"
    row = dict(zip(grades[0].split(","), next(g for g in grades if g.startswith("perfect-student")).split(",")))
    assert float(row["total_max"]) == float(row["autograded_max"]) + float(row["hand_graded_max"]) > float(row["autograded_max"])
    # the feedback page's total ("Score: x / y") is out of the CSV's total_max, hand-graded points included
    totals = re.findall(r"Score:\s*[\d.]+\s*/\s*([\d.]+)", re.sub(r"<[^>]+>", " ", feedback.read_text()))
    assert totals and float(totals[0]) == float(row["total_max"]), totals


# --------------------------------------------------------------------------- staging (no kernel)


@pytest.fixture(scope="module")
def released_fixture(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("stage"), ["00_fixture"])
    course.release(root)
    release = {"00_fixture": course.read_notebook(root / "exercises" / "00_fixture" / "00_fixture.ipynb")}
    source = {"00_fixture": course.read_notebook(root / "solutions" / "00_fixture" / "00_fixture.ipynb")}
    return root, release, source


def test_staging_repairs_a_submission_into_the_release_shape(tmp_path, released_fixture):
    import json

    root, release, source = released_fixture
    sol = json.loads((root / "solutions" / "00_fixture" / "00_fixture.ipynb").read_text())
    sol["cells"] = [c for c in sol["cells"] if c["metadata"]["nbgrader"]["grade_id"] != "test_cosine"][::-1]
    sol["cells"].append({"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "made_up", "grade": True}},
                         "source": "x = 1", "outputs": [], "execution_count": None})
    src = tmp_path / "sub" / "ann" / "00_fixture"
    src.mkdir(parents=True)
    (src / "my copy.ipynb").write_text(json.dumps(sol))
    (src / "helper.py").write_text("import os")
    (src / ".DS_Store").write_text("")
    staged = stage(src, tmp_path / "staged", release, "ann", "00_fixture", source)
    reason = "; ".join(staged.notes)
    assert not staged.zero_reason
    assert "renamed notebook 'my copy.ipynb' graded as 00_fixture.ipynb" in reason
    assert "restored deleted cells: test_cosine" in reason and "restored the release order" in reason
    assert "removed nbgrader metadata the release does not have: made_up" in reason
    assert "ignored extra files: helper.py" in reason and "DS_Store" not in reason
    out = course.read_notebook(tmp_path / "staged" / "00_fixture.ipynb")
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in out.cells]
    expected = [grade_id(c) for c in release["00_fixture"].cells]
    assert [i for i in ids if i] == [i for i in expected if i]  # every tracked cell, release order
    assert not (tmp_path / "staged" / "helper.py").exists()


@pytest.mark.parametrize("files, words", [
    ({}, "empty submission folder"),
    ({"notes.txt": "hi"}, "no notebook in the submission (found notes.txt)"),
    ({"00_fixture.ipynb": "{not json"}, "00_fixture.ipynb is not valid JSON (line 1, column 2"),
    ({"00_fixture.ipynb": "[1, 2]"}, "00_fixture.ipynb is JSON but not a Jupyter notebook"),
])
def test_ungradable_submissions_get_a_one_line_reason(tmp_path, released_fixture, files, words):
    root, release, source = released_fixture
    src = tmp_path / "sub"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    staged = stage(src, tmp_path / "staged", release, "bo", "00_fixture", source)
    assert words in staged.zero_reason and "\n" not in staged.zero_reason


def test_merge_grades_csv_joins_shard_exports(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    course.write_grades_csv([course.Grade("ann", "01_a", 3.0, 5.0, 1.0)], a)
    course.write_grades_csv([course.Grade("bo", "01_a", None, 5.0, 0.0, "no submission"),
                             course.Grade("ann", "01_a", 4.0, 5.0, 0.0)], b)
    merged = course.merge_grades_csv([a, b], tmp_path / "all.csv")
    assert [(g.student, g.score, g.reason) for g in merged] == [("ann", 4.0, ""), ("bo", None, "no submission")]
    assert (tmp_path / "all.csv").read_text().count("\n") == 3
