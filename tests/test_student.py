"""The student distribution (`sslcourse release` -> build/student/): complete, runnable, and leak-free.

- the package's graded reference bodies are stubs naming their exercise (unit tests of the stubber);
- the build holds what the student README promises, and nothing from solutions/, tests/ or docs/;
- no answer line (solution block, hidden test, model answer, package reference body) is in any file
  of it, checked by `sslcourse.course.leaks`, which must also catch deliberately leaky builds;
- every released exercise runs against the student package alone (the wheel, extracted, first on
  the path): completed with the solution code it runs without an error, and as released it fails
  only in the cells that need the student's code.
"""
from __future__ import annotations

import copy
import html
import json
import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from conftest import ROOT, real_assignments
from sslcourse.course import leaks, student
from sslcourse.course.common import STUB_MARK, CourseError, _gid



# ----------------------------------------------------------------------------- the stubber

MODULE = '''def f(x):
    """Doc."""
    check(x)
    # ### BEGIN SOLUTION
    y = x + 1
    return y
    # ### END SOLUTION


def g():
    return 2
'''


def test_stub_source_replaces_the_body_and_names_the_exercise(monkeypatch):
    monkeypatch.setitem(student.OWNERS, "m:f", "07_example")
    out = student.stub_source(MODULE, "m")
    assert "y = x + 1" not in out and "return y" not in out
    assert '"""Doc."""' in out and "check(x)" in out and "return 2" in out  # the rest is kept
    scope = {"check": lambda x: None}
    exec(compile(out, "m.py", "exec"), scope)
    with pytest.raises(NotImplementedError, match="m.f .*exercise 07_example"):
        scope["f"](1)
    assert scope["g"]() == 2


def test_stub_source_refuses_what_it_cannot_stub(monkeypatch):
    with pytest.raises(CourseError, match="no exercise"):
        student.stub_source(MODULE, "m")  # m:f is not in OWNERS
    monkeypatch.setitem(student.OWNERS, "m:f", "07_example")
    with pytest.raises(CourseError, match="unbalanced"):
        student.stub_source(MODULE.replace("    # ### END SOLUTION\n", ""), "m")
    with pytest.raises(CourseError, match="outside any function"):
        student.stub_source("# ### BEGIN SOLUTION\nx = 1\n# ### END SOLUTION\n", "m")


def test_owners_table_matches_the_package():
    found = set()
    for path in (ROOT / "sslcourse").rglob("*.py"):
        module = student.module_name(path, ROOT)
        found |= {f"{module}:{fn}" for _b, _e, fn in student.reference_blocks(path.read_text(), module)}
    assert found == set(student.OWNERS), (f"reference bodies without an exercise: {sorted(found - set(student.OWNERS))}; "
                                          f"stale OWNERS entries: {sorted(set(student.OWNERS) - found)}")
    assert set(student.OWNERS.values()) <= set(real_assignments())


# ----------------------------------------------------------------------------- the build

@pytest.fixture(scope="module")
def lectures(tmp_path_factory) -> Path:
    """Two lectures as HTML (not executed: the code cells are what matters here) and one deck."""
    out = tmp_path_factory.mktemp("lectures")
    for nb in sorted((ROOT / "lectures").glob("*.ipynb"))[:2]:
        body, _ = HTMLExporter().from_filename(str(nb))
        (out / f"{nb.stem}.html").write_text(body)
    shutil.copy(out / f"{nb.stem}.html", out / f"{nb.stem}.slides.html")
    (out / "results.json").write_text("{}")
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory, lectures) -> Path:
    return student.build_distribution(ROOT, out=tmp_path_factory.mktemp("student"), lectures=lectures)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_distribution_holds_what_students_need_and_nothing_else(dist, lectures):
    files = _files(dist)
    (wheel,) = [f for f in files if f.endswith(".whl")]
    assert wheel.startswith("sslcourse-") and "+student" in wheel
    assert "README.md" in files and wheel in (dist / "README.md").read_text()
    assert {f"exercises/{n}/{n}.ipynb" for n in real_assignments()} <= files
    assert {f for f in files if f.startswith("lectures/")} == {f"lectures/{p.name}" for p in lectures.glob("*.html")}
    for forbidden in ("solutions/", "tests/", "docs/", "gradebook", "nbgrader_config"):
        assert not [f for f in files if forbidden in f], f"{forbidden} reached the student build"
    assert oct((dist / "README.md").stat().st_mode & 0o777) == "0o644"
    with zipfile.ZipFile(dist.parent / f"{student.NAME}.zip") as z:
        assert {m[len(student.NAME) + 1:] for m in z.namelist() if not m.endswith("/")} == files
    with zipfile.ZipFile(dist / wheel) as z:
        members = z.namelist()
        assert "sslcourse/checkpoints/simclr_shapes.pt" in members and "sslcourse/course/student.py" in members
        nt_xent = z.read("sslcourse/losses/contrastive.py").decode()
        metadata = z.read(next(m for m in members if m.endswith("METADATA"))).decode()
    assert "is what you write in exercise 05_contrastive_simclr" in nt_xent
    assert "F.cross_entropy(logits.masked_fill" not in nt_xent  # the reference body of nt_xent
    assert "Requires-Dist: jupyterlab" in metadata and "Requires-Dist: nbgrader" in metadata


