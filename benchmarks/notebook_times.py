"""Wall time of every lecture and solution notebook, executed top to bottom on this machine.

    .venv/bin/python benchmarks/notebook_times.py              # lectures and solutions
    .venv/bin/python benchmarks/notebook_times.py lectures/01_pretext_tasks.ipynb

Solutions are also timed with NBGRADER_EXECUTION=autograde (the shrunken training the grader runs).
Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from sslcourse import course

ROOT = Path(__file__).resolve().parents[1]


def main(paths: list[str]) -> None:
    notebooks = [Path(p).resolve() for p in paths] or sorted((ROOT / "lectures").glob("*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*/*.ipynb"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| notebook | mode | wall time (s) |\n|---|---|---|")
    for nb in notebooks:
        modes = [("normal", {})]
        if "solutions" in nb.parts:
            modes.append(("autograde", {"NBGRADER_EXECUTION": "autograde"}))
        for mode, env in modes:
            start = time.perf_counter()
            course.execute_notebook(nb, env=env)
            print(f"| {nb.relative_to(ROOT)} | {mode} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
