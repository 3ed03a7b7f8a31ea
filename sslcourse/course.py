"""The course pipeline: release, autograde, render, and the whole demo (`make course`).

Thin wrappers around nbgrader and nbconvert, each step a plain function:

    release(root)            solutions/NN_topic/ -> exercises/NN_topic/  (nbgrader generate_assignment)
    collect_zips(zips, dst)  LMS zip exports -> submitted/<student>/<assignment>/
    autograde(root, jobs=N)  submitted/ -> autograded/ + feedback/ + grades.csv + a table
    merge_course(shard, root) a shard course graded elsewhere (a job array) -> the main gradebook
    render(notebooks)        execute lecture notebooks, write HTML and reveal.js slides
    build_course(root)       release + lectures + a demo class of two students + build/index.html

nbgrader runs in a subprocess (`python -m nbgrader ...`) in the course folder, so it reads the
course's nbgrader_config.py exactly as a TA's own `nbgrader` call would.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
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
#
# How a class is graded (docs/grading.md tells the TA's side):
#
#   1. the source cells of each assignment are recorded in the gradebook (generate_assignment into a
#      scratch release, which also gives the release version of every cell);
#   2. every submission is *staged*: read tolerantly, rebuilt as a clean notebook under the expected
#      name, nbgrader metadata taken from the release, deleted cells restored, the release order of
#      cells restored, extra files dropped; what was repaired becomes a note for the TA;
#   3. students are split into `jobs` shards; each shard is a scratch course folder with its own copy
#      of the gradebook, graded by ONE `nbgrader autograde ASSIGNMENT` run for all its students
#      (a worker process that adds a memory cap and kernel-crash recovery, see `_grade_worker`);
#      a watchdog stops a submission that runs past `student_timeout` and the batch goes on;
#   4. the shards' results (gradebook rows, autograded/ and feedback/ folders) are merged into the
#      course folder; grades.csv and the table give each student a score and a one-line reason.


@dataclass
class Grade:
    """One row of the grade table: a student's result on one assignment."""

    student: str
    assignment: str
    score: float | None  # autograded points (None: not graded)
    max_score: float  # autograded points available
    manual_pending: float  # points of free-text answers still to be graded by hand
    reason: str = ""  # one line when something went wrong (or was repaired)


@dataclass
class _Staged:
    """A submission prepared for nbgrader: what was repaired, or why it cannot be graded."""

    student: str
    assignment: str
    notes: list[str]
    zero_reason: str = ""  # the submission cannot be graded at all: it scores 0 for this reason
    failure: str = ""  # grading it failed (filled in by the scheduler)


KERNEL_DIED = "KernelDied"
TRUSTED_EXTRA = ("timestamp.txt",)  # nbgrader's own file: the submission time
SUSPICIOUS = re.compile(r"forbid_calls|setprofile|settrace|sslcourse\.grading|sys\.modules\[")
DEFAULT_MEMORY_GB = 4.0
DEFAULT_STUDENT_TIMEOUT = 900.0


