"""The whole demo (`make course`): release, lectures, a graded demo class, the course site (build/index.html)."""
from __future__ import annotations

import html
import os
import shutil
import time
from pathlib import Path

from sslcourse.course.common import CourseError, _course_root, assignments
from sslcourse.course.release import release
from sslcourse.course.render import render
from sslcourse.course.report import GRADES_CSV, Grade, grade_table
from sslcourse.course.schedule import autograde
from sslcourse.course.site import build_site, rendered_lectures
from sslcourse.course.student import NAME as STUDENT_NAME, build_distribution
from sslcourse.utils import atomic_write


def build_course(root: str | os.PathLike = ".", lectures: bool = True, jobs: int = 1) -> Path:
    """`make course`: release, render the lectures, grade a demo class, build the course site.

    The demo class has two students per assignment: `perfect-student` submits the solution notebook
    and must get full autograded marks; `blank-student` submits the untouched release and must get 0.
    """
    root = _course_root(root)
    names = assignments(root)
    release(root, names)
    rendered = render(root=root, out=root / "build" / "lectures") if lectures else []
    distribution = build_distribution(root)  # after the lectures: they are part of it

    demo = root / "build" / "grading-demo"
    if demo.exists():
        shutil.rmtree(demo)
    (demo / "submitted").mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", demo / "nbgrader_config.py")
    for name in names:
        for student, folder in (("perfect-student", "solutions"), ("blank-student", "exercises")):
            dst = demo / "submitted" / student / name
            shutil.copytree(root / folder / name, dst)
    # budget_s=0: the demo's submissions are the solution and the blank release, nothing to stop early
    grades = autograde(demo, names=names, source=str(root / "solutions"), jobs=jobs, budget_s=0)
    table = grade_table(grades)
    if rendered_lectures(root / "build" / "lectures"):  # the site links the grades, so it comes last
        index = build_site(root / "build")
    else:  # no lecture rendered yet (--skip-lectures on a fresh clone): a plain index of the rest
        index = write_index(root / "build", rendered, names, grades, table)
    print(table)
    bad = [g for g in grades if (g.student == "perfect-student") != (g.score == g.max_score) or g.score is None]
    print(f"\ncourse built: {index}")
    decks = sum(p.name.endswith(".slides.html") for p in rendered)
    print(f"  {len(names)} assignments released to exercises/, {decks} lectures rendered, "
          f"student distribution {distribution}.zip, grade report in {demo / GRADES_CSV}")
    if bad:
        raise CourseError("demo grading is wrong for: " + ", ".join(f"{g.student}/{g.assignment}" for g in bad))
    return index


def write_index(build: Path, rendered: list[Path], names: list[str], grades: list[Grade], table: str) -> Path:
    """A plain build/index.html linking the rendered lectures, the exercises and the demo grade report
    (where there is no rendered lecture to build the course site from, ``site.build_site``)."""
    def link(path: Path) -> str:
        rel = os.path.relpath(path, build)
        return f'<a href="{html.escape(rel)}">{html.escape(path.name)}</a>'

    released = build / "student" / STUDENT_NAME / "exercises"  # inside build/: the folder can be published as is
    lecture_items = "".join(f"<li>{link(p)}</li>" for p in rendered) or "<li>(lectures not rendered)</li>"
    exercise_items = "".join(
        f"<li>{html.escape(n)}: {', '.join(link(p) for p in sorted(released.joinpath(n).glob('*.ipynb')))}</li>"
        for n in names)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>sslcourse</title></head><body>
<h1>Self-supervised learning: the course</h1>
<h2>Lectures</h2><ul>{lecture_items}</ul>
<h2>Exercises (student release)</h2><ul>{exercise_items}</ul>
<p>What students get: <a href="student/{STUDENT_NAME}.zip">{STUDENT_NAME}.zip</a> (exercises, the package with the
graded functions stubbed, the rendered lectures; see its README.md).</p>
<h2>Demo grading</h2><pre>{html.escape(table)}</pre>
<p>Built {time.strftime('%Y-%m-%d %H:%M')}.</p></body></html>"""
    with atomic_write(build / "index.html") as tmp:
        tmp.write_text(page)
    return build / "index.html"
