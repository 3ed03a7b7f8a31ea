"""What every step of the course pipeline shares: the course folder, nbgrader calls, notebooks."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


KERNEL_DIED = "KernelDied"  # the error name of a cell that killed its kernel (worker -> reports)
BUDGET_USED = "GradingBudgetUsed"  # the error name of a cell not run: the submission's time budget was spent
PACKAGE = Path(__file__).resolve().parents[1]  # the full package (a source checkout: pip install -e .)
STUB_MARK = "is not in the student package"  # in every stub's message (student.py): reports and tests find it
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class CourseError(Exception):
    """A course step failed for a reason the user can fix; the message says what and how."""


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


def _students(submitted: Path) -> list[str]:
    return sorted(p.name for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if submitted.is_dir() else []


def _gid(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _short(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _rmtree(path: Path) -> None:
    """shutil.rmtree that also removes nbgrader's read-only (444) files and folders."""
    def onerror(func, p, _exc):
        os.chmod(p, 0o700)
        func(p)
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path, onerror=onerror)
