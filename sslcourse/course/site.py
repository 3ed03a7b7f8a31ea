"""The course site: build/index.html, one page per lecture, search; Sphinx + MyST-NB, offline.

``build_site(build)`` turns what the other steps wrote into build/ into a static site that can be
published as it is (copied to any web server, opened from disk, zipped):

    build/index.html               landing page: the syllabus in lecture order, the course materials
    build/notes/NN_topic.html      one page per lecture, from the executed notebook, with its figures,
                                   links to its slides and prev/next navigation
    build/search.html, searchindex.js, genindex.html, _static/, _images/   Sphinx's own files

The lecture pages are built from the executed notebooks that ``render`` writes beside its HTML
(build/lectures/NN_topic.ipynb); nothing is executed again (MyST-NB, ``nb_execution_mode="off"``).
Formulas are typeset by the MathJax 2 that ``assets`` vendors into build/vendor/, search runs in
the browser on Sphinx's index, and every link is relative, so the site needs no network.
Sphinx builds in a temporary folder; its outputs then replace the previous site's in build/.
"""
from __future__ import annotations

import csv
import html
import io
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sslcourse.course import assets
from sslcourse.course.common import CourseError, read_notebook
from sslcourse.course.report import GRADES_CSV
from sslcourse.course.student import NAME as STUDENT_NAME
from sslcourse.utils import atomic_write

PAGES = "notes"  # build/notes/NN_topic.html; build/lectures/ holds nbconvert's pages and decks
TITLE = "Self-supervised learning"
# What Sphinx writes at the top of its output folder: these (and only these) replace the previous site in build/.
SITE_ENTRIES = ("index.html", "search.html", "genindex.html", "searchindex.js", "objects.inv",
                "_static", "_images", PAGES)
