"""Release: solutions/NN_topic/ -> exercises/NN_topic/ with nbgrader generate_assignment."""
from __future__ import annotations

import os
from pathlib import Path

from sslcourse.course.common import SOLUTION_MARKERS, CourseError, _course_root, _nbgrader, assignments, read_notebook


def release(root: str | os.PathLike = ".", names: list[str] | None = None,
            release_dir: str | None = None) -> list[Path]:
    """Regenerate the student release of each assignment with nbgrader generate_assignment.

    Solutions are replaced by stubs, hidden tests removed, outputs cleared; the assignment and its
    source cells are recorded in the gradebook (which autograde needs to restore hidden tests).
    """
    root = _course_root(root)
    names = names or assignments(root)
    if not names:
        raise CourseError(f"no assignments found in {root / 'solutions'}")
    extra = [f"--CourseDirectory.release_directory={release_dir}"] if release_dir else []
    written = []
    for name in names:
        src = root / "solutions" / name
        notebooks = sorted(src.glob("*.ipynb"))
        if not notebooks:
            raise CourseError(f"assignment {name!r} has no notebook in {src}")
        for nb in notebooks:
            read_notebook(nb)
        _nbgrader(root, "generate_assignment", name, "--force", *extra, "--log-level=WARN")
        out = Path(release_dir) if release_dir else root / "exercises"
        written += sorted((out if out.is_absolute() else root / out).joinpath(name).glob("*.ipynb"))
    return written


def leaked_answers(notebook: str | os.PathLike) -> list[str]:
    """Lines of a released notebook that look like solution code or hidden tests (should be none)."""
    nb = read_notebook(notebook)
    return [line for cell in nb.cells for line in cell.source.splitlines()
            if any(marker in line for marker in SOLUTION_MARKERS)]
