"""Did an answer reach the students? Search a build for any line of an answer.

An *answer line* is a line of
- a solution block (`### BEGIN SOLUTION` ... `### END SOLUTION`) or a hidden-test block
  (`### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS`) of a notebook in solutions/,
- a free-text model answer (a markdown cell nbgrader marks as a solution),
- a graded reference body of the package (`# ### BEGIN SOLUTION` ... `# ### END SOLUTION`).

Lines that also stand outside every answer block (imports, `return loss`, a line the visible
tests share with the hidden ones) are public, and so are short ones (fewer than
`MIN_CHARS` characters once stripped). Every other answer line found in a file of the build is
a leak. Files are read as a student would read them: notebooks cell by cell (sources and
outputs), HTML with its tags removed (nbconvert splits code into highlighted spans), wheels and
zips member by member.
"""
from __future__ import annotations

import html
import json
import re
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from sslcourse.course.common import PACKAGE

MIN_CHARS = 16
BLOCKS = (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))


@dataclass(frozen=True)
class Leak:
    file: str  # path inside the build; a member of an archive as "archive.zip!member"
    line: int  # 1-based line of the text as read (see module docstring)
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text[:80]}"


def split_blocks(text: str) -> tuple[list[str], list[str]]:
    """(lines inside answer blocks, lines outside them) of one source text; marker lines are neither."""
    inside, outside, closing = [], [], None
    for line in text.splitlines():
        stripped = re.sub(r"^[#\s]+", "", line).strip()  # "# ### BEGIN SOLUTION" -> "BEGIN SOLUTION"
        begins = [end for begin, end in BLOCKS if stripped == begin]
        if closing is None and begins:
            closing = begins[0]
        elif closing is not None and stripped == closing:
            closing = None
        else:
            (inside if closing is not None else outside).append(line)
    return inside, outside


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _notebook_answers(path: Path) -> tuple[set[str], set[str]]:
    answers, public = set(), set()
    for cell in json.loads(path.read_text()).get("cells", []):
        source = _cell_source(cell)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "markdown" and meta.get("solution"):
            answers.update(map(str.strip, source.splitlines()))
            continue
        inside, outside = split_blocks(source)
        answers.update(map(str.strip, inside))
        public.update(map(str.strip, outside))
    return answers, public


def answer_lines(root: str | Path, package: str | Path | None = None) -> set[str]:
    """Every non-trivial answer line of the course at `root` (its solutions/) and of the package
    (default: this sslcourse)."""
    root = Path(root)
    package = Path(package) if package else PACKAGE
    answers, public = set(), set()
    for nb in sorted((root / "solutions").glob("*/*.ipynb")):
        a, p = _notebook_answers(nb)
        answers |= a
        public |= p
    for py in sorted(package.rglob("*.py")):
        inside, outside = split_blocks(py.read_text())
        answers.update(map(str.strip, inside))
        public.update(map(str.strip, outside))
    return {line for line in answers - public if len(line) >= MIN_CHARS and re.search(r"\w", line)}


def _html_text(text: str) -> str:
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _json_strings(v)]
    return []


def readable_text(name: str, data: bytes) -> list[tuple[str, str]]:
    """(name, text) of what a student can read in one file; archives give one entry per member."""
    suffix = Path(name).suffix.lower()
    if suffix in {".zip", ".whl"}:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            return [entry for member in archive.namelist() if not member.endswith("/")
                    for entry in readable_text(f"{name}!{member}", archive.read(member))]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []  # images, weights, fonts: no source lines in them
    if suffix in {".ipynb", ".json"}:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return [(name, text)]
        strings = _json_strings(value)
        strings = [_html_text(s) if "<" in s and ">" in s else s for s in strings]
        return [(name, "\n".join(strings))]
    if suffix in {".html", ".htm", ".xml"}:
        return [(name, _html_text(text))]
    return [(name, text)]


def find_leaks(build: str | Path, root: str | Path, package: str | Path | None = None) -> list[Leak]:
    """Every answer line of the course at `root` (and of the package) that appears in a file under `build`."""
    answers = answer_lines(root, package)
    build = Path(build)
    leaks = []
    for path in sorted(p for p in build.rglob("*") if p.is_file()):
        for name, text in readable_text(str(path.relative_to(build)), path.read_bytes()):
            leaks += [Leak(name, i + 1, line.strip()) for i, line in enumerate(text.splitlines())
                      if line.strip() in answers]
    return leaks
