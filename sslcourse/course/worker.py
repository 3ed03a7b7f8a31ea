"""The grading worker: one process running `nbgrader autograde` with a memory cap and crash recovery.

Started by the scheduler (``sslcourse.course.schedule``) as::

    python -m sslcourse.course.worker SPEC

where SPEC is a JSON object ``{"events": path, "memory_bytes": int or 0, "budget_s": seconds or 0,
"argv": nbgrader's argv}``. ``budget_s`` is the time one submission may take in all: a cell gets
at most what is left of it (and never more than the cell timeout), and once it is spent the
remaining cells are not run and score 0 (``BUDGET_USED``).
The worker writes one JSON line per event to the events file (``start`` / ``done`` / ``error``
with a reason, and ``exit``), which is how the scheduler follows the run and stops a submission
that runs too long. A cell that kills the kernel costs only that cell (``resilient_preprocess``)..
"""
from __future__ import annotations

import json
import math
import resource
import sys
import time

from sslcourse.course.common import BUDGET_USED, KERNEL_DIED

BUDGET_S = 0.0  # seconds one notebook may run in all (0: no budget); set by main from the spec


def main(spec_json: str) -> None:
    """One grading process: `nbgrader autograde` with a memory cap and crash recovery (see above)."""
    global BUDGET_S
    spec = json.loads(spec_json)
    BUDGET_S = float(spec.get("budget_s") or 0)
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

    Execute.preprocess = resilient_preprocess
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


def resilient_preprocess(self, nb, resources=None, km=None):
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
    started, cell_timeout = time.monotonic(), self.timeout
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
                    if BUDGET_S and cell.cell_type == "code":
                        left = BUDGET_S - (time.monotonic() - started)
                        if left <= 0:  # spent: this cell and the rest are not run
                            lost[index] = (BUDGET_USED, f"the submission used up its grading budget of {BUDGET_S:.0f} s "
                                                        "before this cell; it was not run and scores 0")
                            cell.outputs = [NotebookNode(output_type="error", ename=BUDGET_USED,
                                                         evalue=lost[index][1], traceback=[lost[index][1]])]
                            continue
                        self.timeout = max(1, math.ceil(min(left, cell_timeout or left)))
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


if __name__ == "__main__":
    main(sys.argv[1])
