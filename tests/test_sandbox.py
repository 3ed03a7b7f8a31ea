"""The grading sandbox (sslcourse/course/sandbox.py): hostile submissions reach nothing and harm nobody.

Each hostile student of the fixture assignment submits the solution with one graded function
that first reaches for something grading hides (the solutions, the gradebook, the other
students' folders, the network, a course file) and raises if it got nothing. Inside the sandbox
every attempt fails in the kernel: that test cell scores 0, the TA's reason line names the cell
and the error, the good students keep full marks and the course files are untouched. Two students
of a real assignment try what no sandbox can stop, only a package without the answers: switching
off the integrity guard to call the reference, and pasting the reference with
`exec(inspect.getsource(...))`.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from conftest import make_course
from mutants import graded_functions
from sslcourse import course
from sslcourse.course import kernel_launcher, sandbox

pytestmark = pytest.mark.xdist_group("grading")
FIXTURE = "00_fixture"
BWRAP, NO_SANDBOX = sandbox.find_bwrap()

# {student: the body that runs first in mean_of_squares}; ROOT is the course folder's absolute path.
ATTACKS = {
    "reads_solutions": "print(open(ROOT + '/solutions/00_fixture/00_fixture.ipynb').read()[:100])",
    "reads_solutions_relative": "import glob\nfound = glob.glob('../../../../solutions/*') + glob.glob('../../../solutions/*')\n"
                                "if not found: raise FileNotFoundError('no solutions/ near ' + __import__('os').getcwd())",
    "opens_gradebook": "import sqlite3\ndb = sqlite3.connect('file:' + ROOT + '/gradebook.db?mode=ro', uri=True)\n"
                       "print(db.execute('select count(*) from grade').fetchall())",
    "opens_shard_gradebook": "import sqlite3\ndb = sqlite3.connect('file:../../../gradebook.db?mode=ro', uri=True)\n"
                             "print(db.execute('select count(*) from grade').fetchall())",
    "lists_students": "import os\nmine = os.path.basename(os.path.dirname(os.getcwd()))\n"
                      "others = [s for s in os.listdir('../..') if s != mine]\n"
                      "others += [s for s in os.listdir(ROOT + '/submitted') if s != mine]",
    "opens_socket": "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2).close()",
    "overwrites_course": "open(ROOT + '/nbgrader_config.py', 'a').write('# pwned')",
}


def _hostile(solution: dict, body: str, root: Path) -> dict:
    nb = copy.deepcopy(solution)
    cell = nb["cells"][graded_functions(nb)["mean_of_squares"]]
    lines = f"ROOT = {str(root)!r}\n{body}".splitlines()
    cell["source"] = ("def mean_of_squares(x):\n" + "".join(f"    {line}\n" for line in lines)
                      + "    return (x * x).mean()\n")
    return nb


def test_kernel_command_hides_everything_but_the_submission(tmp_path):
    argv = kernel_launcher.bwrap_argv("/usr/bin/bwrap", "/tmp/x/autograded/ann/01", "/tmp/sslk-1", "/tmp/pkg",
                                      ["/opt/venv"], ["/opt/venv/lib/site-packages/sslcourse"])
    pairs = {(argv[i], argv[i + 1]) for i in range(len(argv) - 1)}
    assert {("--bind", "/tmp/x/autograded/ann/01"), ("--ro-bind", "/tmp/pkg"), ("--ro-bind", "/opt/venv"),
            ("--bind", "/tmp/sslk-1"), ("--tmpfs", "/opt/venv/lib/site-packages/sslcourse"),
            ("--uid", "65534"), ("--unsetenv", "JPY_PARENT_PID")} <= pairs
    assert "--unshare-all" in argv and "--die-with-parent" in argv
    binds = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--bind", "--ro-bind")]
    assert "/" not in binds and "/tmp" not in binds and "/tmp/x" not in binds  # never a parent of the course


def test_no_bubblewrap_is_one_clear_reason(monkeypatch):
    path, why = sandbox.find_bwrap("no-such-bwrap")
    assert path == "" and "bubblewrap (no-such-bwrap) is not installed" in why and "apt install bubblewrap" in why
    monkeypatch.setenv("SSLCOURSE_SANDBOX", "off")
    assert sandbox.find_bwrap() == ("", "switched off (SSLCOURSE_SANDBOX=off)")


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    if NO_SANDBOX:
        pytest.skip(f"no grading sandbox on this machine: {NO_SANDBOX}")
    root = make_course(tmp_path_factory.mktemp("hostile"), [FIXTURE])
    course.release(root)
    solution = json.loads((root / "solutions" / FIXTURE / f"{FIXTURE}.ipynb").read_text())
    for student, body in ATTACKS.items():
        folder = root / "submitted" / student / FIXTURE
        folder.mkdir(parents=True)
        (folder / f"{FIXTURE}.ipynb").write_text(json.dumps(_hostile(solution, body, root)))
    for student in ("alice", "bob"):
        shutil.copytree(root / "solutions" / FIXTURE, root / "submitted" / student / FIXTURE)
    config = (root / "nbgrader_config.py").read_text()
    grades = course.autograde(root, timeout=30, progress=False, feedback=False)
    return root, {g.student: g for g in grades}, config


def test_the_check_bodies_succeed_without_a_sandbox(tmp_path):
    """The attacks are real: run unsandboxed where the course is visible, each one gets through."""
    root = make_course(tmp_path, [FIXTURE])
    (root / "gradebook.db").write_bytes(b"")
    (root / "submitted" / "ann").mkdir(parents=True)
    for student in ("reads_solutions", "lists_students", "overwrites_course"):
        exec(f"ROOT = {str(root)!r}\n" + ATTACKS[student], {})
    assert (root / "nbgrader_config.py").read_text().endswith("# pwned")


@pytest.mark.slow
def test_hostile_submissions_fail_inside_the_kernel_and_harm_nobody(hostile_class):
    root, grades, config = hostile_class
    assert grades["alice"].score == grades["bob"].score == 5 and not grades["alice"].reason
    for student in ATTACKS:
        g = grades[student]
        assert g.score == 2, (student, g)  # test_mean_of_squares (3 points) lost, test_cosine (2) kept
        assert "reached outside its sandbox" in g.reason and "test_mean_of_squares" in g.reason, (student, g.reason)
    assert (root / "nbgrader_config.py").read_text() == config
    assert "ConnectionRefusedError" in grades["opens_socket"].reason or "OSError" in grades["opens_socket"].reason


# ----------------------------------------------------------------------------- no sandbox can stop these

REAL = "05_contrastive_simclr"
CHEATS = {  # cosine_similarity_matrix (exercise 05) replaced by the package's reference, two ways
    "patches_guard": ("import contextlib, sslcourse.grading\n"
                      "sslcourse.grading.forbid_calls = lambda *a, **k: contextlib.nullcontext()\n"
                      "from sslcourse.losses.contrastive import cosine_similarity_matrix as _ref\n"
                      "def cosine_similarity_matrix(a, b=None, temperature=1.0):\n"
                      "    return _ref(a, b, temperature)\n"),
    "pastes_reference": ("import inspect, textwrap, torch, torch.nn.functional as F\n"
                         "import sslcourse.losses.contrastive as _c\n"
                         "exec(textwrap.dedent(inspect.getsource(_c.cosine_similarity_matrix)))\n"),
}


@pytest.mark.slow
def test_the_reference_is_not_in_the_grading_kernel(tmp_path, capsys, monkeypatch):
    """Both cheats lose exactly the cells of that function, with or without bubblewrap (here: without,
    which also checks that grading runs and says so in one line)."""
    monkeypatch.setattr(sandbox, "BWRAP", "no-such-bwrap")
    root = make_course(tmp_path, [REAL])
    course.release(root)
    solution = json.loads((root / "solutions" / REAL / f"{REAL}.ipynb").read_text())
    index = graded_functions(solution)["cosine_similarity_matrix"]
    for student, source in CHEATS.items():
        nb = copy.deepcopy(solution)
        nb["cells"][index]["source"] = source
        folder = root / "submitted" / student / REAL
        folder.mkdir(parents=True)
        (folder / f"{REAL}.ipynb").write_text(json.dumps(nb))
    shutil.copytree(root / "solutions" / REAL, root / "submitted" / "honest" / REAL)
    grades = {g.student: g for g in course.autograde(root, progress=False, feedback=False)}
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("grading sandbox:")]
    assert len(warnings) == 1 and "bubblewrap (no-such-bwrap) is not installed" in warnings[0]
    full = grades["honest"].max_score
    assert grades["honest"].score == full
    for student in CHEATS:
        assert grades[student].score < full, (student, grades[student])
        assert "called the course's reference" in grades[student].reason, (student, grades[student].reason)
        assert "sslcourse.losses.contrastive.cosine_similarity_matrix" in grades[student].reason
        assert grades[student].score == grades["patches_guard"].score  # the same cells lost, nothing else
