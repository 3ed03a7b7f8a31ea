"""The student distribution: what a class receives instead of this repository.

This repository holds every answer: `solutions/` (reference code and hidden tests) and, inside
the package, the reference body of every graded function, between `# ### BEGIN SOLUTION` and
`# ### END SOLUTION` comment lines. Students get none of it. `build_distribution` makes

    build/student/sslcourse-student/
        README.md                                 install, JupyterLab, Validate, submit
        sslcourse-<version>+student-py3-none-any.whl
        exercises/NN_topic/NN_topic.ipynb          the nbgrader release (stubs, no hidden tests)
        lectures/                                  the rendered lectures (HTML, slides), if rendered
        vendor/                                    reveal.js and MathJax for them (offline)
    build/student/sslcourse-student.zip          the same folder, one file to upload to the LMS

The wheel is the package with each graded reference body replaced by
``raise NotImplementedError("... exercise NN_topic ...")``: everything else (networks, data, the
shipped checkpoints, the demos' helpers) is as in the full package, so the exercises run against
it. `sslcourse.course.leaks` proves that nothing of an answer reached any file of the build.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from sslcourse.course.common import PACKAGE, STUB_MARK, CourseError, _course_root, _rmtree, assignments
from sslcourse.course.leaks import find_leaks
from sslcourse.utils import atomic_write

BEGIN, END = "# ### BEGIN SOLUTION", "# ### END SOLUTION"
NAME = "sslcourse-student"

# Which exercise each graded reference body of the package belongs to ("module:function").
# A marked body missing here stops the build (tests/test_student.py keeps the table complete).
OWNERS = {
    "sslcourse.pretext.rotation:rotate_batch": "01_pretext_tasks",
    "sslcourse.pretext.patches:patch_pair_positions": "01_pretext_tasks",
    "sslcourse.pretext.colorization:rgb_to_gray": "01_pretext_tasks",
    "sslcourse.pretext.colorization:quantize_ab": "01_pretext_tasks",
    "sslcourse.evaluate:linear_probe": "01_pretext_tasks",
    "sslcourse.text:mask_tokens": "02_masked_language_modelling",
    "sslcourse.text:bert_inputs": "02_masked_language_modelling",
    "sslcourse.transformer:scaled_dot_product_attention": "02_masked_language_modelling",
    "sslcourse.bert:mlm_loss": "02_masked_language_modelling",
    "sslcourse.bert:nsp_loss": "02_masked_language_modelling",
    "sslcourse.gpt:next_token_loss": "03_next_token_prediction",
    "sslcourse.gpt:sample_next": "03_next_token_prediction",
    "sslcourse.evaluate:collapse_std": "04_joint_embeddings_and_collapse",
    "sslcourse.ema:ema_update": "04_joint_embeddings_and_collapse",
    "sslcourse.losses.joint:byol": "04_joint_embeddings_and_collapse",
    "sslcourse.losses.joint:variance_term": "04_joint_embeddings_and_collapse",
    "sslcourse.losses.joint:covariance_term": "04_joint_embeddings_and_collapse",
    "sslcourse.losses.joint:vicreg_terms": "04_joint_embeddings_and_collapse",
    "sslcourse.losses.joint:vicreg": "04_joint_embeddings_and_collapse",
    "sslcourse.losses.contrastive:cosine_similarity_matrix": "05_contrastive_simclr",
    "sslcourse.losses.contrastive:nt_xent_loop": "05_contrastive_simclr",
    "sslcourse.losses.contrastive:nt_xent": "05_contrastive_simclr",
    "sslcourse.views:apply": "05_contrastive_simclr",
    "sslcourse.views:__call__": "05_contrastive_simclr",
    "sslcourse.evaluate:extract_features": "05_contrastive_simclr",
    "sslcourse.evaluate:knn_accuracy": "05_contrastive_simclr",
    "sslcourse.losses.clip:clip_loss": "06_clip_zero_shot",
}


def module_name(path: Path, package_root: Path) -> str:
    """sslcourse/losses/joint.py -> sslcourse.losses.joint (package_root is the folder above sslcourse/)."""
    parts = path.relative_to(package_root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def reference_blocks(source: str, where: str = "<source>") -> list[tuple[int, int, str]]:
    """The graded reference bodies of one module: (begin line, end line, function name), 1-based."""
    lines = source.splitlines()
    begins = [i + 1 for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i + 1 for i, line in enumerate(lines) if line.strip() == END]
    if len(begins) != len(ends) or any(b >= e for b, e in zip(begins, ends)) \
            or any(e >= b for e, b in zip(ends, begins[1:])):
        raise CourseError(f"{where}: unbalanced `{BEGIN}` / `{END}` lines (begins at {begins}, ends at {ends}); "
                          "every reference body needs exactly one of each, in order")
    functions = [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    blocks = []
    for b, e in zip(begins, ends):
        around = [f for f in functions if f.lineno < b <= f.end_lineno]  # the END comment is past end_lineno
        if not around:
            raise CourseError(f"{where}:{b}: a reference body outside any function; only function bodies can be stubbed")
        blocks.append((b, e, max(around, key=lambda f: f.lineno).name))  # the innermost function
    return blocks


def stub_source(source: str, module: str) -> str:
    """`source` with each reference body replaced by one line that raises NotImplementedError."""
    lines = source.splitlines(keepends=True)
    for begin, end, function in reversed(reference_blocks(source, module)):
        owner = OWNERS.get(f"{module}:{function}")
        if owner is None:
            raise CourseError(f"{module}.{function} has a reference body but no exercise in "
                              "sslcourse.course.student.OWNERS; add it there")
        indent = lines[begin - 1][: len(lines[begin - 1]) - len(lines[begin - 1].lstrip())]
        message = (f"{module}.{function} {STUB_MARK}: it is what you write in "
                   f"exercise {owner}")
        lines[begin - 1:end] = [f"{indent}raise NotImplementedError({message!r})\n"]
    return "".join(lines)


def copy_package(src: Path, dst: Path) -> int:
    """Copy the package src/ (the sslcourse folder) to dst/, stubbing every .py; return the bodies stubbed."""
    stubbed = 0
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if {"__pycache__", "node_modules"} & set(rel.parts) or path.suffix in {".pyc", ".tmp"} or path.is_dir():
            continue
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            source = path.read_text()
            module = module_name(path, src.parent)
            stubbed += len(reference_blocks(source, module))
            out.write_text(stub_source(source, module))
        else:
            shutil.copy2(path, out)
    return stubbed


def _student_pyproject(root: Path) -> str:
    """pyproject.toml of the student wheel: the package's own dependencies plus JupyterLab and nbgrader."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).get("dev", [])
    notebook = [d for d in extras if d.split(">")[0].split("=")[0] in {"jupyterlab", "nbgrader", "ipykernel"}]
    deps = ",\n    ".join(f'"{d}"' for d in project["dependencies"] + notebook)
    return f'''[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "sslcourse"
version = "{project["version"]}+student"
description = "sslcourse, student build: graded functions are left for the exercises"
requires-python = "{project.get("requires-python", ">=3.10")}"
dependencies = [
    {deps},
]

[tool.setuptools.packages.find]
include = ["sslcourse*"]

[tool.setuptools.package-data]
sslcourse = ["checkpoints/*"]
'''