# One line per lecture for the syllabus (COURSE.md's table, shortened); other lectures use their first paragraph.
SUMMARIES = {
    "01_pretext_tasks": "Pretext tasks g: x -> (x_in, x_out): rotation prediction, colorization, relative patch "
                        "placement and jigsaw; transfer to a downstream task with few labels.",
    "02_masked_language_modelling": "Masked language modelling: BERT's input format, the 15% selection with "
                                    "80/10/10 replacement, MLM + next-sentence prediction, a mini-BERT and its "
                                    "downstream uses.",
    "03_next_token_prediction": "Next-token prediction: causal masking, a mini-GPT built from the same blocks, "
                                "generation, masked vs next-token modelling.",
    "04_joint_embeddings_and_collapse": "Joint embeddings: two views of one input, invariance, collapse of the "
                                        "trivial encoder; BYOL, VICReg and how to diagnose collapse.",
    "05_contrastive_simclr": "Contrastive learning: NT-Xent / InfoNCE with cosine similarity and temperature, the "
                             "projector f = f2 o f1, strong augmentations, SimCLR on CIFAR-10.",
    "06_clip_zero_shot": "CLIP: image-text pairs in one embedding, the symmetric contrastive loss with a learnable "
                         "temperature, zero-shot classification with \"a photo of a [class]\", few-shot vs zero-shot.",
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # progress bars: shown on the nbconvert page, not here
# The theme lays display math out for MathJax 3 (a reversed flex row); MathJax 2's display block centres itself.
CSS = """div.math { display: block; overflow-x: auto; }
.sslcourse-summary { color: var(--pst-color-text-muted); }
ol.sslcourse-syllabus li { margin-bottom: 0.6em; }
"""


@dataclass
class Lecture:
    """One rendered lecture: its name (NN_topic), title, one-line summary and executed notebook."""
    name: str
    title: str
    summary: str
    notebook: Path


def rendered_lectures(lectures_dir: Path) -> list[Lecture]:
    """The executed notebooks ``render`` wrote into LECTURES_DIR, in lecture order (by name)."""
    lectures = []
    for path in sorted(Path(lectures_dir).glob("[0-9]*.ipynb")):
        nb = read_notebook(path)
        markdown = next(("".join(c.source) for c in nb.cells if c.cell_type == "markdown"), "")
        heading = re.search(r"^#\s+(.+)$", markdown, re.M)
        title = heading.group(1).strip() if heading else path.stem
        title = re.sub(r"^(Lecture\s+)?\d+\s*[:.]?\s*", "", title) or title  # "Lecture 01: Pretext tasks" -> "Pretext tasks"
        lectures.append(Lecture(path.stem, title[:1].upper() + title[1:],
                                SUMMARIES.get(path.stem) or _first_sentence(markdown), path))
    return lectures


def _first_sentence(markdown: str) -> str:
    """The first sentence of the first paragraph that is not a heading, as plain text (no markup, no TeX)."""
    for para in re.split(r"\n\s*\n", markdown):
        if para.strip() and not para.lstrip().startswith(("#", "$$", "<", "!")):
            text = re.sub(r"\\([A-Za-z]+)", r"\1", re.sub(r"[*`$]", "", " ".join(para.split())))  # $\tau$ -> tau
            return re.split(r"(?<=[.!?])\s", text)[0][:200]
    return ""


def build_site(build: str | os.PathLike = "build", lectures_dir: str | os.PathLike | None = None,
               grading_demo: bool = True) -> Path:
    """Build the course site into BUILD from the executed notebooks in LECTURES_DIR (default
    BUILD/lectures); return BUILD/index.html. Links the slides, the student zip, the exercises and
    (GRADING_DEMO) the demo class's grades, where the other steps have written them."""
    build = Path(build).resolve()
    lectures_dir = Path(lectures_dir).resolve() if lectures_dir else build / "lectures"
    lectures = rendered_lectures(lectures_dir)
    if not lectures:
        raise CourseError(f"no rendered lectures in {lectures_dir}: run `make lectures` first")
    start = time.time()
    vendor = assets.copy_assets(build)  # MathJax for the formulas (already there after `render`)
    with tempfile.TemporaryDirectory(prefix="sslcourse-site-") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "html"
        _write_sources(src, build, lectures_dir, lectures, grading_demo)
        _sphinx(src, out, Path(tmp) / "doctrees", offline=vendor is not None)
        _publish(out, build)
    print(f"course site: {build / 'index.html'} ({len(lectures)} lectures, {time.time() - start:.0f} s)")
    return build / "index.html"


# --------------------------------------------------------------------------- Sphinx's sources


def _write_sources(src: Path, build: Path, lectures_dir: Path, lectures: list[Lecture], grading_demo: bool) -> None:
    """SRC/index.md (the landing page) and SRC/notes/NN_topic.ipynb (each lecture, links added)."""
    import nbformat  # heavy; only when building the site

    (src / PAGES).mkdir(parents=True)
    for lecture in lectures:
        nb = _site_notebook(read_notebook(lecture.notebook), _lecture_links(build, lectures_dir, lecture))
        nbformat.write(nb, str(src / PAGES / f"{lecture.name}.ipynb"))
    (src / "index.md").write_text(_landing_page(build, lectures_dir, lectures, grading_demo))
    (src / "_static").mkdir()
    (src / "_static" / "sslcourse.css").write_text(CSS)


def _href(target: Path, page_dir: Path) -> str:
    """A relative, escaped URL from a page in PAGE_DIR to TARGET."""
    return html.escape(Path(os.path.relpath(target, page_dir)).as_posix())


def _lecture_links(build: Path, lectures_dir: Path, lecture: Lecture) -> str:
    """The line of links under a lecture page's title: slides, nbconvert's page, the notebook."""
    page_dir = build / PAGES
    links = [(lectures_dir / f"{lecture.name}.slides.html", "slides"),
             (lectures_dir / f"{lecture.name}.html", "notebook page"),
             (lectures_dir / f"{lecture.name}.ipynb", "executed notebook (.ipynb)")]
    items = [f'<a href="{_href(path, page_dir)}">{label}</a>' for path, label in links if path.is_file()]
    return f'<p class="sslcourse-links">{" · ".join(items)}</p>'


def _site_notebook(nb, links: str):
    """The executed notebook as the site shows it: LINKS after the title, without widget views."""
    import nbformat  # heavy; only when building the site

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
    nb.metadata.pop("widgets", None)
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is not None and re.match(r"\s*#\s", first.source):
        nb.cells.remove(first)  # the title opens the page, also where a parameters cell comes first
        title, _, rest = first.source.lstrip().partition("\n")
        first.source = f"{title}\n\n{links}\n\n{rest}"
        nb.cells.insert(0, first)
    else:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(links))
    return nb


