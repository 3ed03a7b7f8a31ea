"""The decks: the slide rule (sslcourse/course/slides.py), the vendored browser assets
(sslcourse/course/assets.py), and one lecture page and one deck opened offline in chromium.

Every lecture's deck is measured slide by slide in tests/test_notebooks.py (it renders them).
"""
from __future__ import annotations

import base64
import json
import re
import struct
import zlib

import nbformat
import pytest

import deckcheck
from conftest import ROOT
from sslcourse import course
from sslcourse.course import assets, slides

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
OFFLINE_LECTURE = ROOT / "lectures" / "03_next_token_prediction.ipynb"  # the quickest to execute (~10 s)


def png(width: int, height: int) -> str:
    """A blank base64 PNG of the given size (only its header matters to the rule)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"".join(b"\x00" + b"\xff" * width for _ in range(height)))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + body).decode()


def figure(width=600, height=300):
    return nbformat.v4.new_output("display_data", data={"image/png": png(width, height), "text/plain": "<Figure>"})


def kinds(deck) -> list[str]:
    return [c.metadata.slideshow.slide_type for c in deck.cells]


def demo_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("# Parameters\nSEED = 0"),                                   # no output: skipped
        nbformat.v4.new_markdown_cell("# Lecture 99\n\nWhat $x$ is."),
        nbformat.v4.new_markdown_cell("## 1. First section\n\nText."),
        nbformat.v4.new_code_cell("\n".join(f"line_{i} = {i}" for i in range(12)) + "\nplt.show()",  # long: input hidden
                                  outputs=[figure(), nbformat.v4.new_output("stream", name="stderr", text="warn\n")]),
        nbformat.v4.new_markdown_cell("The figure shows it."),                                   # after a figure: fragment
        nbformat.v4.new_code_cell("print(1 + 1)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="2\n")]),
        nbformat.v4.new_markdown_cell("### A sub-topic\n\nMore."),
        nbformat.v4.new_markdown_cell("Intro.\n\n## 2. Second section, mid-cell\n\nIts text."),
    ]
    return nb


def test_the_rule_makes_a_slide_per_section_and_hides_plumbing():
    nb = demo_notebook()
    before = json.dumps(nb, sort_keys=True)
    deck = slides.apply_slide_rule(nb)
    assert json.dumps(nb, sort_keys=True) == before, "the rule must not change the notebook it is given"
    assert kinds(deck) == ["skip", "slide", "slide", "-", "fragment", "-", "subslide", "-", "slide"]
    hidden = deck.cells[3]
    assert hidden.metadata.transient["remove_source"] is True                     # long code: input hidden
    assert [o.output_type for o in hidden.outputs] == ["display_data"]          # figure kept, stderr dropped
    assert not deck.cells[5].metadata.get("transient")                          # short code shown
    assert deck.cells[8].source.startswith("## 2. Second section")             # cut before the mid-cell heading
    assert slides.sections(nb) == 3 and slides.slide_count(deck) == 4


def test_tags_and_explicit_metadata_override_the_rule():
    nb = demo_notebook()
    nb.cells[3].metadata["tags"] = ["slides-show-input"]
    nb.cells[5].metadata["tags"] = ["slides-skip"]
    nb.cells[4].metadata["slideshow"] = {"slide_type": "notes"}
    nb.cells[0].metadata["tags"] = ["slides-show-input"]
    deck = slides.apply_slide_rule(nb)
    assert not deck.cells[3].metadata.get("transient")
    assert deck.cells[5].metadata.slideshow.slide_type == "skip" and deck.cells[5].outputs == []
    assert deck.cells[4].metadata.slideshow.slide_type == "notes"
    assert deck.cells[0].metadata.slideshow.slide_type == "slide"             # shown code opens the deck


def test_tall_cells_are_cut_into_sub_slides_that_fit():
    nb = nbformat.v4.new_notebook()
    paragraphs = "\n\n".join(f"Paragraph {i}: " + "words " * 60 for i in range(14))
    nb.cells = [nbformat.v4.new_markdown_cell("## Long\n\n" + paragraphs),
                nbformat.v4.new_code_cell("show()", outputs=[figure(900, 500), figure(900, 500), figure(900, 500)]),
                nbformat.v4.new_code_cell("print(log)", outputs=[nbformat.v4.new_output(
                    "stream", name="stdout", text="".join(f"step {i}\n" for i in range(80)))])]
    nb.cells[0]["id"] = "long"
    deck = slides.apply_slide_rule(nb)
    markdown = [c for c in deck.cells if c.cell_type == "markdown"]
    assert len(markdown) > 1 and markdown[0].source.startswith("## Long") and markdown[1].id == "long-1"
    assert "".join(c.source for c in markdown).count("Paragraph") == 14       # nothing lost
    figures = [c for c in deck.cells if c.cell_type == "code" and c.outputs and "image/png" in c.outputs[0].get("data", {})]
    assert sum(len(c.outputs) for c in figures) == 3 and len(figures) >= 2
    assert all(c.metadata.transient.get("remove_source") for c in figures[1:])  # continuations: outputs only
    logs = [c for c in deck.cells if c.cell_type == "code" and c.outputs and c.outputs[0].output_type == "stream"]
    assert len(logs) > 1 and "".join(o.text for c in logs for o in c.outputs).count("step") == 80
    # every slide of the deck fits the rule's budget
    used = []
    for cell in deck.cells:
        if cell.metadata.slideshow.slide_type in ("slide", "subslide"):
            used.append(0)
        if cell.metadata.slideshow.slide_type not in ("skip", "notes"):
            used[-1] += slides.cell_height(cell)
    assert max(used) <= slides.BUDGET_PX, used


def test_markdown_blocks_keep_fences_and_display_math_whole():
    text = "Para one.\n\n```\ncode\n\nmore code\n```\n\n$$\na = b\n\n+ c\n$$\n\n- item 1\n- item 2"
    assert slides.markdown_blocks(text) == ["Para one.", "```\ncode\n\nmore code\n```", "$$\na = b\n\n+ c\n$$",
                                            "- item 1", "- item 2"]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_every_lecture_gets_a_slide_per_section(path):
    nb = nbformat.read(str(path), as_version=4)
    deck = slides.apply_slide_rule(nb)
    assert slides.sections(nb) >= 3, f"{path.name}: fewer than 3 ## sections"
    assert slides.slide_count(deck) >= slides.sections(nb)
    unknown = sorted({t for c in nb.cells for t in c.metadata.get("tags", [])
                      if t.startswith("slides-") and t not in slides.TAGS})
    assert not unknown, f"{path.name}: unknown slide tags {unknown}; known: {slides.TAGS}"


def test_rendered_pages_load_nothing_from_the_network(tmp_path, capsys):
    """With the vendor packages installed, no script, style or font is fetched from a CDN."""
    if assets.missing():
        pytest.skip(f"vendored assets not installed: {assets.missing()}")
    nb = demo_notebook()
    path = tmp_path / "lectures" / "99_demo.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    course.render([str(path)], out=tmp_path / "build" / "lectures", execute=False)
    assert "warning" not in capsys.readouterr().out
    vendor = tmp_path / "build" / "vendor"
    for page in ("99_demo.html", "99_demo.slides.html"):
        text = (tmp_path / "build" / "lectures" / page).read_text()
        remote = re.findall(r"""(?:src|href)=["'](https?://[^"']+)|["'](https?://[^"']+\.m?js)["']""", text)
        assert not remote, (page, remote)
        for url in re.findall(r"""(?:src|href)=["'](\.\./vendor/[^"'?]+)""", text):
            assert (tmp_path / "build" / "lectures" / url).is_file(), url
    assert (vendor / "reveal.js" / "dist" / "reveal.js").is_file() and (vendor / "mathjax" / "MathJax.js").is_file()
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in vendor.rglob("*") if p.is_file())


