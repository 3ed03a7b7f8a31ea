"""Hidden-test strength and integrity, checked in-process (no kernel per wrong answer).

For an assignment `NN_topic`, `tests/mutants/NN_topic.py` defines

    MUTANTS = {"short_name": '''def graded_fn(...): ...a plausible student mistake...'''}
    REFERENCE = {"graded_fn": "sslcourse.module:function"}   # optional: the package's answer

`Harness(name)` executes the source notebook's non-test code cells once, in one namespace, with
NBGRADER_EXECUTION=autograde set (as the autograder does), then runs every grade cell (visible and
hidden tests) against: the solution (must score full marks), each mutant swapped in for its
function, and, for each graded function, a "cheater" whose body only calls the package's
reference (integrity: must lose that part's points). Where REFERENCE lacks a function, the
reference is inferred from the hidden test's `forbid_calls("sslcourse.X")` and a same-named
function in sslcourse.X.

    python -m tests.mutants [NN_topic ...]     # the markdown tables of docs/grading.md
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import json
import os
import re
import signal
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "course" / "solutions"
CELL_LIMIT_S = 120  # an in-process cell running longer than this fails (a wrong answer that hangs)


def assignments() -> list[str]:
    """Every assignment with a mutants file: the fixture and the topics in solutions/."""
    names = ["00_fixture"]
    src = ROOT / "solutions"
    if src.is_dir():
        names += sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    return names


def solution_notebook(name: str) -> Path:
    folder = FIXTURE / name if name == "00_fixture" else ROOT / "solutions" / name
    return folder / f"{name}.ipynb"


def load_mutants(name: str) -> tuple[dict[str, str], dict[str, str]]:
    """MUTANTS and REFERENCE of tests/mutants/<name>.py ({} when the file or the name is missing)."""
    path = Path(__file__).with_name(f"{name}.py")
    if not path.is_file():
        return {}, {}
    spec = importlib.util.spec_from_file_location(f"_mutants_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "MUTANTS", {})), dict(getattr(module, "REFERENCE", {}))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def defined_names(source: str) -> list[str]:
    """Top-level functions and classes a piece of source defines."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def used_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def graded_functions(nb: dict) -> dict[str, int]:
    """{function or class name: index of the solution cell that defines it}."""
    out = {}
    for i, cell in enumerate(nb["cells"]):
        meta = _nbgrader(cell)
        if cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade"):
            for fn in defined_names(_source(cell)):
                out.setdefault(fn, i)
    return out


def grade_cells(nb: dict) -> list[tuple[int, str, float]]:
    """(index, grade_id, points) of the autograded test cells."""
    return [(i, _nbgrader(c)["grade_id"], float(_nbgrader(c).get("points", 0))) for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code" and _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")]


def cells_testing(nb: dict, fn: str) -> list[str]:
    """grade_ids of the test cells that use `fn`."""
    return [gid for i, gid, _ in grade_cells(nb) if fn in used_names(_source(nb["cells"][i]))]


def infer_reference(nb: dict, fn: str) -> str | None:
    """'module:attr' of the package function that `fn`'s hidden tests forbid, if it has the same name."""
    for i, gid, _ in grade_cells(nb):
        source = _source(nb["cells"][i])
        if fn not in used_names(source):
            continue
        for module in re.findall(r"forbid_calls\(([^)]*)\)", source):
            for mod in re.findall(r"[\"']([\w.]+)[\"']", module):
                try:
                    if hasattr(importlib.import_module(mod), fn):
                        return f"{mod}:{fn}"
                except ImportError:
                    continue
    return None


