"""Collect: LMS zip exports -> submitted/<student>/<assignment>/ (one zip per student)."""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from sslcourse.course.common import CourseError
from sslcourse.utils import atomic_write


def collect_zips(zips: str | os.PathLike, submitted: str | os.PathLike, names: list[str]) -> list[Path]:
    """Unpack LMS exports into submitted/<student>/<assignment>/.

    A zip named `<student>.zip` or `<student>_<anything>.zip` holds that student's notebooks, either
    inside an `<assignment>/` folder or loose (then the notebook's file name picks the assignment).
    Unsafe member paths (absolute, `..`) are refused.
    """
    zips, submitted = Path(zips), Path(submitted)
    if not zips.is_dir():
        raise CourseError(f"zip folder {zips} does not exist")
    out = []
    for archive in sorted(zips.glob("*.zip")):
        student = re.split(r"[_\s]", archive.stem, maxsplit=1)[0]
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    parts = Path(member).parts
                    if member.endswith("/") or not member.endswith(".ipynb") or "__MACOSX" in parts:
                        continue
                    if Path(member).is_absolute() or ".." in parts:
                        raise CourseError(f"{archive.name}: unsafe path {member!r} in the zip")
                    stem = Path(member).stem
                    assignment = next((p for p in parts[:-1] if p in names), None) or \
                        next((n for n in names if stem == n or stem.startswith(n)), None)
                    if assignment is None:
                        continue
                    dest = submitted / student / assignment / f"{assignment}.ipynb"
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_write(dest) as tmp:
                        tmp.write_bytes(zf.read(member))
                    out.append(dest)
        except zipfile.BadZipFile:
            raise CourseError(f"{archive} is not a valid zip file; ask the student to resubmit") from None
    return out
