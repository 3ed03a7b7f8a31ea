"""The slide rule: an executed lecture notebook -> the reveal.js deck an instructor teaches from.

Applied at render time to a copy of the executed notebook (nothing is stored in lectures/), so
the slides follow every edit of a lecture. The rule, cell by cell:

1. A markdown cell that opens with a ``#`` or ``##`` heading starts a new slide (a section of
   the lecture); one that opens with ``###`` starts a sub-slide (reveal.js: one step down).
2. A code cell without outputs (parameters, imports, definitions) is left off the slides.
3. A code cell with outputs keeps them (figures, printed numbers); its code is shown when it is
   short (at most ``SHOW_CODE_LINES`` lines), hidden otherwise (the plumbing that draws a figure).
   Progress bars (widgets) and stderr stay in the HTML lecture, not on the slides.
4. Every slide fits the 1280x720 canvas: a cell that would run past the bottom starts a
   sub-slide of the same section, a markdown cell taller than a slide is cut between its
   paragraphs into sub-slides, and figures are scaled down to at most ``FIGURE_MAX_PX`` high.
5. A markdown cell that follows a figure on the same slide appears as a fragment (the figure
   first, then its reading, on the next key press).

Per-cell overrides (cell tags, set in JupyterLab's property inspector): ``slides-new`` (start a
slide), ``slides-sub`` (start a sub-slide), ``slides-fragment``, ``slides-skip``, ``slides-notes``
(speaker notes, key S), ``slides-show-input``, ``slides-hide-input``. A cell whose
``metadata.slideshow.slide_type`` is set keeps it; the rule fills in the rest.

Heights are estimated from the source and the outputs (characters per line, PNG sizes);
tests/test_notebooks.py measures every rendered deck in headless chromium and names any slide
that still overflows, by lecture and slide number.
"""
from __future__ import annotations

import base64
import copy
import math
import re
import struct

# reveal.js canvas (scaled to the screen by reveal.js) and the room a slide has for content
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720
BUDGET_PX = 660          # content height a slide may hold (reveal's padding and controls take the rest)
FIGURE_MAX_PX = 520      # no figure is drawn taller than this on a slide (CSS max-height)
SHOW_CODE_LINES = 8      # longer code is hidden on slides (its outputs stay)

# font metrics of the decks (nbconvert's reveal template: 20 px text; code set to CODE_FONT_PX), measured in chromium
TEXT_LINE_PX, TEXT_CHARS = 30, 115
CODE_FONT_PX = 16
CODE_LINE_PX, CODE_CHARS, OUTPUT_CHARS = 20, 115, 104   # code input is wider than an output (no output margin)
BLOCK_GAP_PX = 20
CELL_PAD_PX, INPUT_PAD_PX, OUTPUT_PAD_PX = 30, 30, 16   # a code cell's margins, its input box, each output
HEADING_PX = {1: 80, 2: 62, 3: 50, 4: 42, 5: 36, 6: 36}
CONTENT_WIDTH = SLIDE_WIDTH - 80

TAG_NEW, TAG_SUB, TAG_FRAGMENT, TAG_SKIP, TAG_NOTES = "slides-new", "slides-sub", "slides-fragment", "slides-skip", "slides-notes"
TAG_SHOW_INPUT, TAG_HIDE_INPUT = "slides-show-input", "slides-hide-input"
TAGS = (TAG_NEW, TAG_SUB, TAG_FRAGMENT, TAG_SKIP, TAG_NOTES, TAG_SHOW_INPUT, TAG_HIDE_INPUT)

# CSS added to every deck (rule 4: figures scaled to fit; slides read top-down, left-aligned)
SLIDES_CSS = f"""
.reveal .slides {{ text-align: left; }}
.reveal .slides h1, .reveal .slides h2, .reveal .slides h3, .reveal .slides h4 {{ text-transform: none; }}
.reveal .slides {{ --jp-code-font-size: {CODE_FONT_PX}px; }}
.reveal .jp-OutputArea-output img {{ max-height: {FIGURE_MAX_PX}px; max-width: 100%; width: auto; height: auto; }}
.reveal .jp-RenderedHTMLCommon p, .reveal .jp-RenderedHTMLCommon li {{ line-height: 1.45; }}
.reveal .jp-OutputArea-output pre, .reveal .jp-InputArea pre {{ white-space: pre-wrap; max-width: 100%; box-sizing: border-box; }}
.reveal .jp-InputArea-editor .highlight {{ margin: 0; }}
.reveal .controls {{ transform: scale(0.7); transform-origin: bottom right; opacity: 0.4; }}
.reveal .controls:hover {{ opacity: 1; }}
"""

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d+[.)])\s")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def heading_level(cell) -> int:
    """The level of the heading a markdown cell opens with (0: none)."""
    if cell.get("cell_type") != "markdown":
        return 0
    for line in _text(cell.get("source", "")).splitlines():
        if line.strip():
            match = _HEADING.match(line)
            return len(match.group(1)) if match else 0
    return 0