def cheater_source(nb: dict, fn: str, target: str) -> str:
    """Source of `fn` (same signature) whose body only calls the package's `target`.

    `target` is 'module:function' (called with the graded function's own arguments) or
    'module:function(ARGS)' with a call written in the graded function's parameter names, for a
    reference whose signature differs, e.g. 'sslcourse.text:bert_inputs(a, b, vocab=VOCAB)'.
    """
    module, attr = target.split(":", 1)
    if "(" in attr:
        name = attr.split("(", 1)[0].strip()
        call = "_reference" + attr[len(name):].strip()
        attr = name
    else:
        call = None
    cell = nb["cells"][graded_functions(nb)[fn]]
    node = next(n for n in ast.parse(_source(cell)).body if getattr(n, "name", None) == fn)
    if isinstance(node, ast.ClassDef):
        return f"from {module} import {attr} as _reference\n\nclass {fn}(_reference):\n    pass\n"
    a = node.args
    if call is None:
        args = [x.arg for x in a.posonlyargs + a.args]
        args += [f"*{a.vararg.arg}"] if a.vararg else []
        args += [f"{x.arg}={x.arg}" for x in a.kwonlyargs]
        args += [f"**{a.kwarg.arg}"] if a.kwarg else []
        call = f"_reference({', '.join(args)})"
    return (f"def {fn}({ast.unparse(a)}):\n    from {module} import {attr} as _reference\n"
            f"    return {call}\n")


@dataclass
class Outcome:
    """Points a wrong answer lost: total and the test cells it failed (with the first error)."""

    name: str
    function: str
    lost: float
    failed: list[str] = field(default_factory=list)
    error: str = ""


class _CellTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int):
    if threading_main() and hasattr(signal, "SIGALRM"):
        def handler(signum, frame):
            raise _CellTimeout(f"cell ran past {seconds} s")
        old = signal.signal(signal.SIGALRM, handler)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    else:
        yield


def threading_main() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _runnable(source: str) -> str:
    """Drop IPython magics and shell escapes, which plain exec cannot run."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


class Harness:
    """One assignment's source notebook, executed once; then its tests against any function swap."""

    def __init__(self, name: str, path: Path | None = None):
        self.name = name
        self.path = path or solution_notebook(name)
        self.nb = json.loads(self.path.read_text())
        self.functions = graded_functions(self.nb)
        self.tests = grade_cells(self.nb)
        self.ns: dict = {"__name__": "__main__"}
        self.setup_errors: list[str] = []
        start = time.perf_counter()
        with self._context():
            try:
                from IPython.display import display
                self.ns["display"] = display
            except ImportError:
                pass
            test_ids = {i for i, _, _ in self.tests}
            for i, cell in enumerate(self.nb["cells"]):
                if cell["cell_type"] == "code" and i not in test_ids:
                    err = self._exec(_source(cell))
                    if err:
                        self.setup_errors.append(f"cell {i} ({_nbgrader(cell).get('grade_id', '-')}): {err}")
        self.setup_seconds = time.perf_counter() - start

    @contextlib.contextmanager
    def _context(self):
        old_env, old_cwd = dict(os.environ), os.getcwd()
        os.environ.update(NBGRADER_EXECUTION="autograde", MPLBACKEND="Agg")
        os.chdir(self.path.parent)
        try:
            import matplotlib
            matplotlib.use("Agg", force=True)
        except ImportError:
            pass
        try:
            yield
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)

    def _exec(self, source: str) -> str:
        """Run source in the namespace; '' on success, else 'ErrorName: message'."""
        try:
            with _time_limit(CELL_LIMIT_S), contextlib.redirect_stdout(open(os.devnull, "w")):
                exec(compile(_runnable(source), f"<{self.name}>", "exec"), self.ns)
            return ""
        except BaseException as err:  # noqa: BLE001 - a wrong answer may raise anything
            if isinstance(err, KeyboardInterrupt):
                raise
            return f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
        finally:
            try:
                import matplotlib.pyplot as plt
                plt.close("all")
            except ImportError:
                pass

    def run_tests(self, replacement: str | None = None) -> tuple[float, list[str], str]:
        """Run the test cells (with hidden tests) after swapping in `replacement` source.

        Only the test cells that use a function the replacement defines are run (the others
        cannot change); all of them when it defines none of the graded functions, or for the
        solution (`replacement` None). Returns (points lost, failed grade_ids, first error).
        The namespace is restored afterwards.
        """
        tests = self.tests
        if replacement is not None:
            touched = {gid for fn in defined_names(replacement) for gid in cells_testing(self.nb, fn)}
            tests = [t for t in self.tests if t[1] in touched] or self.tests
        saved = dict(self.ns)
        lost, failed, first = 0.0, [], ""
        with self._context():
            try:
                if replacement is not None:
                    err = self._exec(textwrap.dedent(replacement))
                    if err:
                        return sum(p for _, _, p in tests), [g for _, g, _ in tests], f"mutant: {err}"
                for i, gid, points in tests:
                    err = self._exec(_source(self.nb["cells"][i]))
                    if err:
                        lost += points
                        failed.append(gid)
                        first = first or f"{gid}: {err}"
            finally:
                self.ns.clear()
                self.ns.update(saved)
        return lost, failed, first

    def mutant_outcomes(self, mutants: dict[str, str]) -> list[Outcome]:
        out = []
        for key, source in mutants.items():
            fns = [n for n in defined_names(source) if n in self.functions] or defined_names(source)
            lost, failed, err = self.run_tests(source)
            out.append(Outcome(key, ", ".join(fns), lost, failed, err))
        return out

    def cheater_outcomes(self, reference: dict[str, str]) -> tuple[list[Outcome], list[str]]:
        """Integrity: each graded function replaced by a call to the package's reference.

        Returns the outcomes and the graded functions for which no reference is known.
        """
        out, unknown = [], []
        for fn in self.functions:
            target = reference.get(fn) or infer_reference(self.nb, fn)
            if target is None:
                unknown.append(fn)
                continue
            lost, failed, err = self.run_tests(cheater_source(self.nb, fn, target))
            out.append(Outcome(f"calls {target}", fn, lost, failed, err))
        return out, unknown


