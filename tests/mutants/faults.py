"""Broken submissions for the fault tests (tests/test_grading_faults.py) and the table in docs/grading.md.

    python -m tests.mutants.faults [ASSIGNMENT]     # grade a generated class, print the TA's table

The fixture class has one student per fault; a real assignment's class has one student with a
kernel-level fault in each of its graded functions, one whose functions only call the package's
reference, and a normal one.

    loop      an infinite loop in a graded function: that test cell times out, scores 0, the rest grades
    exit      the kernel killed by os._exit in a graded function
    segfault  the kernel killed by a segfault (ctypes) in a graded function
    memory    a huge allocation: fails against the kernel's memory cap (never actually allocated:
              torch.empty does not touch the pages, so a broken cap costs nothing)
    deleted   every grade cell deleted: restored and graded
    edited    test cells of the blank release replaced by `pass`: restored from the gradebook -> 0
    emptied   test cells emptied and unlocked: restored -> 0
    reordered cells in reverse order: the release order is restored
    renamed   the notebook renamed: graded under its name
    invalid   invalid JSON: 0 with a reason; empty: an empty folder: 0 with a reason
    extra     extra files, among them a package that would switch off the integrity guard: ignored
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

from . import cheater_source, grade_cells, graded_functions, infer_reference, load_mutants

FIXTURE = "00_fixture"
MEMORY_GB = 3.0  # the cap the fault runs set; the memory fault asks for 8 GiB (never touched)
# Seconds per cell in the fault runs: well above the slowest healthy cell on a busy 2-core machine
# (an infinite loop costs this once per call of the broken function).
TIMEOUT_FIXTURE, TIMEOUT_REAL = 30, 40
FAULT_BODIES = {
    "loop": "    while True:\n        pass\n",
    "exit": "    import os\n    os._exit(1)\n",
    "segfault": "    import ctypes\n    ctypes.string_at(0)\n",
    "memory": "    import torch\n    return torch.empty(8 * 2**30, dtype=torch.uint8)\n",
}
ENV_PROBE = ("import os, torch\nprint('GRADING-ENV', repr(os.environ.get('CUDA_VISIBLE_DEVICES')),"
             " torch.cuda.is_available(), os.environ.get('OMP_NUM_THREADS'))")


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def with_fault(nb: dict, fn: str, kind: str) -> dict:
    """The notebook with `fn` redefined (same cell, after the real one) to misbehave when called."""
    nb = copy.deepcopy(nb)
    cell = nb["cells"][graded_functions(nb)[fn]]
    cell["source"] = _source(cell) + f"\n\n\ndef {fn}(*args, **kwargs):\n" + FAULT_BODIES[kind]
    return nb


def replace_function(nb: dict, fn: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"][graded_functions(nb)[fn]]["source"] = source
    return nb


def write(folder: Path, nb: dict | str, filename: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(nb if isinstance(nb, str) else json.dumps(nb, indent=1))


def cheapest_to_break(nb: dict) -> list[str]:
    """Graded functions, cheapest fault first: called by the fewest cells, the last of them earliest.

    Each call of a broken function costs a timeout or a kernel restart that re-runs the cells
    before it, so a function only used early in the notebook is the cheapest one to break.
    """
    fns = graded_functions(nb)
    callers = {fn: [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and i != fns[fn]
                    and fn in _source(c)] for fn in fns}
    return sorted(fns, key=lambda fn: (len(callers[fn]), max(callers[fn], default=0)))


def fixture_class(root: Path) -> None:
    """submitted/ of a released fixture course: two good students and one per fault."""
    name, nbname = FIXTURE, f"{FIXTURE}.ipynb"
    sol = json.loads((root / "solutions" / name / nbname).read_text())
    blank = json.loads((root / "exercises" / name / nbname).read_text())
    sub = root / "submitted"
    perfect = copy.deepcopy(sol)
    perfect["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                             "source": ENV_PROBE})
    for s in ("alice", "zoe"):
        write(sub / s / name, perfect, nbname)
    write(sub / "loop" / name, with_fault(sol, "mean_of_squares", "loop"), nbname)
    write(sub / "exit" / name, with_fault(sol, "mean_of_squares", "exit"), nbname)
    write(sub / "segfault" / name, with_fault(sol, "cosine", "segfault"), nbname)
    write(sub / "memory" / name, with_fault(sol, "cosine", "memory"), nbname)
    deleted = copy.deepcopy(sol)
    deleted["cells"] = [c for c in deleted["cells"] if not c["metadata"].get("nbgrader", {}).get("grade")]
    write(sub / "deleted" / name, deleted, nbname)
    edited, emptied = copy.deepcopy(blank), copy.deepcopy(blank)
    for i, _, _ in grade_cells(blank):
        edited["cells"][i]["source"] = "pass  # the student made the tests pass"
        emptied["cells"][i]["source"] = ""
        emptied["cells"][i]["metadata"]["nbgrader"]["locked"] = False
    write(sub / "edited" / name, edited, nbname)
    write(sub / "emptied" / name, emptied, nbname)
    reordered = copy.deepcopy(sol)
    reordered["cells"].reverse()
    write(sub / "reordered" / name, reordered, nbname)
    write(sub / "renamed" / name, sol, f"{name} (1)-Copy1.ipynb")
    write(sub / "invalid" / name, json.dumps(sol)[:-40], nbname)
    (sub / "empty" / name).mkdir(parents=True)
    cheat = replace_function(sol, "mean_of_squares", "from sslcourse.utils import to_device\n\n"
                             "def mean_of_squares(x):\n    x = to_device(x, 'cpu')\n    return (x * x).mean()\n")
    write(sub / "extra" / name, cheat, nbname)
    write(sub / "extra" / name / "sslcourse", "import contextlib\nforbid_calls = lambda *a: contextlib.nullcontext()\n",
          "grading.py")
    write(sub / "extra" / name / "sslcourse", "", "__init__.py")
    write(sub / "extra" / name, "x" * 1000, "notes.txt")


def real_class(root: Path, name: str) -> tuple[dict, dict[str, str], dict[str, str]]:
    """submitted/ for a real assignment: normal, faulty, memory, cheater.

    `faulty` has an infinite loop, os._exit and a segfault in its cheapest graded functions (one
    each, at least one function left intact), `memory` a huge allocation in the cheapest one,
    `cheater` every function replaced by a call to the package's reference.
    Returns (solution notebook, {student: {function: fault kind}}, {function: reference it calls}).
    """
    nbname = f"{name}.ipynb"
    sol = json.loads((root / "solutions" / name / nbname).read_text())
    order = cheapest_to_break(sol)
    plan: dict[str, dict[str, str]] = {"faulty": {}, "memory": {order[0]: "memory"}}
    faulty = sol
    for fn, kind in zip(order[:max(1, len(order) - 1)], ["loop", "exit", "segfault"]):
        faulty, plan["faulty"][fn] = with_fault(faulty, fn, kind), kind
    sub = root / "submitted"
    write(sub / "normal" / name, sol, nbname)
    write(sub / "faulty" / name, faulty, nbname)
    write(sub / "memory" / name, with_fault(sol, order[0], "memory"), nbname)
    _, reference = load_mutants(name)
    cheater, cheats = sol, {}
    for fn in graded_functions(sol):
        target = reference.get(fn) or infer_reference(sol, fn)
        if target:
            cheater, cheats[fn] = replace_function(cheater, fn, cheater_source(sol, fn, target)), target
    if cheats:
        write(sub / "cheater" / name, cheater, nbname)
    return sol, plan, cheats


def main(argv: list[str] | None = None) -> int:
    import tempfile

    from sslcourse import course

    argv = sys.argv[1:] if argv is None else argv
    name = argv[0] if argv else FIXTURE
    repo = Path(__file__).resolve().parents[2]
    src = repo / "tests" / "fixtures" / "course" / "solutions" / name if name == FIXTURE else repo / "solutions" / name
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        (root / "solutions").mkdir(parents=True)
        shutil.copy(repo / "nbgrader_config.py", root / "nbgrader_config.py")
        shutil.copytree(src, root / "solutions" / name)
        course.release(root, [name])
        if name == FIXTURE:
            fixture_class(root)
            timeout = TIMEOUT_FIXTURE
        else:
            real_class(root, name)
            timeout = TIMEOUT_REAL
        grades = course.autograde(root, timeout=timeout, memory_gb=MEMORY_GB, feedback=False)
        print(f"`python -m tests.mutants.faults {name}` (cell timeout {timeout} s, memory cap {MEMORY_GB:g} GiB)\n")
        print("| student | assignment | score | reason |\n|---|---|---|---|")
        for g in grades:
            score = "-" if g.score is None else f"{g.score:g} / {g.max_score:g}"
            print(f"| {g.student} | {g.assignment} | {score} | {g.reason.replace('|', '/')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
