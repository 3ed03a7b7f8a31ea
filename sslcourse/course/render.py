"""Render: execute the lecture notebooks and write HTML and reveal.js slides (nbconvert).

The slides follow the rule of ``sslcourse.course.slides`` (applied here, at render time); both
pages load reveal.js, MathJax and the rest from ``build/vendor/`` (``sslcourse.course.assets``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sslcourse.course import assets, slides
from sslcourse.course.common import CourseError, read_notebook
from sslcourse.notebook import collect_results
from sslcourse.utils import atomic_write

TEMPLATES = Path(__file__).resolve().parent / "templates"  # sslcourse_lab.html.j2, sslcourse_slides.html.j2


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

    paths = [Path(p) for p in notebooks] if notebooks else sorted((Path(root) / "lectures").glob("*.ipynb"))
    if not paths:
        raise CourseError("no lecture notebooks found in lectures/")
    out = Path(out)
    results_path = Path(results) if results is not None else out.parent / "results.json"
    headline = json.loads(results_path.read_text()) if results_path.is_file() else {}
    vendor = assets.copy_assets(out.parent)
    html_exporter, slides_exporter = exporters(os.path.relpath(vendor, out) if vendor else None)
    written = []
    for path in paths:
        start = time.time()
        nb = execute_notebook(path) if execute else read_notebook(path)
        headline.update(collect_results(nb))
        deck = slides.apply_slide_rule(nb)
        mermaid = any("text/vnd.mermaid" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
        for exporter, page, suffix in ((html_exporter, nb, ".html"), (slides_exporter, deck, ".slides.html")):
            body, _ = exporter.from_notebook_node(page, resources={"sslcourse": {"css": slides.SLIDES_CSS,
                                                                                 "mermaid": mermaid}})
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


def exporters(vendor_url: str | None):
    """(HTMLExporter, SlidesExporter) loading their scripts from VENDOR_URL (relative to the page;
    None: nbconvert's CDN URLs), with the templates of templates/ (mermaid.js only where a diagram
    needs it; the slide rule's CSS). The deck uses the slide rule's canvas and shows no prompts."""
    from nbconvert import HTMLExporter, SlidesExporter  # heavy; only when rendering
    from traitlets.config import Config

    urls = assets.exporter_urls(vendor_url) if vendor_url else {"HTMLExporter": {}, "SlidesExporter": {}}
    deck = Config({"SlidesExporter": dict(urls["SlidesExporter"], reveal_theme=assets.REVEAL_THEME,
                                          reveal_width=str(slides.SLIDE_WIDTH), reveal_height=str(slides.SLIDE_HEIGHT),
                                          reveal_transition="none", reveal_number="c/t",
                                          exclude_input_prompt=True, exclude_output_prompt=True,
                                          extra_template_paths=[str(TEMPLATES)],
                                          template_file="sslcourse_slides.html.j2")})
    page = Config({"HTMLExporter": dict(urls["HTMLExporter"], extra_template_paths=[str(TEMPLATES)],
                                        template_file="sslcourse_lab.html.j2")})
    return HTMLExporter(config=page), SlidesExporter(config=deck)
