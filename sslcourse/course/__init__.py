"""The course pipeline: release, autograde, render, and the whole demo (`make course`).

Thin wrappers around nbgrader and nbconvert, one module per job, each step a plain function:

    release.release(root)            solutions/NN_topic/ -> exercises/NN_topic/  (generate_assignment)
    student.build_distribution(root) build/student/: exercises, stubbed package wheel, lectures, zip
    leaks.find_leaks(build, root)    every answer line that reached a file of a build (should be none)
    collect.collect_zips(zips, dst)  LMS zip exports -> submitted/<student>/<assignment>/
    staging._stage(...)              one submission repaired into a notebook nbgrader can grade
    worker (python -m)               one `nbgrader autograde` process: memory cap, crash recovery
    schedule.autograde(root, jobs=N) submitted/ -> autograded/ + feedback/ + autograde-grades.csv, in shards
    schedule.merge_course(shard, root) a shard graded elsewhere (a job array) -> the main gradebook
    feedback.generate_feedback(...)  feedback/ HTML per student: names, points, own errors, no hidden test
    report.grade_table(grades)       autograde-grades.csv and the table a TA reads
    slides.apply_slide_rule(nb)      the documented rule that turns a lecture into a deck (render time)
    assets.copy_assets(build)        the pinned reveal.js/MathJax/... (npm) -> build/vendor/, for offline pages
    render.render(notebooks)         execute lecture notebooks, write HTML and reveal.js slides
    demo.build_course(root)          release + lectures + a demo class of two students + index.html

nbgrader runs in a subprocess (`python -m nbgrader ...`) in the course folder, so it reads the
course's nbgrader_config.py exactly as a TA's own `nbgrader` call would. The public functions
are re-exported here: ``from sslcourse import course; course.autograde(...)``.
"""
from sslcourse.course.collect import collect_zips
from sslcourse.course.common import SOLUTION_MARKERS, CourseError, assignments, read_notebook
from sslcourse.course.demo import build_course, write_index
from sslcourse.course.leaks import find_leaks
from sslcourse.course.release import leaked_answers, release
from sslcourse.course.render import execute_notebook, render
from sslcourse.course.report import GRADES_CSV, Grade, grade_table, merge_grades_csv, write_grades_csv
from sslcourse.course.schedule import DEFAULT_MEMORY_GB, DEFAULT_STUDENT_TIMEOUT, autograde, merge_course
from sslcourse.course.student import build_distribution

__all__ = ["SOLUTION_MARKERS", "CourseError", "assignments", "read_notebook", "release", "leaked_answers",
           "collect_zips", "autograde", "merge_course", "DEFAULT_MEMORY_GB", "DEFAULT_STUDENT_TIMEOUT", "Grade",
           "GRADES_CSV", "grade_table", "write_grades_csv", "merge_grades_csv", "execute_notebook", "render", "build_course",
           "write_index", "build_distribution", "find_leaks"]