def sections(nb) -> int:
    """How many sections (``#``/``##`` headings of markdown cells, outside code fences) a notebook has."""
    count = 0
    for cell in nb["cells"]:
        if cell.get("cell_type") == "markdown":
            count += sum(1 for block in markdown_blocks(_text(cell["source"]))
                         if (m := _HEADING.match(block)) and len(m.group(1)) <= 2)
    return count


# ---------------------------------------------------------------- heights

def markdown_blocks(source: str) -> list[str]:
    """The top-level blocks of a markdown text (paragraphs, list items, fences, $$ math, tables),
    split at blank lines that are not inside a code fence or a display formula."""
    blocks, current, fence, math_open = [], [], None, False
    for line in source.splitlines():
        stripped = line.strip()
        if fence:
            current.append(line)
            if stripped.startswith(fence):
                fence = None
            continue
        match = _FENCE.match(line)
        if match:
            fence = match.group(1)
            current.append(line)
            continue
        if stripped.count("$$") % 2 == 1:
            math_open = not math_open
        if not stripped and not math_open:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        if current and (_HEADING.match(line) or (_LIST_ITEM.match(line) and not line.startswith((" ", "\t")))) \
                and not math_open and not _FENCE.match(current[0]):
            blocks.append("\n".join(current))   # a heading or a new list item starts a block
            current = []
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def block_height(block: str) -> int:
    """Estimated pixel height of one markdown block on a slide."""
    lines = block.splitlines()
    first = lines[0]
    heading = _HEADING.match(first)
    if heading:
        return HEADING_PX[len(heading.group(1))] + BLOCK_GAP_PX
    if _FENCE.match(first):
        return len(lines) * CODE_LINE_PX + BLOCK_GAP_PX
    if first.lstrip().startswith("|"):
        return sum(1 for line in lines if not re.match(r"^\s*\|?[\s:|-]+\|?\s*$", line)) * 38 + BLOCK_GAP_PX
    if first.strip().startswith("$$"):
        rows = block.count("\\\\") + 1
        tall = 20 if re.search(r"\\frac|\\sum|\\prod|\\int|\\begin", block) else 0
        return rows * (48 + tall) + BLOCK_GAP_PX
    text = re.sub(r"\$[^$]+\$", lambda m: "x" * max(2, len(m.group(0)) // 3), block)  # formulas typeset short
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)                               # links show their text
    text = re.sub(r"[*`]", "", text)
    rows = sum(max(1, math.ceil(len(line) / TEXT_CHARS)) for line in text.splitlines())
    return rows * TEXT_LINE_PX + (10 if _LIST_ITEM.match(first) else BLOCK_GAP_PX)


def _text_rows(text: str, width: int) -> int:
    """Rows a text takes when its lines wrap at WIDTH characters."""
    return sum(max(1, math.ceil(len(line) / width)) for line in text.splitlines())


def markdown_height(source: str) -> int:
    return sum(block_height(block) for block in markdown_blocks(source))


def png_size(data: str) -> tuple[int, int]:
    """(width, height) of a base64 PNG, read from its header."""
    raw = base64.b64decode(data[:64])
    return struct.unpack(">II", raw[16:24])


def output_height(output) -> int:
    """Estimated pixel height of one output on a slide."""
    kind = output.get("output_type")
    if kind == "stream":
        return _text_rows(_text(output.get("text", "")), OUTPUT_CHARS) * CODE_LINE_PX + OUTPUT_PAD_PX
    if kind == "error":
        return SLIDE_HEIGHT
    data = output.get("data", {})
    if "image/png" in data:
        width, height = png_size(data["image/png"])
        meta = output.get("metadata", {}).get("image/png", {})
        width, height = meta.get("width", width), meta.get("height", height)
        scale = min(1.0, CONTENT_WIDTH / width, FIGURE_MAX_PX / height)
        return int(height * scale) + OUTPUT_PAD_PX
    if "text/html" in data:
        html = _text(data["text/html"])
        return max(1, html.count("<tr")) * 36 + max(0, html.count("<p") + html.count("<br")) * TEXT_LINE_PX + OUTPUT_PAD_PX
    if "text/markdown" in data:
        return markdown_height(_text(data["text/markdown"])) + OUTPUT_PAD_PX
    if "text/latex" in data:
        return 60
    return _text_rows(_text(data.get("text/plain", "")), OUTPUT_CHARS) * CODE_LINE_PX + OUTPUT_PAD_PX


def _shows_input(cell) -> bool:
    return not cell.get("metadata", {}).get("transient", {}).get("remove_source") and TAG_HIDE_INPUT not in _tags(cell)


def input_height(cell) -> int:
    return _text_rows(_text(cell["source"]), CODE_CHARS) * CODE_LINE_PX + INPUT_PAD_PX


def cell_height(cell) -> int:
    """Estimated pixel height of a cell as the slides show it (after the rule hid what it hides)."""
    if cell["cell_type"] == "markdown":
        return markdown_height(_text(cell["source"]))
    if cell["cell_type"] != "code":
        return 0
    height = CELL_PAD_PX + (input_height(cell) if _shows_input(cell) else 0)
    return height + sum(output_height(o) for o in cell.get("outputs", []))


# ---------------------------------------------------------------- the rule

def _on_slides(output) -> bool:
    """Rule 3: progress bars (widgets) and stderr are left off the slides."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return False
    data = output.get("data", {})
    return "application/vnd.jupyter.widget-view+json" not in data


def _split_at_headings(cell) -> list:
    """Rule 1 inside a cell: a ``#``/``##`` heading that does not open the cell starts a new cell there."""
    blocks = markdown_blocks(_text(cell["source"]))
    cuts = [i for i, block in enumerate(blocks) if i and (m := _HEADING.match(block)) and len(m.group(1)) <= 2]
    if not cuts:
        return [cell]
    cells = []
    for k, (start, end) in enumerate(zip([0] + cuts, cuts + [len(blocks)])):
        part = copy.deepcopy(cell)
        part["source"] = "\n\n".join(blocks[start:end])
        if k and "id" in part:
            part["id"] = f"{cell['id']}-h{k}"
        cells.append(part)
    return cells


def _split_markdown(cell, budget: int) -> list:
    """A markdown cell taller than a slide, cut between blocks into cells that each fit."""
    blocks = markdown_blocks(_text(cell["source"]))
    chunks, current, height = [], [], 0
    for block in blocks:
        h = block_height(block)
        keep_with_next = bool(current) and _HEADING.match(current[-1].splitlines()[0])
        if current and height + h > budget and not keep_with_next:
            chunks.append(current)
            current, height = [], 0
        current.append(block)
        height += h
    if current:
        chunks.append(current)
    if len(chunks) == 1:
        return [cell]
    cells = []
    for k, chunk in enumerate(chunks):
        part = copy.deepcopy(cell)
        part["source"] = "\n\n".join(chunk)
        if "id" in part:
            part["id"] = f"{cell['id']}-{k}"
        if k:  # the continuation is never a new slide of its own: it is the next sub-slide
            part["metadata"]["tags"] = [t for t in part["metadata"].get("tags", []) if t != TAG_NEW]
        cells.append(part)
    return cells


def _continuation(cell, k: int, outputs: list):
    part = copy.deepcopy(cell)
    part["outputs"] = outputs
    if k:
        part.setdefault("metadata", {}).setdefault("transient", {})["remove_source"] = True
        if "id" in part:
            part["id"] = f"{cell['id']}-{k}"
        part["metadata"]["tags"] = [t for t in part["metadata"].get("tags", []) if t != TAG_NEW]
    return part


def _split_stream(output, budget: int) -> list:
    """A text output taller than a slide, cut into outputs of whole lines that each fit."""
    lines = _text(output.get("text", "")).splitlines(keepends=True)
    parts, current, rows = [], [], 0
    for line in lines:
        r = max(1, math.ceil(len(line.rstrip("\n")) / OUTPUT_CHARS))
        if current and (rows + r) * CODE_LINE_PX + OUTPUT_PAD_PX > budget:
            parts.append(current)
            current, rows = [], 0
        current.append(line)
        rows += r
    parts.append(current)
    pieces = []
    for part in parts:
        piece = copy.deepcopy(output)
        piece["text"] = "".join(part)
        pieces.append(piece)
    return pieces


def _split_code(cell, budget: int) -> list:
    """A code cell taller than a slide, cut between its input and outputs (and inside a long text
    output) into cells that each fit; the continuations show outputs only."""
    room = budget - CELL_PAD_PX
    outputs = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output_height(output) > room:
            outputs.extend(_split_stream(output, room))
        else:
            outputs.append(output)
    pieces, used = [[]], input_height(cell) if _shows_input(cell) else 0
    for output in outputs:
        h = output_height(output)
        if used + h > room and (pieces[-1] or used):
            pieces.append([])
            used = 0
        pieces[-1].append(output)
        used += h
    return [_continuation(cell, k, piece) for k, piece in enumerate(pieces)]


def _slide_type(cell) -> str | None:
    """The slide type set by hand for this cell (metadata or tag), or None when the rule decides."""
    explicit = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
    if explicit:
        return explicit
    tags = _tags(cell)
    for tag, kind in ((TAG_SKIP, "skip"), (TAG_NOTES, "notes"), (TAG_NEW, "slide"), (TAG_SUB, "subslide"),
                      (TAG_FRAGMENT, "fragment")):
        if tag in tags:
            return kind
    return None


def apply_slide_rule(nb, budget: int = BUDGET_PX):
    """A copy of the (executed) notebook with slide metadata set by the rule of this module.

    Sets ``metadata.slideshow.slide_type`` on every cell, ``metadata.transient.remove_source`` on
    code cells whose input is hidden, drops the outputs slides leave off (rule 3) and the widget
    state, and cuts over-tall cells (rule 4). The input notebook is not changed.
    """
    deck = copy.deepcopy(nb)
    deck["metadata"].pop("widgets", None)
    cells = []
    for cell in deck["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if _on_slides(o)]
            tags = _tags(cell)
            long_code = len(_text(cell["source"]).splitlines()) > SHOW_CODE_LINES
            if TAG_HIDE_INPUT in tags or (long_code and TAG_SHOW_INPUT not in tags):
                cell.setdefault("metadata", {}).setdefault("transient", {})["remove_source"] = True
            cells.extend(_split_code(cell, budget) if cell_height(cell) > budget else [cell])
        elif cell["cell_type"] == "markdown" and not _slide_type(cell):
            for part in _split_at_headings(cell):
                tall = markdown_height(_text(part["source"])) > budget
                cells.extend(_split_markdown(part, budget) if tall else [part])
        else:
            cells.append(cell)

    used, previous_is_figure, first = 0, False, True
    for i, cell in enumerate(cells):
        kind = _slide_type(cell)
        level = heading_level(cell)
        height = cell_height(cell)
        shows_something = cell["cell_type"] == "markdown" or cell.get("outputs") or TAG_SHOW_INPUT in _tags(cell)
        if kind is None:
            if cell["cell_type"] == "code" and not shows_something:
                kind = "skip"
            elif first or level in (1, 2):
                kind = "slide"
            elif level == 3:
                kind = "subslide"
            elif used + height > budget:
                kind = "subslide"
            elif cell["cell_type"] == "markdown" and previous_is_figure:
                kind = "fragment"
            else:
                kind = "-"
        if kind in ("slide", "subslide"):
            used = 0
        if kind not in ("skip", "notes"):
            used += height
            previous_is_figure = any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
        first = first and kind in ("skip", "notes")
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
        if kind == "skip" and cell["cell_type"] == "code":
            cell["outputs"] = []
    deck["cells"] = cells
    return deck


def slide_count(deck) -> int:
    """How many reveal.js slides (slides and sub-slides) a deck made by ``apply_slide_rule`` has."""
    return sum(1 for c in deck["cells"] if c["metadata"].get("slideshow", {}).get("slide_type") in ("slide", "subslide"))
