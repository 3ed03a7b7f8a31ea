"""Reports: the grade of each (student, assignment), the grades CSV, and the table a TA reads."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from sslcourse.utils import atomic_write

# Not "grades.csv": `nbgrader export`, which TAs run for the final grades, writes that file in the
# course folder and would overwrite these rows and their reasons.
GRADES_CSV = "autograde-grades.csv"


@dataclass
class Grade:
    """One row of the grade table: a student's result on one assignment."""

    student: str
    assignment: str
    score: float | None  # autograded points (None: not graded)
    max_score: float  # autograded points available
    manual_pending: float  # points of free-text answers still to be graded by hand
    reason: str = ""  # one line when something went wrong (or was repaired)


CSV_COLUMNS = ["student", "assignment", "autograded_score", "autograded_max", "hand_graded_max", "total_max", "reason"]


def write_grades_csv(grades: list[Grade], path: str | os.PathLike) -> None:
    """The grades CSV (``GRADES_CSV``): one row per (student, assignment), written atomically.

    ``autograded_score`` / ``autograded_max`` are what the autograder gave; ``hand_graded_max`` the
    points of free-text answers still to grade in formgrader; ``total_max`` (their sum) is the
    total the student's feedback page is out of.
    """
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for g in grades:
                writer.writerow([g.student, g.assignment, "" if g.score is None else g.score,
                                 g.max_score, g.manual_pending, g.max_score + g.manual_pending, g.reason])


def merge_grades_csv(paths: list[str | os.PathLike], out: str | os.PathLike) -> list[Grade]:
    """Merge the grades CSVs of several shards (e.g. a Slurm array) into one; a later file wins a tie."""
    rows: dict[tuple[str, str], Grade] = {}
    for path in paths:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                rows[r["student"], r["assignment"]] = Grade(
                    r["student"], r["assignment"], float(r["autograded_score"]) if r["autograded_score"] else None,
                    float(r["autograded_max"]), float(r["hand_graded_max"]), r["reason"])
    grades = [rows[k] for k in sorted(rows)]
    write_grades_csv(grades, out)
    return grades


def grade_table(grades: list[Grade]) -> str:
    """A plain-text table: students x assignments, autograded score / max, '*' = free text to grade.

    Below it, one line per (student, assignment) with a reason: what failed or was repaired; an
    assignment that no student submitted gets one line in all.
    """
    names = sorted({g.assignment for g in grades})
    students = sorted({g.student for g in grades})
    cell = {(g.student, g.assignment): g for g in grades}

    def fmt(g: Grade | None) -> str:
        if g is None or g.score is None:
            return "-"
        return f"{g.score:g}/{g.max_score:g}" + ("*" if g.manual_pending else "")

    rows = [["student", *names]] + [[s, *(fmt(cell.get((s, n))) for n in names)] for s in students]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    # an assignment that nobody submitted is one line, not one "no submission" per student
    nobody = [n for n in names if all(g.score is None and g.reason == "no submission"
                                      for g in grades if g.assignment == n)]
    problems = [f"  {n}: no submission from any of the {len(students)} students" for n in nobody]
    problems += [f"  {g.student} / {g.assignment}: {g.reason}" for g in grades if g.reason and g.assignment not in nobody]
    legend = "autograded points / available; * = free-text answers still to grade by hand in formgrader"
    return "\n".join(lines + [legend] + (["problems:"] + problems if problems else []))
