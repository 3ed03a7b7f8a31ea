"""The course pipeline on the fixture assignment: release, bad input, zips, the demo build."""

from __future__ import annotations

import zipfile

import pytest

from conftest import make_course
from sslcourse import course


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


@pytest.mark.xdist_group("grading")
def test_build_course_on_the_fixture_writes_the_index(tmp_path, capsys):
    root = make_course(tmp_path / "c", ["00_fixture"])
    index = course.build_course(root, lectures=False)
    page = index.read_text()
    assert "00_fixture" in page and "perfect-student" in page
    out = capsys.readouterr().out
    assert "5/5*" in out and "0/5" in out
    grades = (root / "build" / "grading-demo" / "grades.csv").read_text().splitlines()
    assert grades[0].startswith("student,assignment,score") and len(grades) == 3
    assert (root / "build" / "grading-demo" / "feedback" / "perfect-student" / "00_fixture" / "00_fixture.html").is_file()
