"""Autograde a class: stage the submissions, grade them in parallel shards, merge the results.

How a class is graded (docs/grading.md tells the TA's side):

  1. the source cells of each assignment are recorded in the gradebook (generate_assignment into a
     scratch release, which also gives the release version of every cell);
  2. every submission is *staged* (``sslcourse.course.staging``);
  3. students are split into `jobs` shards; each shard is a scratch course folder with its own copy
     of the gradebook, graded by ONE `nbgrader autograde ASSIGNMENT` run for all its students
     (``python -m sslcourse.course.worker``: a memory cap and kernel-crash recovery); a watchdog
     stops a submission that runs past `student_timeout` and the batch goes on;
  4. each shard writes its students' feedback HTML, without the hidden tests
     (``sslcourse.course.feedback``);
  5. the shards' results (gradebook rows, autograded/ and feedback/ folders) are merged into the
     course folder; autograde-grades.csv and the table give each student a score and a one-line reason.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sslcourse.course.common import (BUDGET_USED, KERNEL_DIED, STUB_MARK, CourseError, _course_root, _gid, _last_error, _nbgrader, _rmtree,
                                     _short, _students, assignments, read_notebook)
from sslcourse.course import sandbox
from sslcourse.course.feedback import generate_feedback
from sslcourse.course.report import GRADES_CSV, Grade, write_grades_csv
from sslcourse.course.staging import _stage, _Staged


DEFAULT_MEMORY_GB = 4.0


DEFAULT_STUDENT_TIMEOUT = 900.0
# The time one submission may take in all: BUDGET_FACTOR x the solution's own grading time, at least
# MIN_BUDGET_S (the solution is graded once per assignment at the start of a run to measure it).
BUDGET_FACTOR, MIN_BUDGET_S = 5.0, 120.0
SOLUTION_STUDENT = "__solution__"


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (kernels run in their own session, so killpg misses them)."""
    import signal

    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _grading_env(threads: int = 1) -> dict:
    """Environment of the grading processes: CPU only, one thread per job, this interpreter on PATH."""
    return dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                MPLBACKEND="Agg", PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1")


# What a submission meets when it reaches for what grading hides (sandbox.py): a file that is not
# there or not writable, a network that does not exist, a reference body that is a stub.
SANDBOX_ERRORS = {"PermissionError", "FileNotFoundError", "ConnectionRefusedError", "ConnectionError",
                  "OSError", "ProcessLookupError", "gaierror", "OperationalError"}  # sqlite3: no such database


