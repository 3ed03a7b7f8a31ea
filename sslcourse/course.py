"""The course pipeline: release, autograde, render, and the whole demo (`make course`).

Thin wrappers around nbgrader and nbconvert, each step a plain function:

    release(root)            solutions/NN_topic/ -> exercises/NN_topic/  (nbgrader generate_assignment)
    collect_zips(zips, dst)  LMS zip exports -> submitted/<student>/<assignment>/
    autograde(root)          submitted/ -> autograded/ + feedback/ + grades.csv + a table
    render(notebooks)        execute lecture notebooks, write HTML and reveal.js slides
    build_course(root)       release + lectures + a demo class of two students + build/index.html

nbgrader runs in a subprocess (`python -m nbgrader ...`) in the course folder, so it reads the
course's nbgrader_config.py exactly as a TA's own `nbgrader` call would.
"""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sslcourse.utils import atomic_write

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class CourseError(Exception):
    """A course step failed for a reason the user can fix; the message says what and how."""


# --------------------------------------------------------------------------- helpers


def _course_root(root: str | os.PathLike) -> Path:
    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise CourseError(f"{root} has no nbgrader_config.py; run this from the course folder or pass --root")
    return root


def _nbgrader(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m nbgrader ARGS` in the course folder; raise CourseError with its last error line."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    # nbgrader calls the `alembic` script of its environment: put this interpreter's bin/ first on PATH.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise CourseError(f"`nbgrader {' '.join(args)}` failed: {_last_error(proc.stdout + proc.stderr)}")
    return proc


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    exceptions = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", ln)]
    errors = [ln for ln in lines if "ERROR" in ln and "see the the above" not in ln and "see the above" not in ln]
    return (exceptions or errors or lines or ["(no output)"])[-1][:300]


def read_notebook(path: str | os.PathLike):
    """Read and validate a notebook; a clear CourseError for a missing or invalid file."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise CourseError(f"notebook {path} does not exist; check the path (or run `make release`)")
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # nbformat raises several kinds (JSON, schema)
        raise CourseError(f"notebook {path} is not a valid notebook ({type(err).__name__}); "
                          "restore it from git or re-save it in JupyterLab") from None
    return nb


def assignments(root: str | os.PathLike = ".", source: str = "solutions") -> list[str]:
    """Names of the assignments: the folders of solutions/ that hold a notebook."""
    src = Path(root) / source
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if src.is_dir() else []


# --------------------------------------------------------------------------- release


def release(root: str | os.PathLike = ".", names: list[str] | None = None,
            release_dir: str | None = None) -> list[Path]:
    """Regenerate the student release of each assignment with nbgrader generate_assignment.

    Solutions are replaced by stubs, hidden tests removed, outputs cleared; the assignment and its
    source cells are recorded in the gradebook (which autograde needs to restore hidden tests).
    """
    root = _course_root(root)
    names = names or assignments(root)
    if not names:
        raise CourseError(f"no assignments found in {root / 'solutions'}")
    extra = [f"--CourseDirectory.release_directory={release_dir}"] if release_dir else []
    written = []
    for name in names:
        src = root / "solutions" / name
        notebooks = sorted(src.glob("*.ipynb"))
        if not notebooks:
            raise CourseError(f"assignment {name!r} has no notebook in {src}")
        for nb in notebooks:
            read_notebook(nb)
        _nbgrader(root, "generate_assignment", name, "--force", *extra, "--log-level=WARN")
        out = Path(release_dir) if release_dir else root / "exercises"
        written += sorted((out if out.is_absolute() else root / out).joinpath(name).glob("*.ipynb"))
    return written


def leaked_answers(notebook: str | os.PathLike) -> list[str]:
    """Lines of a released notebook that look like solution code or hidden tests (should be none)."""
    nb = read_notebook(notebook)
    return [line for cell in nb.cells for line in cell.source.splitlines()
            if any(marker in line for marker in SOLUTION_MARKERS)]


# --------------------------------------------------------------------------- collect


def collect_zips(zips: str | os.PathLike, submitted: str | os.PathLike, names: list[str]) -> list[Path]:
    """Unpack LMS exports into submitted/<student>/<assignment>/.

    A zip named `<student>.zip` or `<student>_<anything>.zip` holds that student's notebooks, either
    inside an `<assignment>/` folder or loose (then the notebook's file name picks the assignment).
    Unsafe member paths (absolute, `..`) are refused.
    """
    zips, submitted = Path(zips), Path(submitted)
    if not zips.is_dir():
        raise CourseError(f"zip folder {zips} does not exist")
    out = []
    for archive in sorted(zips.glob("*.zip")):
        student = re.split(r"[_\s]", archive.stem, maxsplit=1)[0]
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    parts = Path(member).parts
                    if member.endswith("/") or not member.endswith(".ipynb") or "__MACOSX" in parts:
                        continue
                    if Path(member).is_absolute() or ".." in parts:
                        raise CourseError(f"{archive.name}: unsafe path {member!r} in the zip")
                    stem = Path(member).stem
                    assignment = next((p for p in parts[:-1] if p in names), None) or \
                        next((n for n in names if stem == n or stem.startswith(n)), None)
                    if assignment is None:
                        continue
                    dest = submitted / student / assignment / f"{assignment}.ipynb"
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_write(dest) as tmp:
                        tmp.write_bytes(zf.read(member))
                    out.append(dest)
        except zipfile.BadZipFile:
            raise CourseError(f"{archive} is not a valid zip file; ask the student to resubmit") from None
    return out


# --------------------------------------------------------------------------- autograde


@dataclass
class Grade:
    """One row of the grade table: a student's result on one assignment."""

    student: str
    assignment: str
    score: float | None  # autograded points (None: not graded)
    max_score: float  # autograded points available
    manual_pending: float  # points of free-text answers still to be graded by hand
    reason: str = ""  # one line when something went wrong


def _students(submitted: Path) -> list[str]:
    return sorted(p.name for p in submitted.iterdir() if p.is_dir()) if submitted.is_dir() else []


def autograde(root: str | os.PathLike = ".", submitted: str | os.PathLike | None = None,
              students: list[str] | None = None, names: list[str] | None = None,
              out: str | os.PathLike | None = None, source: str | None = None,
              feedback: bool = True) -> list[Grade]:
    """Autograde every submission in submitted/<student>/<assignment>/ against the hidden tests.

    Writes autograded/ and feedback/ (HTML per student) in the course folder and grades.csv in
    `out`; returns one Grade per (student, assignment).
    """
    root = _course_root(root)
    submitted = Path(submitted).resolve() if submitted else root / "submitted"
    out = Path(out).resolve() if out else root
    extra = [f"--CourseDirectory.submitted_directory={submitted}"]
    if source:
        extra.append(f"--CourseDirectory.source_directory={source}")
    names = names or assignments(root, source or "solutions")
    students = students or _students(submitted)
    if not students:
        raise CourseError(f"no submissions in {submitted}; expected {submitted}/<student>/<assignment>/*.ipynb")

    # Record each assignment's source cells in the gradebook without touching exercises/.
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            _nbgrader(root, "generate_assignment", name, "--force", *extra,
                      f"--CourseDirectory.release_directory={scratch}", "--log-level=WARN")

    reasons: dict[tuple[str, str], str] = {}
    for name in names:
        for student in students:
            if not (submitted / student / name).is_dir():
                continue
            proc = _nbgrader(root, "autograde", name, f"--student={student}", "--force", "--create",
                             *extra, check=False)
            if proc.returncode != 0:
                reasons[student, name] = _last_error(proc.stdout + proc.stderr)
        if feedback:
            _nbgrader(root, "generate_feedback", name, "--force", *extra, check=False)

    grades = _read_gradebook(root, students, names, reasons)
    out.mkdir(parents=True, exist_ok=True)
    write_grades_csv(grades, out / "grades.csv")
    return grades


def _read_gradebook(root: Path, students: list[str], names: list[str],
                    reasons: dict[tuple[str, str], str]) -> list[Grade]:
    from nbgrader.api import Gradebook, MissingEntry

    grades = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students:
            for name in names:
                try:
                    sub = gb.find_submission(name, student)
                    max_code = float(sub.max_code_score)
                    pending = float(sub.max_written_score) if sub.needs_manual_grade else 0.0
                    grades.append(Grade(student, name, float(sub.code_score), max_code, pending,
                                        reasons.get((student, name), "")))
                except MissingEntry:
                    try:
                        max_code = float(gb.find_assignment(name).max_code_score)
                    except MissingEntry:
                        max_code = 0.0
                    reason = reasons.get((student, name), "no submission")
                    grades.append(Grade(student, name, None, max_code, 0.0, reason))
    return grades


def write_grades_csv(grades: list[Grade], path: str | os.PathLike) -> None:
    """grades.csv: one row per (student, assignment), written atomically."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["student", "assignment", "score", "max_score", "manual_pending", "reason"])
            for g in grades:
                writer.writerow([g.student, g.assignment, "" if g.score is None else g.score,
                                 g.max_score, g.manual_pending, g.reason])


def grade_table(grades: list[Grade]) -> str:
    """A plain-text table: students x assignments, autograded score / max, '*' = free text to grade."""
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
    problems = [f"  {g.student} / {g.assignment}: {g.reason}" for g in grades if g.reason]
    legend = "autograded points / available; * = free-text answers still to grade by hand in formgrader"
    return "\n".join(lines + [legend] + (["problems:"] + problems if problems else []))


def autograde_cli(args) -> None:
    """`sslcourse autograde`: collect zips if asked, grade, print the table."""
    root = _course_root(args.root)
    submitted = Path(args.submitted).resolve() if args.submitted else root / "submitted"
    names = args.assignments or assignments(root)
    if args.zips:
        collect_zips(args.zips, submitted, names)
    grades = autograde(root, submitted, students=args.students, names=names, out=args.out)
    print(grade_table(grades))
    print(f"grades written to {(Path(args.out) if args.out else root) / 'grades.csv'}; "
          f"feedback in {root / 'feedback'}")


# --------------------------------------------------------------------------- render


def execute_notebook(path: str | os.PathLike, timeout: int = 600, env: dict | None = None):
    """Execute a notebook top to bottom in its own folder; return the executed notebook (not saved)."""
    from nbclient import NotebookClient

    nb = read_notebook(path)
    old_env = dict(os.environ)
    os.environ.update(env or {})
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent.resolve())}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    return nb


def render(notebooks: list[str] | None = None, out: str | os.PathLike = "build/lectures",
           execute: bool = True, root: str | os.PathLike = ".") -> list[Path]:
    """Execute lecture notebooks and write NAME.ipynb (with outputs), NAME.html and NAME.slides.html."""
    import nbformat
    from nbconvert import HTMLExporter, SlidesExporter

    paths = [Path(p) for p in notebooks] if notebooks else sorted((Path(root) / "lectures").glob("*.ipynb"))
    if not paths:
        raise CourseError("no lecture notebooks found in lectures/")
    out = Path(out)
    written = []
    for path in paths:
        start = time.time()
        nb = execute_notebook(path) if execute else read_notebook(path)
        for exporter, suffix in ((HTMLExporter(), ".html"), (SlidesExporter(), ".slides.html")):
            body, _ = exporter.from_notebook_node(nb)
            with atomic_write(out / f"{path.stem}{suffix}") as tmp:
                tmp.write_text(body)
            written.append(out / f"{path.stem}{suffix}")
        with atomic_write(out / path.name) as tmp:
            nbformat.write(nb, str(tmp))
        print(f"rendered {path.name} in {time.time() - start:.0f} s")
    return written


# --------------------------------------------------------------------------- the whole course


def build_course(root: str | os.PathLike = ".", lectures: bool = True, jobs: int = 1) -> Path:
    """`make course`: release, render the lectures, grade a demo class, write build/index.html.

    The demo class has two students per assignment: `perfect-student` submits the solution notebook
    and must get full autograded marks; `blank-student` submits the untouched release and must get 0.
    """
    root = _course_root(root)
    names = assignments(root)
    release(root, names)
    rendered = render(root=root, out=root / "build" / "lectures") if lectures else []

    demo = root / "build" / "grading-demo"
    if demo.exists():
        shutil.rmtree(demo)
    (demo / "submitted").mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", demo / "nbgrader_config.py")
    for name in names:
        for student, folder in (("perfect-student", "solutions"), ("blank-student", "exercises")):
            dst = demo / "submitted" / student / name
            shutil.copytree(root / folder / name, dst)
    grades = autograde(demo, names=names, source=str(root / "solutions"))
    table = grade_table(grades)
    index = write_index(root / "build", rendered, names, grades, table)
    print(table)
    bad = [g for g in grades if (g.student == "perfect-student") != (g.score == g.max_score) or g.score is None]
    print(f"\ncourse built: {index}")
    print(f"  {len(names)} assignments released to exercises/, {len(rendered) // 2} lectures rendered, "
          f"grade report in {demo / 'grades.csv'}")
    if bad:
        raise CourseError("demo grading is wrong for: " + ", ".join(f"{g.student}/{g.assignment}" for g in bad))
    return index


def write_index(build: Path, rendered: list[Path], names: list[str], grades: list[Grade], table: str) -> Path:
    """build/index.html linking the rendered lectures, the exercises and the demo grade report."""
    def link(path: Path) -> str:
        rel = os.path.relpath(path, build)
        return f'<a href="{html.escape(rel)}">{html.escape(path.name)}</a>'

    lecture_items = "".join(f"<li>{link(p)}</li>" for p in rendered) or "<li>(lectures not rendered)</li>"
    exercise_items = "".join(
        f"<li>{html.escape(n)}: {', '.join(link(p) for p in sorted((build.parent / 'exercises' / n).glob('*.ipynb')))}</li>"
        for n in names)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>sslcourse</title></head><body>
<h1>Self-supervised learning: the course</h1>
<h2>Lectures</h2><ul>{lecture_items}</ul>
<h2>Exercises (student release)</h2><ul>{exercise_items}</ul>
<h2>Demo grading</h2><pre>{html.escape(table)}</pre>
<p>Built {time.strftime('%Y-%m-%d %H:%M')}.</p></body></html>"""
    with atomic_write(build / "index.html") as tmp:
        tmp.write_text(page)
    return build / "index.html"
