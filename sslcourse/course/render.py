"""Render: execute the lecture notebooks and write HTML and reveal.js slides (nbconvert)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sslcourse.course.common import CourseError, read_notebook
from sslcourse.notebook import collect_results
from sslcourse.utils import atomic_write


def execute_notebook(path: str | os.PathLike, timeout: int = 600, env: dict | None = None):
    """Execute a notebook top to bottom in its own folder; return the executed notebook (not saved)."""
    from nbclient import NotebookClient

    nb = read_notebook(path)
    old_env = dict(os.environ)
    os.environ.update(env or {})
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent.resolve())}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    return nb


def render(notebooks: list[str] | None = None, out: str | os.PathLike = "build/lectures",
           execute: bool = True, root: str | os.PathLike = ".",
           results: str | os.PathLike | None = None) -> list[Path]:
    """Execute lecture notebooks and write NAME.ipynb (with outputs), NAME.html and NAME.slides.html.

    The headline numbers the lectures report (``sslcourse.notebook.report_results``) are merged
    into ``results`` (default: ``results.json`` beside ``out``, i.e. ``build/results.json``).
    """
    import nbformat
    from nbconvert import HTMLExporter, SlidesExporter

    paths = [Path(p) for p in notebooks] if notebooks else sorted((Path(root) / "lectures").glob("*.ipynb"))
    if not paths:
        raise CourseError("no lecture notebooks found in lectures/")
    out = Path(out)
    results_path = Path(results) if results is not None else out.parent / "results.json"
    headline = json.loads(results_path.read_text()) if results_path.is_file() else {}
    written = []
    for path in paths:
        start = time.time()
        nb = execute_notebook(path) if execute else read_notebook(path)
        headline.update(collect_results(nb))
        for exporter, suffix in ((HTMLExporter(), ".html"), (SlidesExporter(), ".slides.html")):
            body, _ = exporter.from_notebook_node(nb)
            with atomic_write(out / f"{path.stem}{suffix}") as tmp:
                tmp.write_text(body)
            written.append(out / f"{path.stem}{suffix}")
        with atomic_write(out / path.name) as tmp:
            nbformat.write(nb, str(tmp))
        print(f"rendered {path.name} in {time.time() - start:.0f} s")
    with atomic_write(results_path) as tmp:
        tmp.write_text(json.dumps(dict(sorted(headline.items())), indent=1))
    written.append(results_path)
    return written