def report(name: str) -> str:
    """The markdown section of docs/grading.md for one assignment."""
    mutants, reference = load_mutants(name)
    h = Harness(name)
    base_lost, base_failed, base_err = h.run_tests()
    total = sum(p for _, _, p in h.tests)
    lines = [f"### {name}", "",
             f"{len(h.functions)} graded functions, {len(h.tests)} test cells, {total:g} autograded points; "
             f"setup (non-test cells, in-process) {h.setup_seconds:.1f} s. Solution loses {base_lost:g} points"
             + (f" ({base_err})" if base_err else "") + ".", ""]
    outcomes = h.mutant_outcomes(mutants)
    caught = sum(o.lost > 0 for o in outcomes)
    lines += [f"Mutants caught: **{caught} / {len(outcomes)}**", "",
              "| mutant | function | points lost | failed cells |", "|---|---|---|---|"]
    lines += [f"| {o.name} | {o.function} | {o.lost:g} / {total:g} | {', '.join(o.failed) or '**none: survived**'} |"
              for o in outcomes]
    untested = [fn for fn in h.functions if not any(fn in o.function.split(", ") for o in outcomes)]
    if untested:
        lines += ["", f"Graded functions without a mutant: {', '.join(untested)}."]
    cheats, unknown = h.cheater_outcomes(reference)
    lines += ["", "Integrity (the function only calls the package's reference):", "",
              "| function | reference | points lost | failed cells | why (guard = forbid_calls caught it) |", "|---|---|---|---|---|"]
    lines += [f"| {o.function} | `{o.name[6:]}` | {o.lost:g} | {', '.join(o.failed) or '**none: passes**'} "
              f"| {'guard' if 'integrity check' in o.error else o.error[:80].replace('|', '/')} |" for o in cheats]
    weak = [o.function for o in cheats if o.lost > 0 and "integrity check" not in o.error]
    if weak:
        lines += ["", f"Lost points, but not through the integrity guard (the call does not fit the reference's "
                      f"signature; give REFERENCE a call, 'module:function(args)'): {', '.join(weak)}."]
    if unknown:
        lines += ["", f"No reference known (add REFERENCE to tests/mutants/{name}.py): {', '.join(unknown)}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    names = (argv if argv is not None else sys.argv[1:]) or assignments()
    for name in names:
        print(report(name), end="\n\n", flush=True)
    return 0