def test_without_the_vendor_packages_rendering_warns_once_and_uses_cdns(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(assets, "NODE_MODULES", tmp_path / "no_node_modules")
    path = tmp_path / "99_demo.ipynb"
    nbformat.write(demo_notebook(), str(path))
    course.render([str(path)], out=tmp_path / "build" / "lectures", execute=False)
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "CDN" in warnings[0], warnings
    assert not (tmp_path / "build" / "vendor").exists()
    assert "https://" in (tmp_path / "build" / "lectures" / "99_demo.slides.html").read_text()


def test_vendor_packages_are_pinned_exactly():
    pins = assets.pinned()
    assert {"reveal.js", "mathjax", "requirejs", "jquery", "@jupyter-widgets/html-manager"} <= set(pins)
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values()), pins
    lock = json.loads((assets.VENDOR_DIR / "package-lock.json").read_text())
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name


@pytest.mark.slow
def test_a_lecture_and_its_deck_work_offline_in_chromium(tmp_path):
    """Rendered as `make lectures` does, opened from disk with every non-file request aborted: the
    formulas are typeset (no raw $...$ left), the deck has many slides, nothing was fetched or
    missing. Screenshots: build/screenshots/<lecture>.page.png and .slide.png."""
    reason = deckcheck.missing()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "build" / "lectures"
    course.render([str(OFFLINE_LECTURE)], out=out)
    name = OFFLINE_LECTURE.stem
    page = deckcheck.open_page("page", out / f"{name}.html", deckcheck.SCREENSHOTS / f"{name}.page.png")
    assert not deckcheck.offline_problems(page), deckcheck.offline_problems(page)
    assert page["math"] >= 10 and page["mathErrors"] == 0 and page["raw"] == [], page
    assert page["widgetsShown"] >= page["widgetViews"], page          # progress bars drawn by the vendored renderer
    deck = deckcheck.open_page("deck", out / f"{name}.slides.html", deckcheck.SCREENSHOTS / f"{name}.slide.png")
    assert not deckcheck.offline_problems(deck), deckcheck.offline_problems(deck)
    assert deck["math"] >= 10 and deck["mathErrors"] == 0 and deck["raw"] == [], {k: deck[k] for k in ("math", "raw")}
    assert len(deck["slides"]) > 1 and deck["viewport"] == {"width": 1280, "height": 720}
    assert not deckcheck.overflowing_slides(deck, name)
    for shot in ("page", "slide"):
        assert (deckcheck.SCREENSHOTS / f"{name}.{shot}.png").stat().st_size > 20_000