def _landing_page(build: Path, lectures_dir: Path, lectures: list[Lecture], grading_demo: bool) -> str:
    """index.md: title, syllabus (raw HTML, relative links), the materials, a hidden toctree."""
    e = html.escape
    rows = []
    for lecture in lectures:
        slides = lectures_dir / f"{lecture.name}.slides.html"
        extra = f' · <a href="{_href(slides, build)}">slides</a>' if slides.is_file() else ""
        number = f' value="{int(lecture.name[:2])}"' if lecture.name[:2].isdigit() else ""
        rows.append(f'<li{number}><a href="{PAGES}/{e(lecture.name)}.html"><strong>{e(lecture.title)}</strong></a>{extra}'
                    f'<br><span class="sslcourse-summary">{e(lecture.summary)}</span></li>')
    toctree = "\n".join(f"{PAGES}/{lecture.name}" for lecture in lectures)
    parts = [f"# {TITLE}: the course\n",
             f"The course in {len(lectures)} lecture{'s' * (len(lectures) != 1)}, each a page with its formulas and "
             "figures (from the executed lecture notebook) and a reveal.js deck for the lecture room. Use the search "
             "box to find a term across all lectures.\n",
             "## Syllabus\n", f'<ol class="sslcourse-syllabus">\n{chr(10).join(rows)}\n</ol>\n',
             _materials(build), _grading_demo(build) if grading_demo else "",
             f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: Lectures\n\n{toctree}\n```\n"]
    return "\n".join(part for part in parts if part)


def _materials(build: Path) -> str:
    """The course materials section: student zip, exercises, headline results (those that exist)."""
    items = []
    zipped = build / "student" / f"{STUDENT_NAME}.zip"
    if zipped.is_file():
        items.append(f'<li><a href="{_href(zipped, build)}">{STUDENT_NAME}.zip</a>: what students get (the '
                     'exercises, the package with the graded functions stubbed, the rendered lectures; see its '
                     'README.md)</li>')
    exercises = sorted((build / "student" / STUDENT_NAME / "exercises").glob("*/*.ipynb"))
    if exercises:
        links = ", ".join(f'<a href="{_href(p, build)}">{html.escape(p.stem)}</a>' for p in exercises)
        items.append(f"<li>Exercises (student release): {links}</li>")
    results = build / "results.json"
    if results.is_file():
        items.append(f'<li><a href="{_href(results, build)}">results.json</a>: each lecture\'s headline numbers '
                     "beside their baselines, from the run these pages show</li>")
    if not items:
        return ""
    return "## Course materials\n\n<ul>\n" + "\n".join(items) + "\n</ul>\n"


def _grading_demo(build: Path) -> str:
    """The demo class's scores (build/grading-demo/, written by `make course`). Only the scores: its
    feedback pages show the perfect student's code, i.e. the solutions."""
    grades = build / "grading-demo" / GRADES_CSV
    if not grades.is_file():
        return ""
    with open(grades, newline="") as f:
        rows = [f"<tr><td>{html.escape(row.get('student', ''))}</td><td>{html.escape(row.get('assignment', ''))}</td>"
                f"<td>{html.escape(row.get('autograded_score') or '-')} / {html.escape(row.get('autograded_max', ''))}"
                "</td></tr>" for row in csv.DictReader(f)]
    return ("## Grading demo\n\n`make course` grades a demo class: `perfect-student` submits the solutions and "
            "must get full marks, `blank-student` the untouched release and must get 0 "
            f'(<a href="{_href(grades, build)}">{GRADES_CSV}</a>).\n\n'
            '<table class="table"><thead><tr><th>student</th><th>assignment</th><th>autograded</th></tr></thead>'
            "<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n")


# --------------------------------------------------------------------------- Sphinx


def _sphinx(src: Path, out: Path, doctrees: Path, offline: bool) -> None:
    """Run Sphinx's HTML builder on SRC into OUT (no conf.py: the settings are here)."""
    from sphinx.application import Sphinx  # heavy optional dependency; only when building the site
    from sphinx.util.console import nocolor

    config = {
        "project": TITLE,
        "html_title": TITLE,
        "extensions": ["myst_nb"],
        "nb_execution_mode": "off",  # the notebooks were executed by `render`; never run them again
        "nb_output_stderr": "remove",  # progress bars and warnings; they stay on the nbconvert page
        "myst_enable_extensions": ["dollarmath", "amsmath"],
        "html_theme": "sphinx_book_theme",
        "html_theme_options": {"show_prev_next": True, "home_page_in_toc": True, "use_download_button": False,
                               "use_fullscreen_button": False, "show_navbar_depth": 1,
                               "footer_content_items": ["last-updated"]},
        "html_static_path": ["_static"],
        "html_css_files": ["sslcourse.css"],
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_last_updated_fmt": "%Y-%m-%d",
        "exclude_patterns": ["**.ipynb_checkpoints"],
        "suppress_warnings": ["mystnb.unknown_mime_type"],  # report_results' record: its text/plain is shown
    }
    if offline:
        # build/vendor/mathjax (MathJax 2, see assets.py); Sphinx resolves the path relative to _static/
        config["mathjax_path"] = "../vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
        # MyST marks each section tex2jax_ignore (no stray $) and each formula class="math"; MathJax 2 says it so
        config["mathjax2_config"] = {"tex2jax": {"ignoreClass": "tex2jax_ignore|mathjax_ignore",
                                                 "processClass": "math|output_area|tex2jax_process|mathjax_process",
                                                 "processEscapes": True},
                                     "CommonHTML": {"linebreaks": {"automatic": True}}}  # long formulas wrap
        config["myst_update_mathjax"] = False  # its settings are MathJax 3's
    else:
        print("warning: the site's formulas load MathJax from a CDN: the vendored assets are not installed (make vendor)")
    log, warnings = io.StringIO(), io.StringIO()
    nocolor()  # plain text in the messages below
    try:
        app = Sphinx(str(src), None, str(out), str(doctrees), "html", confoverrides=config,
                     status=log, warning=warnings, freshenv=True)
        app.build()
    except Exception as err:  # Sphinx raises its own error classes; keep its log for the reader
        raise CourseError(f"Sphinx could not build the course site: {err}\n{warnings.getvalue()[-2000:]}") from None
    if app.statuscode:
        raise CourseError(f"Sphinx failed to build the course site:\n{warnings.getvalue()[-2000:]}")
    for line in warnings.getvalue().splitlines():  # a broken figure or formula shows up here
        print(f"site: {line.replace(str(src) + os.sep, '')}")


def _publish(out: Path, build: Path) -> None:
    """Copy Sphinx's outputs into BUILD, replacing the previous site's; files 0644, folders 0755."""
    for name in SITE_ENTRIES:
        src, dst = out / name, build / name
        if src.is_file():
            with atomic_write(dst) as tmp:
                shutil.copyfile(src, tmp)
            os.chmod(dst, 0o644)
        elif src.is_dir():
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
            for folder, _dirs, files in os.walk(dst):
                os.chmod(folder, 0o755)
                for f in files:
                    os.chmod(os.path.join(folder, f), 0o644)
