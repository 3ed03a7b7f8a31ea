"""Broken submissions do not break the class: one batched autograde run per assignment.

The tests generate the broken submissions themselves, for the fixture assignment (every kind of
fault, one student each) and for one real assignment (the kernel-level faults in one student, a
student whose functions only call the package's reference, a normal student):

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
    extra     extra files, among them a package that would disable the integrity guard: ignored

Every other student in the same run gets full marks.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, make_course, real_assignments
from mutants import cells_testing, cheater_source, graded_functions, infer_reference, load_mutants, grade_cells
from sslcourse import course

pytestmark = pytest.mark.xdist_group("grading")

FIXTURE = "00_fixture"
MEMORY_GB = 3.0  # the cap the tests set; the memory fault asks for 8 GiB (never touched)

FAULT_BODIES = {
    "loop": "    while True:\n        pass\n",
    "exit": "    import os\n    os._exit(1)\n",
    "segfault": "    import ctypes\n    ctypes.string_at(0)\n",
    "memory": "    import torch\n    return torch.empty(8 * 2**30, dtype=torch.uint8)\n",
}


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _with_fault(nb: dict, fn: str, kind: str) -> dict:
    """The notebook with `fn` redefined (same cell, after the real one) to misbehave when called."""
    nb = copy.deepcopy(nb)
    cell = nb["cells"][graded_functions(nb)[fn]]
    cell["source"] = _source(cell) + f"\n\n\ndef {fn}(*args, **kwargs):\n" + FAULT_BODIES[kind]
    return nb


def _replace_function(nb: dict, fn: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"][graded_functions(nb)[fn]]["source"] = source
    return nb


def _write(folder: Path, nb: dict | str, filename: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(nb if isinstance(nb, str) else json.dumps(nb, indent=1))


def _least_called(nb: dict) -> list[str]:
    """Graded functions, the ones the fewest non-test cells call first (a fault costs less time there)."""
    fns = graded_functions(nb)
    tests = {i for i, _, _ in grade_cells(nb)}
    calls = {fn: sum(fn in _source(c) for i, c in enumerate(nb["cells"]) if i not in tests and i != fns[fn])
             for fn in fns}
    return sorted(fns, key=lambda fn: (calls[fn], list(fns).index(fn)))


def _points(gb_path: Path, name: str, student: str) -> dict[str, tuple[float, float]]:
    """{grade_id: (score, max)} of one submission in the course gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{gb_path}") as gb:
        for nb in gb.find_submission(name, student).notebooks:
            for g in nb.grades:
                out[g.name] = (float(g.score), float(g.max_score))
    return out


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """One autograde run of the fixture assignment with one student per fault kind."""
    root = make_course(tmp_path_factory.mktemp("faults"), [FIXTURE])
    course.release(root)
    sol = json.loads((root / "solutions" / FIXTURE / f"{FIXTURE}.ipynb").read_text())
    blank = json.loads((root / "exercises" / FIXTURE / f"{FIXTURE}.ipynb").read_text())
    sub = root / "submitted"
    nbname = f"{FIXTURE}.ipynb"
    perfect = copy.deepcopy(sol)
    perfect["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                             "source": "import os, torch\nprint('GRADING-ENV', repr(os.environ.get('CUDA_VISIBLE_DEVICES')),"
                                       " torch.cuda.is_available(), os.environ.get('OMP_NUM_THREADS'))"})
    for s in ("alice", "zoe"):
        _write(sub / s / FIXTURE, perfect, nbname)
    _write(sub / "loop" / FIXTURE, _with_fault(sol, "mean_of_squares", "loop"), nbname)
    _write(sub / "exit" / FIXTURE, _with_fault(sol, "mean_of_squares", "exit"), nbname)
    _write(sub / "segfault" / FIXTURE, _with_fault(sol, "cosine", "segfault"), nbname)
    _write(sub / "memory" / FIXTURE, _with_fault(sol, "cosine", "memory"), nbname)
    deleted = copy.deepcopy(sol)
    deleted["cells"] = [c for c in deleted["cells"] if not c["metadata"].get("nbgrader", {}).get("grade")]
    _write(sub / "deleted" / FIXTURE, deleted, nbname)
    edited, emptied = copy.deepcopy(blank), copy.deepcopy(blank)
    for i, _, _ in grade_cells(blank):
        edited["cells"][i]["source"] = "pass  # the student made the tests pass"
        emptied["cells"][i]["source"] = ""
        emptied["cells"][i]["metadata"]["nbgrader"]["locked"] = False
    _write(sub / "edited" / FIXTURE, edited, nbname)
    _write(sub / "emptied" / FIXTURE, emptied, nbname)
    reordered = copy.deepcopy(sol)
    reordered["cells"].reverse()
    _write(sub / "reordered" / FIXTURE, reordered, nbname)
    _write(sub / "renamed" / FIXTURE, sol, f"{FIXTURE} (1)-Copy1.ipynb")
    _write(sub / "invalid" / FIXTURE, json.dumps(sol)[:-40], nbname)
    (sub / "empty" / FIXTURE).mkdir(parents=True)
    cheat = _replace_function(sol, "mean_of_squares", "from sslcourse.utils import to_device\n\n"
                              "def mean_of_squares(x):\n    x = to_device(x, 'cpu')\n    return (x * x).mean()\n")
    _write(sub / "extra" / FIXTURE, cheat, nbname)
    _write(sub / "extra" / FIXTURE / "sslcourse", "import contextlib\nforbid_calls = lambda *a: contextlib.nullcontext()\n",
           "grading.py")
    _write(sub / "extra" / FIXTURE / "sslcourse", "", "__init__.py")
    _write(sub / "extra" / FIXTURE, "x" * 1000, "notes.txt")
    grades = course.autograde(root, timeout=10, memory_gb=MEMORY_GB, progress=False)
    return root, {g.student: g for g in grades}


