"""What the notebooks share: budgets (a cell trains briefly under the autograder, longer on a GPU) and
the headline numbers each lecture reports for build/results.json.

Lectures and exercises size their training runs with ``pick(cpu=..., grading=..., gpu=...)``;
``is_autograding()`` tells a notebook that nbgrader is running it.
"""
from __future__ import annotations

import os
from typing import TypeVar

import torch

__all__ = ["is_autograding", "pick", "report_results", "collect_results", "RESULTS_MIME"]

T = TypeVar("T")


def is_autograding() -> bool:
    """True while nbgrader executes the notebook (it sets NBGRADER_EXECUTION for autograde/validate)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def pick(cpu: T, grading: T | None = None, gpu: T | None = None) -> T:
    """Choose a size for the context a notebook runs in.

    Under the autograder `grading` (training shrinks so that a submission grades in seconds),
    on a CUDA machine `gpu`, otherwise `cpu`. A missing choice falls back to `cpu`.

    Example: ``steps = pick(cpu=300, grading=20, gpu=5000)``
    """
    if is_autograding():
        return cpu if grading is None else grading
    if gpu is not None and torch.cuda.is_available():
        return gpu
    return cpu


# --------------------------------------------------------------------------- headline results
RESULTS_MIME = "application/vnd.sslcourse.results+json"


def report_results(lecture: str, metric: str, data: str, ssl: dict[str, float], baselines: dict[str, float],
                   higher_is_better: bool = True) -> dict:
    """Show a lecture's headline comparison and attach it to the cell's output, machine-readable.

    ``sslcourse render`` (and ``make course``) collects these from the executed lectures into
    ``build/results.json``: the numbers are those of the same run the lecture shows.

    Args:
        lecture: the notebook's name, e.g. ``"05_contrastive_simclr"``.
        metric: what the numbers are, e.g. ``"knn_top1"`` (fractions in [0, 1]) or ``"perplexity"``.
        data: the dataset and split they were measured on.
        ssl: the self-supervised model(s) -> value. ``baselines``: raw pixels, random init, ... -> value.
        higher_is_better: False for losses and perplexities.

    Returns:
        the record, also displayed (a one-line summary as text).
    """
    values = {**ssl, **baselines}
    bad = [k for k, v in values.items() if not isinstance(v, (int, float)) or v != v or v in (float("inf"), -float("inf"))]
    if bad:
        raise ValueError(f"report_results: values of {bad} are not finite numbers; pass plain floats.")
    if metric != "perplexity" and any(not 0.0 <= v <= 1.0 for v in values.values()):
        raise ValueError(f"report_results: {metric} values must be fractions in [0, 1], got {values}.")
    record = {"metric": metric, "data": data, "higher_is_better": higher_is_better,
              "ssl": {k: float(v) for k, v in ssl.items()}, "baselines": {k: float(v) for k, v in baselines.items()}}
    fmt = (lambda v: f"{v:.1%}") if metric != "perplexity" else (lambda v: f"{v:.2f}")
    text = (f"headline ({metric}, {data}): " + ", ".join(f"{k} {fmt(v)}" for k, v in ssl.items())
            + " | baselines: " + ", ".join(f"{k} {fmt(v)}" for k, v in baselines.items()))
    from IPython.display import display  # only inside a kernel

    display({"text/plain": text, RESULTS_MIME: {lecture: record}}, raw=True)
    return record


def collect_results(nb) -> dict:
    """The ``report_results`` records in the outputs of an executed notebook: ``{lecture: record}``."""
    out: dict = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            out.update(output.get("data", {}).get(RESULTS_MIME, {}))
    return out