def build_wheel(out_dir: str | os.PathLike, package: Path = PACKAGE) -> Path:
    """Build the student wheel of `package` (the sslcourse folder of a source checkout) into out_dir.

    Offline: pip without build isolation, the checkout's pyproject.toml for the version and dependencies.
    """
    out_dir, root = Path(out_dir), package.parent
    if not (root / "pyproject.toml").is_file():
        raise CourseError(f"no pyproject.toml beside {package}: the student wheel is built from a source "
                          "checkout of sslcourse (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="sslcourse-student-") as tmp:
        stage = Path(tmp)
        if copy_package(package, stage / "sslcourse") < len(OWNERS):
            raise CourseError("the package has fewer reference bodies than sslcourse.course.student.OWNERS "
                              "lists; remove the stale entries")
        (stage / "pyproject.toml").write_text(_student_pyproject(root))
        wheels = stage / "dist"
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--no-index", "-q", "-w", str(wheels), str(stage)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise CourseError("building the student wheel failed (pip wheel): "
                              + (proc.stderr.strip().splitlines() or ["no output"])[-1]
                              + "; is setuptools installed (`make install`)?")
        (wheel,) = wheels.glob("*.whl")
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(out_dir / wheel.name) as tmp_wheel:
            shutil.copyfile(wheel, tmp_wheel)
    return out_dir / wheel.name


