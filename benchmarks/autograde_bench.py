"""Autograding throughput: N generated submissions of one assignment, serial against --jobs J.

    python benchmarks/autograde_bench.py --assignment 00_fixture --n 100 --jobs 1 2
    python benchmarks/autograde_bench.py --assignment 01_pretext_tasks --n 4 --jobs 1
    python benchmarks/autograde_bench.py --assignment 03_next_token_prediction --n 30 --jobs 1 --plain

With --plain the same class is also graded by plain nbgrader (`nbgrader autograde` then
`nbgrader generate_feedback`, the course's nbgrader_config.py, no sandbox, no staging, no budget)
in a fresh copy, so the wrapper's overhead per submission is one ratio.

The class cycles through the solution, the blank release and every mutant of
tests/mutants/<assignment>.py (so the submissions fail in different places, as a real class does).
Each configuration grades the same class in a fresh scratch course (feedback included). Prints a
markdown table: wall seconds, seconds per submission, CPU seconds of the grading processes, and
the machine's load average before and after (the machine is shared: say so when quoting).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mutants import graded_functions, load_mutants, solution_notebook  # noqa: E402

from sslcourse import course  # noqa: E402


def make_class(dst: Path, name: str, n: int) -> Path:
    dst.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", dst / "nbgrader_config.py")
    shutil.copytree(solution_notebook(name).parent, dst / "solutions" / name)
    course.release(dst, [name])
    sol = json.loads(solution_notebook(name).read_text())
    blank = json.loads((dst / "exercises" / name / f"{name}.ipynb").read_text())
    fns = graded_functions(sol)
    variants = [sol, blank]
    for source in load_mutants(name)[0].values():
        fn = next((f for f in fns if f"def {f}(" in source or f"class {f}" in source), None)
        if fn is not None:
            nb = copy.deepcopy(sol)
            nb["cells"][fns[fn]]["source"] = source.strip() + "\n"
            variants.append(nb)
    for i in range(n):
        folder = dst / "submitted" / f"student{i:03d}" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.ipynb").write_text(json.dumps(variants[i % len(variants)]))
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="00_fixture")
    parser.add_argument("--n", type=int, default=100, help="submissions")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--plain", action="store_true", help="also grade the class with plain nbgrader")
    args = parser.parse_args()

    print(f"{args.n} submissions of {args.assignment}, {os.cpu_count()} cores\n")
    print("| jobs | wall s | s / submission | CPU s (grading processes) | load before -> after | scores |")
    print("|---|---|---|---|---|---|")
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            root = make_class(Path(tmp) / "course", args.assignment, args.n)
            load0 = os.getloadavg()[0]
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            grades = course.autograde(root, jobs=jobs, timeout=args.timeout)
            wall = time.perf_counter() - start
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            scores = sorted({g.score for g in grades if g.score is not None})
            print(f"| {jobs} | {wall:.0f} | {wall / args.n:.2f} | {cpu:.0f} | {load0:.1f} -> {os.getloadavg()[0]:.1f} "
                  f"| {len(grades)} graded, distinct scores {scores} |", flush=True)
    if args.plain:
        with tempfile.TemporaryDirectory() as tmp:
            root = make_class(Path(tmp) / "course", args.assignment, args.n)  # release: gradebook recorded
            env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
                       PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
            load0 = os.getloadavg()[0]
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            for step in ("autograde", "generate_feedback"):
                subprocess.run([sys.executable, "-m", "nbgrader", step, args.assignment, "--force",
                                f"--Execute.timeout={args.timeout}", "--log-level=WARN"],
                               cwd=root, env=env, check=True, capture_output=True)
            wall = time.perf_counter() - start
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            graded = len(list((root / "autograded").glob(f"*/{args.assignment}")))
            print(f"| plain nbgrader | {wall:.0f} | {wall / args.n:.2f} | {cpu:.0f} | {load0:.1f} -> "
                  f"{os.getloadavg()[0]:.1f} | {graded} graded |", flush=True)


if __name__ == "__main__":
    main()
