"""Staging: a submitted notebook rebuilt as a clean notebook nbgrader can grade, with notes for the TA.

Each submission is read tolerantly, rebuilt under the expected name, its nbgrader metadata taken
from the release, deleted cells restored, the release order of cells restored, extra files
dropped; what was repaired becomes a note in the TA's reason line.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sslcourse.course.common import CourseError, _gid, _short


@dataclass
class _Staged:
    """A submission prepared for nbgrader: what was repaired, or why it cannot be graded."""

    student: str
    assignment: str
    notes: list[str]
    zero_reason: str = ""  # the submission cannot be graded at all: it scores 0 for this reason
    failure: str = ""  # grading it failed (filled in by the scheduler)


TRUSTED_EXTRA = ("timestamp.txt",)  # nbgrader's own file: the submission time


SUSPICIOUS = re.compile(r"forbid_calls|setprofile|settrace|sslcourse\.grading|sys\.modules\[")


def _read_tolerant(path: Path):
    """A submitted notebook as a clean nbformat-4 notebook (cells, sources, nbgrader metadata only).

    Raises CourseError with a one-line reason when the file is not a notebook at all.
    """
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    text = path.read_text(errors="replace")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise CourseError(f"{path.name} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    try:
        cells = nbformat.reads(text, as_version=4).cells
    except Exception:  # valid JSON, broken structure: take what can be taken from the raw cells
        cells = raw.get("cells") if isinstance(raw, dict) else None
        if not isinstance(cells, list):
            raise CourseError(f"{path.name} is JSON but not a Jupyter notebook (no list of cells)") from None
    make = {"code": new_code_cell, "markdown": new_markdown_cell, "raw": new_raw_cell}
    clean = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        new = make.get(cell.get("cell_type"), new_raw_cell)(source)
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        for key in ("nbgrader", "tags"):
            if key in meta:
                new.metadata[key] = meta[key]
        if cell.get("cell_type") == "markdown" and isinstance(cell.get("attachments"), dict):
            new["attachments"] = cell["attachments"]
        clean.append(new)
    nb = new_notebook(cells=clean)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _grade_ids(nb) -> set[str]:
    return {g for g in (_gid(c) for c in nb.cells) if g}


def _canonical(nb, release, notes: list[str], source=None):
    """Put a submitted notebook into the release's shape: metadata, cells present, cell order.

    Cells the release tracks (nbgrader metadata) get the release's metadata; a deleted one is put
    back (the release version: a stub for a function, the test cell, the question); cells are
    returned to the release order, each student-added cell staying behind the cell it followed.
    Unknown or duplicated nbgrader metadata is dropped (the cell stays as a plain cell).
    """
    import copy
    import uuid

    rel_order = [g for g in (_gid(c) for c in release.cells) if g]
    rel_cell = {_gid(c): c for c in release.cells if _gid(c)}
    src_text = {_gid(c): c.source.strip() for c in (source.cells if source is not None else []) if _gid(c)}
    head: list = []
    blocks: dict[str, list] = {}
    seen_order: list[str] = []
    edited, dropped = [], []
    current = head
    for cell in nb.cells:
        gid = _gid(cell)
        if gid in rel_cell and gid not in blocks:
            rel = rel_cell[gid]
            if cell.cell_type != rel.cell_type:  # e.g. a test cell turned into markdown
                source, cell = cell.source, copy.deepcopy(rel)
                cell.source = source
            cell.metadata["nbgrader"] = copy.deepcopy(rel.metadata["nbgrader"])
            if rel.metadata["nbgrader"].get("locked") and cell.source.strip() not in (rel.source.strip(),
                                                                                      src_text.get(gid)):
                edited.append(gid)
            blocks[gid] = current = [cell]
            seen_order.append(gid)
        else:
            if "nbgrader" in cell.metadata:
                del cell.metadata["nbgrader"]
                dropped.append(gid or "?")
            current.append(cell)
    missing = [g for g in rel_order if g not in blocks]
    for gid in missing:
        blocks[gid] = [copy.deepcopy(rel_cell[gid])]
    if missing:
        notes.append(f"restored deleted cells: {_short(missing)}")
    if seen_order != [g for g in rel_order if g in seen_order]:
        notes.append("cells were out of order: restored the release order")
    if edited:
        notes.append(f"edited locked cells restored from the gradebook: {_short(edited)}")
    if dropped:
        notes.append(f"removed nbgrader metadata the release does not have: {_short(dropped)}")
    nb.cells = head + [c for gid in rel_order for c in blocks[gid]]
    ids = set()
    for cell in nb.cells:  # cell ids must be unique (nbformat 4.5)
        if cell.get("id") in ids or not cell.get("id"):
            cell["id"] = uuid.uuid4().hex[:8]
        ids.add(cell["id"])
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                     and not (c.metadata.get("nbgrader", {}).get("locked")))
    hit = SUSPICIOUS.search(code)
    if hit:
        notes.append(f"flag: the student's code mentions {hit.group(0)!r} (the integrity guard); read it by hand")
    return nb


def _stage(src: Path, dst: Path, release: dict, student: str, name: str, sources: dict | None = None) -> _Staged:
    """Copy one submission folder into a clean, gradable shape; record what was repaired."""
    import nbformat

    staged = _Staged(student, name, [])
    files = [p for p in sorted(src.rglob("*")) if p.is_file()
             and ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".")]
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    if not notebooks:
        staged.zero_reason = ("empty submission folder" if not files else
                              f"no notebook in the submission (found {_short([p.name for p in files])})")
        return staged
    parsed, invalid = {}, []
    for path in notebooks:
        try:
            parsed[path] = _read_tolerant(path)
        except CourseError as err:
            invalid.append(str(err))
    chosen: dict[str, Path] = {}
    for nb_name in release:  # exact name first, then the notebook sharing most cells with the release
        exact = [p for p in parsed if p.name == f"{nb_name}.ipynb" and p not in chosen.values()]
        if exact:
            chosen[nb_name] = exact[0]
    for nb_name, rel in release.items():
        if nb_name in chosen:
            continue
        ids = _grade_ids(rel)
        free = [p for p in parsed if p not in chosen.values()]
        best = max(free, key=lambda p: (len(_grade_ids(parsed[p]) & ids), p.stem.startswith(nb_name)), default=None)
        if best is not None and (_grade_ids(parsed[best]) & ids or len(release) == 1):
            chosen[nb_name] = best
            staged.notes.append(f"renamed notebook {best.name!r} graded as {nb_name}.ipynb")
    if not chosen:
        staged.zero_reason = "; ".join(invalid) or "no notebook of this assignment in the submission"
        staged.zero_reason += ": could not be graded, scored 0 (ask the student to re-save it in JupyterLab)"
        return staged
    if invalid:
        staged.notes.append("; ".join(invalid) + " (ignored)")
    for nb_name in release:
        if nb_name not in chosen:
            staged.notes.append(f"{nb_name}.ipynb missing: its cells score 0")
    dst.mkdir(parents=True, exist_ok=True)
    for nb_name, path in chosen.items():
        nb = _canonical(parsed[path], release[nb_name], staged.notes, (sources or {}).get(nb_name))
        nbformat.write(nb, str(dst / f"{nb_name}.ipynb"))
    if (src / "timestamp.txt").is_file():
        shutil.copy(src / "timestamp.txt", dst / "timestamp.txt")
    used = set(chosen.values())
    extra = [p.relative_to(src).as_posix() for p in files if p not in used and p.name not in TRUSTED_EXTRA
             and (p in parsed or p.suffix != ".ipynb")]  # invalid notebooks were noted above
    if extra:
        staged.notes.append(f"ignored extra files: {_short(extra)}")
    return staged