STUDENT_README = """# Self-supervised learning: your course files

This folder is everything you need for the exercises:

- `exercises/NN_topic/NN_topic.ipynb`: the six assignments, in the order of the lectures.
- `lectures/`: the lectures, rendered (open the `.html` files in a browser; `.slides.html` are the decks;
  they work offline with `vendor/` beside them).
- `{wheel}`: the course's Python package, `sslcourse`. The functions you write in an exercise
  are not in it: calling one raises `NotImplementedError` naming its exercise.

## Install (once)

Python 3.10 or newer. In a terminal, in this folder:

    python3 -m venv .venv
    source .venv/bin/activate        # Windows: .venv\\Scripts\\activate
    pip install {wheel}

This installs PyTorch, JupyterLab and the nbgrader extension from the package index.

## Work on an exercise

    jupyter lab exercises/

Open the assignment's notebook, run it top to bottom, and write your code where it says
`# YOUR CODE HERE` (delete the `raise NotImplementedError()` line). Free-text answers go where
it says `YOUR ANSWER HERE`. Each test cell checks your function on small examples; the grader
runs more tests that you do not see, so make your function right in general, not only for the
visible examples. Do not edit the test cells (they are locked), and do not rename the notebook.

Before you submit: *Kernel -> Restart Kernel and Run All Cells*, then the **Validate** button in
the notebook's toolbar (nbgrader's extension). Validate runs the visible tests and tells you
which fail.

## Submit

Upload the notebook file `NN_topic.ipynb` itself (not a copy with another name, not a zip of
the folder unless your instructor asks for one) where your course's LMS says. You get back
a feedback page: each test's name, its points, and the error your code raised.
"""


def build_distribution(root: str | os.PathLike = ".", out: str | os.PathLike | None = None,
                       lectures: str | os.PathLike | None = None) -> Path:
    """Build build/student/: the student folder and its zip (see the module docstring); return the folder.

    `lectures` is the folder of rendered lectures (default build/lectures; left out, with a
    line saying so, if it was never rendered). The build is checked for leaked answers before
    it replaces the previous one: a leak raises CourseError and leaves the old build in place.
    """
    root = _course_root(root)
    out = Path(out) if out else root / "build" / "student"
    lectures = Path(lectures) if lectures else root / "build" / "lectures"
    names = assignments(root, "exercises")
    if not names:
        raise CourseError(f"no released exercises in {root / 'exercises'}; run `sslcourse release` first")
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{NAME}.", dir=out)) / NAME
    try:
        wheel = build_wheel(stage)
        for name in names:
            shutil.copytree(root / "exercises" / name, stage / "exercises" / name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        rendered = sorted(lectures.glob("*.html")) if lectures.is_dir() else []
        if rendered:
            shutil.copytree(lectures, stage / "lectures", ignore=shutil.ignore_patterns("*.json", ".*"))
            if (lectures.parent / "vendor").is_dir():  # the pages load reveal.js and MathJax from ../vendor/
                shutil.copytree(lectures.parent / "vendor", stage / "vendor")
        else:
            print(f"student build: no rendered lectures in {lectures} (run `make lectures`, then `make release`)")
        (stage / "README.md").write_text(STUDENT_README.format(wheel=wheel.name))
        leaks = find_leaks(stage, root, PACKAGE)
        if leaks:
            raise CourseError(f"the student build would leak {len(leaks)} answer line(s), e.g. "
                              + "; ".join(str(leak) for leak in leaks[:3]) + "; nothing was written")
        archive = shutil.make_archive(str(stage.parent / NAME), "zip", root_dir=stage.parent, base_dir=NAME)
        for path in [stage, *stage.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if (out / NAME).exists():
            _rmtree(out / NAME)
        os.replace(stage, out / NAME)
        os.replace(archive, out / f"{NAME}.zip")
        os.chmod(out / f"{NAME}.zip", 0o644)
    finally:
        if stage.parent.exists():
            _rmtree(stage.parent)
    return out / NAME
