"""The course site (sslcourse/course/site.py): Sphinx + MyST-NB over build/, self-contained and offline.

Built from three tiny executed notebooks this file writes (a formula and a PNG figure each), beside
what the other steps leave in build/ (decks, student zip, demo grades), so nothing is executed here.
The same site opened in headless chromium: tests/test_browser.py.
"""
from __future__ import annotations

import base64
import html
import re
import struct
import zlib
from pathlib import Path

import nbformat
import pytest

from sslcourse import course
from sslcourse.course import assets, site

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")

NAMES = ["01_alpha", "02_beta", "03_gamma"]


def png(width: int = 120, height: int = 80) -> str:
    """A base64 PNG: a grey gradient (a figure the page must show)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"".join(b"\x00" + bytes((x + y) % 256 for x in range(width)) for y in range(height)))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + body).decode()


def executed_lecture(name: str) -> nbformat.NotebookNode:
    """What `render` writes as build/lectures/NAME.ipynb: a parameters cell, the title, a formula, a figure."""
    word = name.split("_")[1]
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("FULL_RUN = False", execution_count=1)
    figure = nbformat.v4.new_code_cell("plot()", execution_count=2, outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": png(), "text/plain": "<Figure>"}),
        nbformat.v4.new_output("stream", name="stderr", text="100%|##########| 10/10 progress\n")])
    nb.cells = [params,
                nbformat.v4.new_markdown_cell(f"# Lecture {name[:2]}: the {word} method\n\n"
                                              f"The {word} loss is $s(e_1, e_2) = \\cos(e_1, e_2) / \\tau$, and\n\n"
                                              "$$\\mathcal{L} = -\\log \\frac{e^{s^+}}{\\sum_k e^{s_k}}$$"),
                figure,
                nbformat.v4.new_markdown_cell(f"## Take-aways\n\nThe {word}word of this lecture.")]
    return nb


def make_build(build: Path) -> Path:
    """build/ as `make course` leaves it before the site: lectures, decks, student zip, demo grades."""
    lectures = build / "lectures"
    lectures.mkdir(parents=True)
    for name in NAMES:
        nbformat.write(executed_lecture(name), str(lectures / f"{name}.ipynb"))
        for suffix in (".html", ".slides.html"):
            (lectures / f"{name}{suffix}").write_text(f"<html><body>{name}{suffix}</body></html>")
    student = build / "student"
    (student / "sslcourse-student" / "exercises" / "01_alpha").mkdir(parents=True)
    (student / "sslcourse-student" / "exercises" / "01_alpha" / "01_alpha.ipynb").write_text("{}")
    (student / "sslcourse-student.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    demo = build / "grading-demo"
    (demo / "feedback" / "perfect-student" / "01_alpha").mkdir(parents=True)
    (demo / "feedback" / "perfect-student" / "01_alpha" / "01_alpha.html").write_text("<html>feedback</html>")
    (demo / course.GRADES_CSV).write_text("student,assignment,autograded_score,autograded_max\n"
                                          "perfect-student,01_alpha,5.0,5.0\nblank-student,01_alpha,0.0,5.0\n")
    (build / "results.json").write_text("{}")
    return build


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    build = make_build(tmp_path_factory.mktemp("site") / "build")
    site.build_site(build)
    return build


def page(build: Path, name: str) -> str:
    return (build / site.PAGES / f"{name}.html").read_text()


def links(text: str) -> list[str]:
    return [html.unescape(u) for u in re.findall(r"""(?:href|src)=["']([^"']*)["']""", text)]


def site_pages(build: Path) -> list[Path]:
    return [build / "index.html", build / "search.html", *sorted((build / site.PAGES).glob("*.html"))]


def test_the_landing_page_lists_the_lectures_in_order_with_their_links(built):
    text = (built / "index.html").read_text()
    hrefs = [u for u in links(text) if u.startswith(f"{site.PAGES}/")]
    firsts = [hrefs.index(f"{site.PAGES}/{name}.html") for name in NAMES]
    assert firsts == sorted(firsts), hrefs
    for name in NAMES:
        assert f"lectures/{name}.slides.html" in links(text)
        assert f"The {name.split('_')[1]} method" in text  # the title, "Lecture NN:" dropped
    assert "student/sslcourse-student.zip" in links(text)
    assert "student/sslcourse-student/exercises/01_alpha/01_alpha.ipynb" in links(text)
    assert f"grading-demo/{course.GRADES_CSV}" in links(text)
    assert not [u for u in links(text) if "feedback" in u]  # the perfect student's feedback shows the solutions
    assert "perfect-student" in text and "blank-student" in text
    assert "search.html" in links(text)


def test_each_lecture_page_has_its_figure_its_slides_and_prev_next(built):
    for i, name in enumerate(NAMES):
        text = page(built, name)
        images = [u for u in links(text) if u.endswith(".png")]
        assert images and all((built / site.PAGES / u).is_file() for u in images), images
        assert f"../lectures/{name}.slides.html" in links(text)
        assert "progress" not in text  # stderr (progress bars) stays on the nbconvert page
        prev = re.search(r'<a class="left-prev"\s+href="([^"]+)"', text)
        after = re.search(r'<a class="right-next"\s+href="([^"]+)"', text)
        assert prev and prev.group(1) == ("../index.html" if i == 0 else f"{NAMES[i - 1]}.html"), name
        if i + 1 < len(NAMES):
            assert after and after.group(1) == f"{NAMES[i + 1]}.html", name
        else:
            assert after is None
        # the title opens the page even though the parameters cell comes first in the notebook
        assert text.index("the " + name.split("_")[1] + " method") < text.index("FULL_RUN")
        assert 'class="math' in text


def test_search_page_and_index_find_a_lecture(built):
    assert (built / "search.html").is_file()
    index = (built / "searchindex.js").read_text()
    assert "gammaword" in index and "03_gamma" in index


def test_every_link_is_relative_and_inside_build_and_nothing_comes_from_a_cdn(built):
    for path in site_pages(built):
        text = path.read_text()
        for url in links(text):
            assert "://" not in url and not url.startswith(("/", "//")), (path.name, url)
            target = url.split("#")[0].split("?")[0]
            if not target:
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_relative_to(built.resolve()) and resolved.is_file(), (path.name, url)
        assert not re.search(r"https?://[^\s\"'<>]+\.(js|css|woff2?)\b", text), path.name


@pytest.mark.skipif(bool(assets.missing()), reason="the vendored MathJax is not installed (make vendor)")
def test_formulas_use_the_vendored_mathjax(built):
    text = page(built, NAMES[0])
    scripts = re.findall(r'<script[^>]*src="([^"]*MathJax\.js[^"]*)"', text)
    assert len(scripts) == 1 and (built / site.PAGES / scripts[0].split("?")[0]).resolve() == \
        (built / "vendor" / "mathjax" / "MathJax.js").resolve(), scripts
    assert "mathjax_ignore" in text and "MathJax.Hub.Config" in text


def test_site_files_are_readable_by_others_and_a_rebuild_replaces_the_old_pages(built):
    for path in [built / name for name in site.SITE_ENTRIES]:
        files = [path] if path.is_file() else [p for p in path.rglob("*")]
        for p in files:
            mode = p.stat().st_mode & 0o777
            assert mode & 0o005 == 0o005 if p.is_dir() else mode & 0o004, (p, oct(mode))
    assert not (built / ".buildinfo").exists() and not (built / ".doctrees").exists()
    assert (built / "lectures" / f"{NAMES[0]}.slides.html").is_file()  # the decks are left alone


def test_a_build_without_rendered_lectures_says_what_to_run(tmp_path):
    with pytest.raises(course.CourseError, match="make lectures"):
        site.build_site(tmp_path / "build")


def test_the_cli_builds_the_site(tmp_path, capsys):
    from sslcourse.cli import main

    build = make_build(tmp_path / "build")
    (build / "lectures" / "02_beta.ipynb").unlink()
    assert main(["site", "--build", str(build), "--no-grading-demo"]) == 0
    assert "2 lectures" in capsys.readouterr().out
    assert "grading-demo" not in (build / "index.html").read_text()
    assert not (build / site.PAGES / "02_beta.html").exists() and (build / site.PAGES / "03_gamma.html").is_file()
    assert main(["site", "--build", str(tmp_path / "nothing")]) == 1
    assert "make lectures" in capsys.readouterr().err