def _students(submitted: Path) -> list[str]:
    return sorted(p.name for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if submitted.is_dir() else []


def _gid(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _short(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _read_tolerant(path: Path):
    """A submitted notebook as a clean nbformat-4 notebook (cells, sources, nbgrader metadata only).

    Raises CourseError with a one-line reason when the file is not a notebook at all.
    """
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    text = path.read_text(errors="replace")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise CourseError(f"{path.name} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    try:
        cells = nbformat.reads(text, as_version=4).cells
    except Exception:  # valid JSON, broken structure: take what can be taken from the raw cells
        cells = raw.get("cells") if isinstance(raw, dict) else None
        if not isinstance(cells, list):
            raise CourseError(f"{path.name} is JSON but not a Jupyter notebook (no list of cells)") from None
    make = {"code": new_code_cell, "markdown": new_markdown_cell, "raw": new_raw_cell}
    clean = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        new = make.get(cell.get("cell_type"), new_raw_cell)(source)
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        for key in ("nbgrader", "tags"):
            if key in meta:
                new.metadata[key] = meta[key]
        if cell.get("cell_type") == "markdown" and isinstance(cell.get("attachments"), dict):
            new["attachments"] = cell["attachments"]
        clean.append(new)
    nb = new_notebook(cells=clean)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _grade_ids(nb) -> set[str]:
    return {g for g in (_gid(c) for c in nb.cells) if g}


def _canonical(nb, release, notes: list[str], source=None):
    """Put a submitted notebook into the release's shape: metadata, cells present, cell order.

    Cells the release tracks (nbgrader metadata) get the release's metadata; a deleted one is put
    back (the release version: a stub for a function, the test cell, the question); cells are
    returned to the release order, each student-added cell staying behind the cell it followed.
    Unknown or duplicated nbgrader metadata is dropped (the cell stays as a plain cell).
    """
    import copy
    import uuid

    rel_order = [g for g in (_gid(c) for c in release.cells) if g]
    rel_cell = {_gid(c): c for c in release.cells if _gid(c)}
    src_text = {_gid(c): c.source.strip() for c in (source.cells if source is not None else []) if _gid(c)}
    head: list = []
    blocks: dict[str, list] = {}
    seen_order: list[str] = []
    edited, dropped = [], []
    current = head
    for cell in nb.cells:
        gid = _gid(cell)
        if gid in rel_cell and gid not in blocks:
            rel = rel_cell[gid]
            if cell.cell_type != rel.cell_type:  # e.g. a test cell turned into markdown
                source, cell = cell.source, copy.deepcopy(rel)
                cell.source = source
            cell.metadata["nbgrader"] = copy.deepcopy(rel.metadata["nbgrader"])
            if rel.metadata["nbgrader"].get("locked") and cell.source.strip() not in (rel.source.strip(),
                                                                                      src_text.get(gid)):
                edited.append(gid)
            blocks[gid] = current = [cell]
            seen_order.append(gid)
        else:
            if "nbgrader" in cell.metadata:
                del cell.metadata["nbgrader"]
                dropped.append(gid or "?")
            current.append(cell)
    missing = [g for g in rel_order if g not in blocks]
    for gid in missing:
        blocks[gid] = [copy.deepcopy(rel_cell[gid])]
    if missing:
        notes.append(f"restored deleted cells: {_short(missing)}")
    if seen_order != [g for g in rel_order if g in seen_order]:
        notes.append("cells were out of order: restored the release order")
    if edited:
        notes.append(f"edited locked cells restored from the gradebook: {_short(edited)}")
    if dropped:
        notes.append(f"removed nbgrader metadata the release does not have: {_short(dropped)}")
    nb.cells = head + [c for gid in rel_order for c in blocks[gid]]
    ids = set()
    for cell in nb.cells:  # cell ids must be unique (nbformat 4.5)
        if cell.get("id") in ids or not cell.get("id"):
            cell["id"] = uuid.uuid4().hex[:8]
        ids.add(cell["id"])
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                     and not (c.metadata.get("nbgrader", {}).get("locked")))
    hit = SUSPICIOUS.search(code)
    if hit:
        notes.append(f"flag: the student's code mentions {hit.group(0)!r} (the integrity guard); read it by hand")
    return nb


def _stage(src: Path, dst: Path, release: dict, student: str, name: str, sources: dict | None = None) -> _Staged:
    """Copy one submission folder into a clean, gradable shape; record what was repaired."""
    import nbformat

    staged = _Staged(student, name, [])
    files = [p for p in sorted(src.rglob("*")) if p.is_file()
             and ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".")]
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    if not notebooks:
        staged.zero_reason = ("empty submission folder" if not files else
                              f"no notebook in the submission (found {_short([p.name for p in files])})")
        return staged
    parsed, invalid = {}, []
    for path in notebooks:
        try:
            parsed[path] = _read_tolerant(path)
        except CourseError as err:
            invalid.append(str(err))
    chosen: dict[str, Path] = {}
    for nb_name in release:  # exact name first, then the notebook sharing most cells with the release
        exact = [p for p in parsed if p.name == f"{nb_name}.ipynb" and p not in chosen.values()]
        if exact:
            chosen[nb_name] = exact[0]
    for nb_name, rel in release.items():
        if nb_name in chosen:
            continue
        ids = _grade_ids(rel)
        free = [p for p in parsed if p not in chosen.values()]
        best = max(free, key=lambda p: (len(_grade_ids(parsed[p]) & ids), p.stem.startswith(nb_name)), default=None)
        if best is not None and (_grade_ids(parsed[best]) & ids or len(release) == 1):
            chosen[nb_name] = best
            staged.notes.append(f"renamed notebook {best.name!r} graded as {nb_name}.ipynb")
    if not chosen:
        staged.zero_reason = "; ".join(invalid) or "no notebook of this assignment in the submission"
        staged.zero_reason += ": could not be graded, scored 0 (ask the student to re-save it in JupyterLab)"
        return staged
    if invalid:
        staged.notes.append("; ".join(invalid) + " (ignored)")
    for nb_name in release:
        if nb_name not in chosen:
            staged.notes.append(f"{nb_name}.ipynb missing: its cells score 0")
    dst.mkdir(parents=True, exist_ok=True)
    for nb_name, path in chosen.items():
        nb = _canonical(parsed[path], release[nb_name], staged.notes, (sources or {}).get(nb_name))
        nbformat.write(nb, str(dst / f"{nb_name}.ipynb"))
    if (src / "timestamp.txt").is_file():
        shutil.copy(src / "timestamp.txt", dst / "timestamp.txt")
    used = set(chosen.values())
    extra = [p.relative_to(src).as_posix() for p in files if p not in used and p.name not in TRUSTED_EXTRA
             and (p in parsed or p.suffix != ".ipynb")]  # invalid notebooks were noted above
    if extra:
        staged.notes.append(f"ignored extra files: {_short(extra)}")
    return staged


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


def _grade_worker() -> None:
    """Entry point of one grading process: `nbgrader autograde` with a memory cap and crash recovery.

    argv[1] is a JSON object: {"events": path, "memory_bytes": int or 0, "argv": nbgrader's argv}.
    Writes one JSON line per event to the events file: start / done / error (with a reason).
    """
    import resource

    spec = json.loads(sys.argv[1])
    if spec.get("memory_bytes"):  # inherited by the kernels: a huge allocation fails inside the kernel
        limit = int(spec["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    events = open(spec["events"], "a", buffering=1)

    def emit(**event) -> None:
        events.write(json.dumps(event) + "\n")
        events.flush()

    from nbgrader.apps.nbgraderapp import NbGraderApp
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    Execute.preprocess = _resilient_preprocess
    init_assignment, convert, set_permissions = (Autograde.init_assignment, Autograde.convert_single_notebook,
                                                 Autograde.set_permissions)

    def _init(self, assignment_id, student_id):
        emit(event="start", student=student_id)
        self._sslcourse_student = student_id
        try:
            return init_assignment(self, assignment_id, student_id)
        except Exception as err:
            emit(event="error", student=student_id, reason=_one_line(err))
            raise

    def _convert(self, filename):
        try:
            return convert(self, filename)
        except Exception as err:
            emit(event="error", student=getattr(self, "_sslcourse_student", "?"), reason=_one_line(err))
            raise

    def _done(self, assignment_id, student_id):
        set_permissions(self, assignment_id, student_id)
        emit(event="done", student=student_id)

    Autograde.init_assignment, Autograde.convert_single_notebook, Autograde.set_permissions = _init, _convert, _done
    try:
        NbGraderApp.launch_instance(argv=spec["argv"])
    finally:
        emit(event="exit")


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]


def _resilient_preprocess(self, nb, resources=None, km=None):
    """nbgrader's Execute.preprocess, but a cell that kills the kernel costs only that cell.

    When the kernel dies (os._exit, a segfault, the memory cap) or ignores the interrupt after a
    cell timeout, the cell gets an error output (so it scores 0), a fresh kernel re-runs the
    cells before it, and execution goes on after it.
    """
    from nbclient.client import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbformat import NotebookNode

    NotebookClient.__init__(self, nb, km)
    self.reset_execution_trackers()
    self._check_assign_resources(resources)
    lost: dict[int, tuple[str, str]] = {}
    for _attempt in range(len(self.nb.cells) + 1):
        current = None
        try:
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                for index, cell in enumerate(self.nb.cells):
                    if index in lost:
                        ename, evalue = lost[index]
                        cell.outputs = [NotebookNode(output_type="error", ename=ename, evalue=evalue,
                                                     traceback=[f"{ename}: {evalue}"])]
                        continue
                    current = index
                    self.preprocess_cell(cell, resources, index)
                    if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                        # timed out and interrupted: a re-run after a later crash skips it
                        lost[index] = ("CellTimeoutError", f"the cell ran past the time limit ({self.timeout} s) "
                                                           "and was interrupted")
            break
        except (DeadKernelError, CellTimeoutError) as err:
            if current is None:
                raise
            if isinstance(err, DeadKernelError):
                lost[current] = (KERNEL_DIED, "the kernel died while running this cell (os._exit, a crash "
                                              "or the memory cap); it scores 0 and the notebook was re-run without it")
            else:
                lost[current] = ("CellTimeoutError", "the cell ran past the time limit and ignored the "
                                                     "interrupt; the kernel was restarted without it")
            self.log.warning("cell %d lost the kernel (%s); restarting and re-running the others", current,
                             type(err).__name__)
            self.shutdown_kernel = "immediate"
            self.km, self.kc = None, None
            self.owns_km = True
            for cell in self.nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = []
    self.set_widgets_metadata()
    return self.nb, self.resources


def _execution_notes(path: Path, timeout: int, memory_gb: float) -> list[str]:
    """Notes on the cells of an autograded notebook that timed out, crashed or hit the memory cap."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    kinds: dict[str, list[str]] = {"timeout": [], "crash": [], "memory": [], "integrity": []}
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
            elif ename == "MemoryError" or "can't allocate memory" in evalue or "DefaultCPUAllocator" in evalue:
                kinds["memory"].append(label)
            elif "integrity check" in evalue:
                kinds["integrity"].append(label)
    text = {"timeout": f"timed out after {timeout} s: {{}} (those cells score 0, the rest was graded)",
            "crash": "crashed the kernel: {} (those cells score 0, the rest was re-run and graded)",
            "memory": f"ran out of memory (cap {memory_gb:g} GiB per kernel): {{}}",
            "integrity": "integrity check failed: {} (the code calls the course's reference implementation)"}
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
                 memory_gb: float, student_timeout: float, logs: Path, tick) -> dict[str, str]:
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
        argv = ["autograde", name, "--force", "--create", *_nbgrader_args(shard, source, timeout)]
        if others:
            argv.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
        spec = {"events": str(events), "memory_bytes": int(memory_gb * 2**30) if memory_gb else 0, "argv": argv}
        with open(log, "w") as fh:
            proc = subprocess.Popen([sys.executable, "-c", "from sslcourse.course import _grade_worker; _grade_worker()",
                                     json.dumps(spec)], cwd=shard.root, stdout=fh, stderr=subprocess.STDOUT,
                                    env=_grading_env(), start_new_session=True)
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


def _rmtree(path: Path) -> None:
    """shutil.rmtree that also removes nbgrader's read-only (444) files and folders."""
    def onerror(func, p, _exc):
        os.chmod(p, 0o700)
        func(p)
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path, onerror=onerror)


def autograde(root: str | os.PathLike = ".", submitted: str | os.PathLike | None = None,
              students: list[str] | None = None, names: list[str] | None = None,
              out: str | os.PathLike | None = None, source: str | None = None,
              feedback: bool = True, jobs: int = 1, timeout: int | None = None,
              memory_gb: float = DEFAULT_MEMORY_GB, student_timeout: float = DEFAULT_STUDENT_TIMEOUT,
              progress: bool = True) -> list[Grade]:
    """Autograde every submission in submitted/<student>/<assignment>/ against the hidden tests.

    Writes autograded/ and feedback/ (HTML per student) and the gradebook in the course folder,
    grades.csv and autograde-logs/ in `out`; returns one Grade per (student, assignment).

    Args:
        jobs: students graded in parallel (each job: one nbgrader run, one kernel at a time).
        timeout: seconds one cell may run (default: the course's nbgrader_config.py, else 60).
        memory_gb: memory cap of each grading process and its kernel (0: no cap).
        student_timeout: a submission still running after this many seconds is stopped (scores 0).
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
                                        out / "autograde-logs", tick)
                for student, reason in failures.items():
                    staged[student, name].failure = reason
                if feedback and set(batch) - set(failures):
                    _nbgrader(shard.root, "generate_feedback", name, "--force", *_nbgrader_args(shard, source_dir, timeout),
                              f"--CourseDirectory.student_id_exclude={','.join(sorted(failures))}", check=False)

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
    write_grades_csv(grades, out / "grades.csv")
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


def write_grades_csv(grades: list[Grade], path: str | os.PathLike) -> None:
    """grades.csv: one row per (student, assignment), written atomically."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["student", "assignment", "score", "max_score", "manual_pending", "reason"])
            for g in grades:
                writer.writerow([g.student, g.assignment, "" if g.score is None else g.score,
                                 g.max_score, g.manual_pending, g.reason])


def merge_grades_csv(paths: list[str | os.PathLike], out: str | os.PathLike) -> list[Grade]:
    """Merge the grades.csv of several shards (e.g. a Slurm array) into one; a later file wins a tie."""
    rows: dict[tuple[str, str], Grade] = {}
    for path in paths:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                rows[r["student"], r["assignment"]] = Grade(
                    r["student"], r["assignment"], float(r["score"]) if r["score"] else None,
                    float(r["max_score"]), float(r["manual_pending"]), r["reason"])
    grades = [rows[k] for k in sorted(rows)]
    write_grades_csv(grades, out)
    return grades


def grade_table(grades: list[Grade]) -> str:
    """A plain-text table: students x assignments, autograded score / max, '*' = free text to grade.

    Below it, one line per (student, assignment) with a reason: what failed or was repaired.
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
    problems = [f"  {g.student} / {g.assignment}: {g.reason}" for g in grades if g.reason]
    legend = "autograded points / available; * = free-text answers still to grade by hand in formgrader"
    return "\n".join(lines + [legend] + (["problems:"] + problems if problems else []))


def autograde_cli(args) -> None:
    """`sslcourse autograde`: collect zips if asked, grade, print the table."""
    root = _course_root(args.root)
    submitted = Path(args.submitted).resolve() if args.submitted else root / "submitted"
    names = args.assignments or assignments(root)
    if getattr(args, "zips", None):
        collect_zips(args.zips, submitted, names)
    options = {key: getattr(args, key) for key in ("timeout", "memory_gb", "student_timeout")
               if getattr(args, key, None) is not None}
    grades = autograde(root, submitted, students=args.students, names=names, out=args.out,
                       jobs=getattr(args, "jobs", 1) or 1, **options)
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
    grades = autograde(demo, names=names, source=str(root / "solutions"), jobs=jobs)
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