def _execution_notes(path: Path, timeout: int, memory_gb: float) -> list[str]:
    """Notes on the cells of an autograded notebook that timed out, crashed or hit the memory cap."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    kinds: dict[str, list[str]] = {"timeout": [], "crash": [], "memory": [], "integrity": [], "sandbox": [], "stub": [], "budget": []}
    for i, cell in enumerate(nb.get("cells", [])):
        label = _gid(cell) or f"cell {i + 1}"
        for out in cell.get("outputs", []):
            ename, evalue = out.get("ename", ""), out.get("evalue", "")
            if out.get("output_type") != "error":
                continue
            if ename == "CellTimeoutError":
                kinds["timeout"].append(label)
            elif ename == KERNEL_DIED:
                kinds["crash"].append(label)
            elif ename == BUDGET_USED:
                kinds["budget"].append(label)
            elif ename == "MemoryError" or "can't allocate memory" in evalue or "DefaultCPUAllocator" in evalue:
                kinds["memory"].append(label)
            elif "integrity check" in evalue:
                kinds["integrity"].append(label)
            elif STUB_MARK in evalue:
                kinds["stub"].append(f"{label} ({evalue.split(STUB_MARK)[0].strip()})")
            elif ename in SANDBOX_ERRORS:
                kinds["sandbox"].append(f"{label} ({ename}: {evalue[:80]})")
    text = {"timeout": f"timed out after {timeout} s: {{}} (those cells score 0, the rest was graded)",
            "crash": "crashed the kernel: {} (those cells score 0, the rest was re-run and graded)",
            "memory": f"ran out of memory (cap {memory_gb:g} GiB per kernel): {{}}",
            "integrity": "integrity check failed: {} (the code calls the course's reference implementation)",
            "sandbox": "reached outside its sandbox (files, network or processes the grader hides): {}",
            "stub": "called the course's reference, which grading kernels only have as a stub: {}",
            "budget": f"used up its time budget (max({MIN_BUDGET_S:g} s, {BUDGET_FACTOR:g} x the solution's grading "
                      "time) unless set otherwise; autograde-logs/*-budget.txt): not run, scored 0: {}"}
    return [text[k].format(_short(cells, 4)) for k, cells in kinds.items() if cells]


@dataclass
class _Shard:
    """A scratch course folder that grades some of the students with its own copy of the gradebook."""

    index: int
    root: Path
    students: list[str]

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"


def _nbgrader_args(shard: _Shard, source: Path, timeout: int) -> list[str]:
    return [f"--CourseDirectory.root={shard.root}", f"--CourseDirectory.submitted_directory={shard.submitted}",
            f"--CourseDirectory.source_directory={source}", f"--CourseDirectory.db_url=sqlite:///{shard.root / 'gradebook.db'}",
            f"--Execute.timeout={timeout}", "--Execute.interrupt_on_timeout=True",
            "--OverwriteCells.add_missing_cells=True"]


def _grade_shard(shard: _Shard, name: str, students: list[str], source: Path, timeout: int,
                 memory_gb: float, student_timeout: float, logs: Path, tick, kernel_env: dict[str, str],
                 budget_s: float = 0.0, durations: dict[str, float] | None = None) -> dict[str, str]:
    """Grade `students` of one shard on one assignment in as few nbgrader runs as possible.

    Returns {student: failure reason} for those that could not be graded (others are in the
    shard's gradebook). A submission that runs past `student_timeout` is stopped and the run goes
    on with the others; a run that stops early is restarted for the students it did not reach.
    """
    failures: dict[str, str] = {}
    pending = list(students)
    attempt = 0
    while pending:
        events = shard.root / f"events-{name}-{attempt}.jsonl"
        log = logs / f"{name}-shard{shard.index}-run{attempt}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        others = [s for s in _students(shard.submitted) if s not in pending]
        runtime = sandbox.runtime_dir()  # this worker's kernel connection file: nobody else's kernel sees it
        argv = ["autograde", name, "--force", "--create", *_nbgrader_args(shard, source, timeout),
                *sandbox.nbgrader_args(runtime)]
        if others:
            argv.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
        spec = {"events": str(events), "memory_bytes": int(memory_gb * 2**30) if memory_gb else 0,
                "budget_s": budget_s, "argv": argv}
        env = {**_grading_env(), **kernel_env, "JUPYTER_RUNTIME_DIR": runtime}
        with open(log, "w") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "sslcourse.course.worker", json.dumps(spec)],
                                    cwd=shard.root, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            current, since, seen, progressed = None, 0.0, 0, False
            while True:
                finished = proc.poll() is not None
                lines = events.read_text().splitlines(keepends=True) if events.exists() else []
                for line in lines[seen:]:
                    if not line.endswith("\n"):
                        break
                    seen += 1
                    ev = json.loads(line)
                    student = ev.get("student")
                    if ev["event"] == "start":
                        current, since = student, time.monotonic()
                    elif ev["event"] in ("done", "error") and student in pending:
                        if durations is not None and student == current:
                            durations[student] = time.monotonic() - since
                        pending.remove(student)
                        progressed = True
                        if ev["event"] == "error":
                            failures[student] = f"not graded: {ev.get('reason', '')}"
                        current = None
                        tick()
                if finished:
                    break
                if current is not None and time.monotonic() - since > student_timeout:
                    _kill_tree(proc.pid)
                    proc.wait()
                    if current in pending:
                        pending.remove(current)
                        failures[current] = (f"grading stopped after {student_timeout:g} s (the notebook never "
                                             "finished); scored 0, the others were graded")
                        progressed = True
                        tick()
                    current = None
                    break
                time.sleep(0.2)
        _kill_tree(proc.pid)  # a kernel left behind by a crashed worker
        shutil.rmtree(runtime, ignore_errors=True)
        if current is not None and current in pending:  # the run stopped while grading this student
            pending.remove(current)
            failures[current] = f"not graded: nbgrader stopped ({_last_error(log.read_text())})"
            progressed = True
            tick()
        attempt += 1
        if pending and not progressed:
            for student in pending:
                failures[student] = f"not graded: nbgrader failed ({_last_error(log.read_text())})"
                tick()
            pending = []
    return failures


def _merge_shard(shard_root: Path, root: Path, name: str, students: list[str], failed: set[str]) -> None:
    """Copy one shard's results for `students` into the course: gradebook rows, autograded/, feedback/."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    warnings.filterwarnings("ignore", message=".*not in session.*")  # SQLAlchemy noise from nbgrader's API
    with Gradebook(f"sqlite:///{shard_root / 'gradebook.db'}") as src, \
            Gradebook(f"sqlite:///{root / 'gradebook.db'}") as dst:
        for student in students:
            try:
                sub = src.find_submission(name, student)
            except MissingEntry:
                sub = None
            dst.update_or_create_student(student)
            kwargs = {"timestamp": sub.timestamp} if sub is not None and sub.timestamp else {}
            dst.update_or_create_submission(name, student, **kwargs)
            for nb in dst.find_assignment(name).notebooks:
                target = dst.find_submission_notebook(nb.name, name, student)
                try:
                    origin = src.find_submission_notebook(nb.name, name, student) if sub is not None else None
                except MissingEntry:
                    origin = None
                target.flagged = bool(origin.flagged) if origin is not None else False
                target.late_submission_penalty = origin.late_submission_penalty if origin is not None else None
                by_name = {g.name: g for g in origin.grades} if origin is not None else {}
                for grade in target.grades:
                    g = by_name.get(grade.name)
                    if g is None or student in failed:
                        grade.auto_score, grade.manual_score, grade.extra_credit = 0.0, None, None
                        grade.needs_manual_grade = False
                    else:
                        grade.auto_score, grade.manual_score = g.auto_score, g.manual_score
                        grade.extra_credit, grade.needs_manual_grade = g.extra_credit, g.needs_manual_grade
                comments = {c.name: c for c in origin.comments} if origin is not None else {}
                for comment in target.comments:
                    c = comments.get(comment.name)
                    comment.auto_comment = c.auto_comment if c is not None else None
                    comment.manual_comment = c.manual_comment if c is not None else None
            dst.db.commit()
    for step in ("autograded", "feedback"):
        for student in students:
            src_dir, dst_dir = shard_root / step / student / name, root / step / student / name
            if dst_dir.exists():
                _rmtree(dst_dir)
            if src_dir.is_dir() and student not in failed:
                dst_dir.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(src_dir, dst_dir)


def merge_course(shard: str | os.PathLike, root: str | os.PathLike = ".",
                 names: list[str] | None = None) -> list[tuple[str, str]]:
    """Merge a graded shard course folder into the main one (a large class graded as a job array).

    Every submission in the shard's gradebook (of `names`, default all) is copied into the main
    gradebook with its scores, and its autograded/ and feedback/ folders are copied over. The
    assignments must already be in the main gradebook (`sslcourse release` there). Returns the
    (student, assignment) pairs merged.
    """
    from nbgrader.api import Gradebook

    shard, root = Path(shard).resolve(), _course_root(root)
    if not (shard / "gradebook.db").is_file():
        raise CourseError(f"{shard} has no gradebook.db; grade the shard there first (sslcourse autograde --students ...)")
    with Gradebook(f"sqlite:///{shard / 'gradebook.db'}") as gb:
        found = {a.name: sorted(s.student.id for s in a.submissions) for a in gb.assignments}
    merged = []
    for name in names or sorted(found):
        if found.get(name):
            _merge_shard(shard, root, name, found[name], failed=set())
            merged += [(student, name) for student in found[name]]
    return merged


def _budget(work: Path, root: Path, name: str, source_dir: Path, release: dict, source: dict, timeout: int,
            memory_gb: float, student_timeout: float, kernel_env: dict[str, str], logs: Path,
            factor: float, minimum: float) -> float:
    """Grade the solution of `name` alone, as a student would be; return the budget its time gives."""
    shard = _Shard(-1, work / f"budget-{name}", [SOLUTION_STUDENT])
    _stage(source_dir / name, shard.submitted / SOLUTION_STUDENT / name, release, SOLUTION_STUDENT, name, source)
    shutil.copy(root / "nbgrader_config.py", shard.root / "nbgrader_config.py")
    shutil.copy(root / "gradebook.db", shard.root / "gradebook.db")
    durations: dict[str, float] = {}
    failures = _grade_shard(shard, name, [SOLUTION_STUDENT], source_dir, timeout, memory_gb, student_timeout,
                            logs, lambda: None, kernel_env, 0.0, durations)
    if failures or SOLUTION_STUDENT not in durations:
        print(f"grading budget: {name}: the solution itself could not be graded "
              f"({failures.get(SOLUTION_STUDENT, 'no time measured')}); no budget", file=sys.stderr)
        return 0.0
    budget = max(minimum, factor * durations[SOLUTION_STUDENT])
    (logs / f"{name}-budget.txt").write_text(
        f"grading budget: {name}: max({minimum:g} s, {factor:g} x the solution's {durations[SOLUTION_STUDENT]:.1f} s) "
        f"= {budget:.0f} s per submission\n")
    return budget


def autograde(root: str | os.PathLike = ".", submitted: str | os.PathLike | None = None,
              students: list[str] | None = None, names: list[str] | None = None,
              out: str | os.PathLike | None = None, source: str | None = None,
              feedback: bool = True, jobs: int = 1, timeout: int | None = None,
              memory_gb: float = DEFAULT_MEMORY_GB, student_timeout: float = DEFAULT_STUDENT_TIMEOUT,
              budget_factor: float = BUDGET_FACTOR, min_budget_s: float = MIN_BUDGET_S,
              budget_s: float | None = None, progress: bool = True) -> list[Grade]:
    """Autograde every submission in submitted/<student>/<assignment>/ against the hidden tests.

    Writes autograded/ and feedback/ (HTML per student) and the gradebook in the course folder,
    autograde-grades.csv (``GRADES_CSV``) and autograde-logs/ in `out`; returns one Grade per (student, assignment).

    Args:
        jobs: students graded in parallel (each job: one nbgrader run, one kernel at a time).
        timeout: seconds one cell may run (default: the course's nbgrader_config.py, else 60).
        memory_gb: memory cap of each grading process and its kernel (0: no cap).
        student_timeout: a submission still running after this many seconds is stopped (scores 0).
        budget_factor, min_budget_s: each submission may run max(min_budget_s, budget_factor x the
            solution's grading time) in all; past it its remaining cells are not run and score 0.
        budget_s: that budget in seconds, for every assignment (skips timing the solutions; 0: none).
        progress: show a progress bar (tqdm) over the submissions.
    """
    from tqdm.auto import tqdm

    root = _course_root(root)
    submitted = Path(submitted).resolve() if submitted else root / "submitted"
    out = Path(out).resolve() if out else root
    source_dir = Path(source) if source else root / "solutions"
    source_dir = source_dir if source_dir.is_absolute() else (root / source_dir).resolve()
    extra = [f"--CourseDirectory.submitted_directory={submitted}", f"--CourseDirectory.source_directory={source_dir}"]
    names = names or assignments(root, str(source_dir))
    students = students or _students(submitted)
    if not students:
        raise CourseError(f"no submissions in {submitted}; expected {submitted}/<student>/<assignment>/*.ipynb")
    if not names:
        raise CourseError(f"no assignments found in {source_dir}")
    timeout = int(timeout or _config_timeout(root))
    jobs = max(1, int(jobs))

    work = Path(tempfile.mkdtemp(prefix="sslcourse-autograde-"))
    try:
        # 1. the source cells into the gradebook; the release version of every notebook for staging.
        releases: dict[str, dict] = {}
        sources: dict[str, dict] = {}
        for name in names:
            _nbgrader(root, "generate_assignment", name, "--force", *extra,
                      f"--CourseDirectory.release_directory={work / 'release'}", "--log-level=WARN")
            releases[name] = {p.stem: read_notebook(p) for p in sorted((work / "release" / name).glob("*.ipynb"))}
            sources[name] = {p.stem: read_notebook(p) for p in sorted((source_dir / name).glob("*.ipynb"))}

        # the grading kernels: the student package, in bubblewrap where it works (sandbox.py).
        kernel_env, warning = sandbox.prepare(work, root)
        if warning:
            print(warning, file=sys.stderr)

        # 2. stage the submissions into shards (round robin over the students).
        shards = [_Shard(k, work / f"shard{k}", []) for k in range(min(jobs, len(students)))]
        staged: dict[tuple[str, str], _Staged] = {}
        for i, student in enumerate(students):
            shard = shards[i % len(shards)]
            shard.students.append(student)
            for name in names:
                src = submitted / student / name
                if src.is_dir():
                    staged[student, name] = _stage(src, shard.submitted / student / name, releases[name], student, name,
                                                   sources[name])
        for shard in shards:
            shard.root.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "nbgrader_config.py", shard.root / "nbgrader_config.py")
            shutil.copy(root / "gradebook.db", shard.root / "gradebook.db")

        # the time budget of a submission, from the solution's own grading time (one run per assignment).
        budgets = {name: float(budget_s) for name in names} if budget_s is not None else {
            name: _budget(work, root, name, source_dir, releases[name], sources[name], timeout, memory_gb,
                          student_timeout, kernel_env, out / "autograde-logs", budget_factor, min_budget_s)
            for name in names if any(key[1] == name for key in staged)}

        # 3. grade: one thread per shard, each runs one batched nbgrader process at a time.
        todo = {(s.index, name): [st for st in s.students if (st, name) in staged and not staged[st, name].zero_reason]
                for s in shards for name in names}
        bar = tqdm(total=sum(len(v) for v in todo.values()), desc="autograde", unit="submission",
                   disable=not progress, file=sys.stderr)
        lock = threading.Lock()

        def tick() -> None:
            with lock:
                bar.update(1)

        def run(shard: _Shard) -> None:
            for name in names:
                batch = todo[shard.index, name]
                if not batch:
                    continue
                failures = _grade_shard(shard, name, batch, source_dir, timeout, memory_gb, student_timeout,
                                        out / "autograde-logs", tick, kernel_env, budgets.get(name, 0.0))
                for student, reason in failures.items():
                    staged[student, name].failure = reason
                if feedback and set(batch) - set(failures):
                    generate_feedback(shard.root, name, *_nbgrader_args(shard, source_dir, timeout),
                                      f"--CourseDirectory.student_id_exclude={','.join(sorted(failures))}")

        threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in shards]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        bar.close()

        # 4. merge the shards into the course gradebook and folders; collect the reasons.
        for shard in shards:
            for name in names:
                mine = [st for st in shard.students if (st, name) in staged]
                failed = {st for st in mine if staged[st, name].zero_reason or staged[st, name].failure}
                if mine:
                    _merge_shard(shard.root, root, name, mine, failed)
    finally:
        _rmtree(work)

    reasons: dict[tuple[str, str], str] = {}
    for (student, name), st in staged.items():
        notes = list(st.notes)
        if st.zero_reason or st.failure:
            notes.insert(0, st.zero_reason or st.failure)
        for nb in releases[name]:
            notes += _execution_notes(root / "autograded" / student / name / f"{nb}.ipynb", timeout, memory_gb)
        if notes:
            reasons[student, name] = "; ".join(notes)[:400]
    grades = _read_gradebook(root, students, names, reasons)
    out.mkdir(parents=True, exist_ok=True)
    write_grades_csv(grades, out / GRADES_CSV)
    return grades


def _config_timeout(root: Path) -> int:
    """The per-cell timeout of the course's nbgrader_config.py (c.Execute.timeout), else 60 s."""
    match = re.search(r"^c\.Execute\.timeout\s*=\s*(\d+)", (root / "nbgrader_config.py").read_text(), re.M)
    return int(match.group(1)) if match else 60


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
