"""The grading sandbox: what a submission can reach while nbgrader runs it.

A student's code runs in the grading kernel with the grader's machine around it. Two layers keep
it from the answers and from the rest of the class:

1. **The student package.** The kernel imports `sslcourse` from a stubbed copy of the package
   (`student.copy_package`: every graded reference body raises NotImplementedError), so pasting
   the reference with ``exec(inspect.getsource(...))`` or switching off the integrity guard and
   calling the reference gains nothing. Hidden tests never need the reference (COURSE.md 6).
2. **Bubblewrap** (``bwrap``, Debian/Ubuntu package ``bubblewrap``; the sandbox Flatpak uses).
   Each kernel runs in its own mount, network, PID and user namespaces as user nobody: it sees the
   system and the Python installation read-only, its own working folder and a private /tmp, and
   nothing of the course (solutions/, gradebook.db, submitted/, autograded/, other students), no
   network (the kernel talks to nbgrader over unix sockets, ``KernelManager.transport=ipc``), and
   no other process. `kernel_launcher` builds the command line. The memory cap (RLIMIT_DATA) and
   the time limits of the worker still apply.

Where bubblewrap is missing or cannot create namespaces (a container without the privilege),
grading still runs, on the student package, and `prepare` returns the one warning line the
scheduler prints. ``SSLCOURSE_SANDBOX=off`` switches bubblewrap off on purpose (same warning).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sslcourse.course import kernel_launcher
from sslcourse.course.student import PACKAGE, copy_package

BWRAP = "bwrap"
KERNEL_NAME = "python3"  # the notebooks' kernel: the sandboxed spec shadows the plain one


def find_bwrap(name: str | None = None) -> tuple[str, str | None]:
    """(path of a working bwrap, None), or ("", why there is no sandbox)."""
    name = name or BWRAP
    if os.environ.get("SSLCOURSE_SANDBOX", "").lower() in {"0", "off", "no", "false"}:
        return "", "switched off (SSLCOURSE_SANDBOX=off)"
    path = shutil.which(name)
    if not path:
        return "", f"bubblewrap ({name}) is not installed; install it (apt install bubblewrap)"
    probe = [path, "--unshare-all", "--uid", "65534", "--gid", "65534", "--ro-bind", "/", "/", "true"]
    try:
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return "", f"{path} could not be run ({type(err).__name__})"
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return "", f"{path} cannot create namespaces here ({why}); run as root or allow unprivileged user namespaces"
    return path, None


def read_only_paths(course_root: Path) -> list[str]:
    """The Python installation (venv and base interpreter) the kernel must read; never the course itself."""
    paths = []
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        path = Path(p).resolve()
        if str(path).startswith("/usr"):
            continue  # already visible
        if course_root == path or course_root.is_relative_to(path):
            raise RuntimeError(f"the Python installation {path} contains the course folder {course_root}: "
                               "the sandbox would expose the course; use a venv outside it or inside it")
        paths.append(str(path))
    return sorted(paths)


def prepare(work: Path, course_root: Path) -> tuple[dict[str, str], str | None]:
    """Set up the grading kernels of one autograde run under `work`.

    Writes the student package (``work/kernel-package``) and a kernelspec (``work/jupyter``) whose
    kernel is started by `kernel_launcher`; returns the environment the grading workers need and
    a warning line (None when bubblewrap works).
    """
    package = work / "kernel-package"
    copy_package(PACKAGE, package / "sslcourse")
    spec_dir = work / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, kernel_launcher.__file__, "{connection_file}"],
            "display_name": "Python 3 (sslcourse grading sandbox)", "language": "python",
            "interrupt_mode": "message", "metadata": {}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    bwrap, problem = find_bwrap()
    env = {"JUPYTER_PATH": str(work / "jupyter"), "SSLCOURSE_KERNEL_PACKAGE": str(package),
           "SSLCOURSE_BWRAP": bwrap, "SSLCOURSE_READ_ONLY": os.pathsep.join(read_only_paths(course_root)),
           "SSLCOURSE_HIDE": str(PACKAGE)}
    warning = None if not problem else (
        f"grading sandbox: {problem}: submissions are graded on the student package but can read the "
        "course folder and reach the network (docs/grading.md, section 'Sandbox')")
    return env, warning


def nbgrader_args(runtime: str) -> list[str]:
    """nbgrader options of a worker: unix sockets (the kernel has no network), beside a connection
    file in the worker's private folder (the one folder of the worker the sandbox shares)."""
    return ["--KernelManager.transport=ipc", f"--KernelManager.connection_file={runtime}/kernel.json"]


def runtime_dir() -> str:
    """A private folder for one worker's kernel connection files and sockets (short: unix socket paths
    are limited to about 100 characters)."""
    return tempfile.mkdtemp(prefix="sslk-")