def test_every_student_gets_a_row_and_good_students_full_marks(fixture_run):
    root, grades = fixture_run
    assert len(grades) == 14
    for s in ("alice", "zoe", "deleted", "reordered", "renamed"):
        assert grades[s].score == grades[s].max_score == 5, (s, grades[s])
    for s in ("edited", "emptied", "invalid", "empty"):
        assert grades[s].score == 0, (s, grades[s])
    assert not grades["alice"].reason and not grades["zoe"].reason
    text = (root / "grades.csv").read_text()
    assert text.count("\n") == 15 and "invalid,00_fixture,0.0" in text
    table = course.grade_table(list(grades.values()))
    assert "loop / 00_fixture: test_mean_of_squares: timed out" in table


def test_grading_runs_on_cpu_with_one_thread(fixture_run):
    root, _ = fixture_run
    nb = json.loads((root / "autograded" / "alice" / FIXTURE / f"{FIXTURE}.ipynb").read_text())
    out = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "GRADING-ENV '' False 1" in out


@pytest.mark.parametrize("student, fn, words", [
    ("loop", "mean_of_squares", "timed out after 10 s"),
    ("exit", "mean_of_squares", "crashed the kernel"),
    ("segfault", "cosine", "crashed the kernel"),
    ("memory", "cosine", f"ran out of memory (cap {MEMORY_GB:g} GiB"),
])
def test_kernel_faults_cost_only_the_broken_part(fixture_run, student, fn, words):
    root, grades = fixture_run
    points = _points(root / "gradebook.db", FIXTURE, student)
    for gid, (score, top) in points.items():
        if gid.startswith("test_"):
            assert score == (0 if gid == f"test_{fn}" else top), (student, gid, score)
    assert words in grades[student].reason


@pytest.mark.parametrize("student, words", [
    ("deleted", "restored deleted cells: test_mean_of_squares, test_cosine, q_scale"),
    ("edited", "edited locked cells restored from the gradebook"),
    ("emptied", "edited locked cells restored from the gradebook"),
    ("reordered", "restored the release order"),
    ("renamed", "renamed notebook '00_fixture (1)-Copy1.ipynb' graded as 00_fixture.ipynb"),
    ("invalid", "is not valid JSON"),
    ("empty", "empty submission folder"),
    ("extra", "ignored extra files: notes.txt, sslcourse/__init__.py, sslcourse/grading.py"),
])
def test_repaired_and_ungradable_submissions_say_why(fixture_run, student, words):
    _, grades = fixture_run
    assert words in grades[student].reason, grades[student].reason


def test_a_shipped_package_cannot_switch_off_the_integrity_guard(fixture_run):
    root, grades = fixture_run
    points = _points(root / "gradebook.db", FIXTURE, "extra")
    assert points["test_mean_of_squares"][0] == 0 and points["test_cosine"] == (2.0, 2.0)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    names = real_assignments()
    if not names:
        pytest.skip("no assignment in solutions/ yet")
    name = names[0]
    root = make_course(tmp_path_factory.mktemp("realfaults"), [name])
    sol_path = root / "solutions" / name / f"{name}.ipynb"
    sol = json.loads(sol_path.read_text())
    order = _least_called(sol)
    kinds = ["loop", "exit", "memory", "segfault"]
    faulty, plan = sol, {}
    for fn, kind in zip(order, kinds):
        faulty, plan[fn] = _with_fault(faulty, fn, kind), kind
    sub = root / "submitted"
    _write(sub / "normal" / name, sol, f"{name}.ipynb")
    _write(sub / "faulty" / name, faulty, f"{name}.ipynb")
    _, reference = load_mutants(name)
    cheater, cheats = sol, {}
    for fn in graded_functions(sol):
        target = reference.get(fn) or infer_reference(sol, fn)
        if target:
            cheater, cheats[fn] = _replace_function(cheater, fn, cheater_source(sol, fn, target)), target
    if cheats:
        _write(sub / "cheater" / name, cheater, f"{name}.ipynb")
    grades = course.autograde(root, timeout=45, memory_gb=MEMORY_GB, progress=False, feedback=False)
    return root, name, sol, plan, cheats, {g.student: g for g in grades}


def test_real_assignment_kernel_faults_cost_only_the_broken_parts(real_run):
    root, name, sol, plan, _, grades = real_run
    assert grades["normal"].score == grades["normal"].max_score >= 10, grades["normal"]
    broken = {gid for fn in plan for gid in cells_testing(sol, fn)}
    points = _points(root / "gradebook.db", name, "faulty")
    for _, gid, _ in grade_cells(sol):
        score, top = points[gid]
        assert score == (0 if gid in broken else top), (gid, score, plan)
    assert 0 < grades["faulty"].score < grades["faulty"].max_score
    words = {"loop": "timed out", "exit": "crashed the kernel", "segfault": "crashed the kernel", "memory": "ran out of memory"}
    for kind in plan.values():
        assert words[kind] in grades["faulty"].reason, grades["faulty"].reason


def test_real_assignment_reference_callers_lose_every_part(real_run):
    root, name, sol, _, cheats, grades = real_run
    if not cheats:
        pytest.skip(f"tests/mutants/{name}.py has no REFERENCE and none could be inferred")
    points = _points(root / "gradebook.db", name, "cheater")
    for fn in cheats:
        assert any(points[gid][0] < points[gid][1] for gid in cells_testing(sol, fn)), (fn, points)