def test_distribution_leaks_no_answer(dist):
    assert leaks.find_leaks(dist, ROOT) == []
    assert leaks.find_leaks(dist.parent, ROOT) == []  # the zip too


def test_leak_check_catches_leaky_builds(dist, tmp_path):
    """The check must fail on a build that leaks: a reference module, a solution, an HTML page, a wheel."""
    leaky = tmp_path / "leaky"
    shutil.copytree(dist, leaky)
    shutil.copy(ROOT / "sslcourse" / "losses" / "contrastive.py", leaky / "notes.py")
    found = leaks.find_leaks(leaky, ROOT)
    assert {leak.file for leak in found} == {"notes.py"}
    assert any("masked_fill" in leak.text for leak in found)

    name = real_assignments()[3]
    solution = ROOT / "solutions" / name / f"{name}.ipynb"
    shutil.copy(solution, leaky / "exercises" / name / f"{name}.ipynb")  # a release that is the solution
    assert f"exercises/{name}/{name}.ipynb" in {leak.file for leak in leaks.find_leaks(leaky, ROOT)}

    hidden = next(line for cell in json.loads(solution.read_text())["cells"]
                  for line in leaks.split_blocks("".join(cell["source"]))[0] if len(line.strip()) > 30)
    page = leaky / "lectures" / "extra.html"  # nbconvert highlights code in spans: one per character here
    page.write_text("<pre>" + "".join(f'<span class="n">{html.escape(ch)}</span>' for ch in hidden) + "</pre>")
    assert "lectures/extra.html" in {leak.file for leak in leaks.find_leaks(leaky, ROOT)}

    wheel = next(leaky.glob("*.whl"))
    with zipfile.ZipFile(wheel, "a") as z:
        z.write(ROOT / "sslcourse" / "views.py", "sslcourse/views_full.py")
    assert f"{wheel.name}!sslcourse/views_full.py" in {leak.file for leak in leaks.find_leaks(leaky, ROOT)}


def test_a_leaky_build_is_refused_and_the_old_one_kept(dist, lectures, monkeypatch):
    before = _files(dist)
    monkeypatch.setattr(student, "stub_source", lambda source, module: source)  # a stubber that stubs nothing
    with pytest.raises(CourseError, match="would leak"):
        student.build_distribution(ROOT, out=dist.parent, lectures=lectures)
    assert _files(dist) == before
    assert {p.name for p in dist.parent.iterdir()} == {student.NAME, f"{student.NAME}.zip"}  # no temp folder left

# ----------------------------------------------------------------------------- the exercises run on it

@pytest.fixture(scope="module")
def student_package(dist, tmp_path_factory) -> Path:
    """The wheel's contents in a folder of their own: put first on PYTHONPATH, they hide this repository."""
    out = tmp_path_factory.mktemp("student-package")
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as z:
        z.extractall(out)
    return out


def _run(nb, package: Path, cwd: Path):
    check = nbformat.v4.new_code_cell(
        f"import sslcourse\nassert sslcourse.__file__.startswith({str(package)!r}), sslcourse.__file__")
    nb.cells.insert(0, check)
    env = dict(os.environ, PYTHONPATH=str(package), NBGRADER_EXECUTION="autograde", OMP_NUM_THREADS="1")
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    old = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return [(i, _gid(c), o.ename, o.evalue) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


def _completed(release, solution):
    """The release with every solution cell replaced by the solution's code: a perfect student."""
    answers = {_gid(c): c.source for c in solution.cells if _gid(c)}
    done = copy.deepcopy(release)
    for cell in done.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "\n".join(line for line in answers[_gid(cell)].splitlines()
                                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return done


@pytest.mark.slow
@pytest.mark.parametrize("name", real_assignments())
def test_exercise_runs_against_the_student_package(name, dist, student_package, tmp_path):
    release = nbformat.read(dist / "exercises" / name / f"{name}.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)

    errors = _run(_completed(release, solution), student_package, tmp_path)
    assert errors == [], f"{name}, completed with the solution code, fails on the student package: {errors}"

    errors = _run(copy.deepcopy(release), student_package, tmp_path)
    tests = {_gid(c) for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")
             and c.cell_type == "code"}
    assert tests <= {gid for _i, gid, _e, _v in errors}, f"{name}: a test passes with no code written"
    wrong = [e for e in errors if e[2] != "NotImplementedError" or STUB_MARK in e[3]]
    assert not wrong, f"{name} as released fails for a reason other than the student's own stubs: {wrong}"
