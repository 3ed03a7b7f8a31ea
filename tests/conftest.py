"""Shared fixtures: the repository root, a scratch course folder, the optional shared data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_COURSE = ROOT / "tests" / "fixtures" / "course"


def real_assignments() -> list[str]:
    src = ROOT / "solutions"
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if src.is_dir() else []


def all_assignments() -> list[str]:
    """Every assignment of the course plus the fixture one (so the pipeline is tested before topics exist)."""
    return ["00_fixture", *real_assignments()]


def make_course(dst: Path, names: list[str]) -> Path:
    """A scratch course folder: nbgrader_config.py and solutions/<name>/ for each assignment."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dst / "nbgrader_config.py")
    for name in names:
        src = FIXTURE_COURSE / "solutions" / name if name == "00_fixture" else ROOT / "solutions" / name
        shutil.copytree(src, dst / "solutions" / name)
    return dst


@pytest.fixture
def root() -> Path:
    return ROOT
