"""Helpers for the hidden tests of the graded notebooks.

`forbid_calls` is the integrity check of COURSE.md section 6: a graded function that merely calls
the reference implementation in `sslcourse` must not earn the points. The hidden tests wrap the
student's call in it::

    with forbid_calls("sslcourse.losses"):
        loss = nt_xent(z1, z2)       # the student's function

It watches every Python function call made inside the block (sys.setprofile) and fails if one
of them runs code from the named modules, whatever name the student imported it under.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from typing import Iterator


def _module_paths(name: str) -> list[str]:
    """Source files (a module) or folders (a package) that `name` resolves to, without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ValueError(f"forbid_calls: no module named {name!r}; check the module name in the hidden test")
    if spec.submodule_search_locations:  # a package: everything below its folder
        return [os.path.realpath(p) + os.sep for p in spec.submodule_search_locations]
    return [os.path.realpath(spec.origin)]


@contextlib.contextmanager
def forbid_calls(*module_names: str) -> Iterator[None]:
    """Fail (AssertionError) if code inside the block calls any function defined in `module_names`.

    Args:
        module_names: dotted module or package names, e.g. "sslcourse.losses", "sslcourse.text".
    """
    forbidden = tuple(p for name in module_names for p in _module_paths(name))
    seen: list[str] = []
    previous = sys.getprofile()
    real_cache: dict[str, bool] = {}

    def is_forbidden(filename: str) -> bool:
        if filename not in real_cache:
            real = os.path.realpath(filename)
            real_cache[filename] = any(real == p or real.startswith(p) for p in forbidden)
        return real_cache[filename]

    def profile(frame, event, arg):  # noqa: ANN001 - sys.setprofile's signature
        if event == "call" and not seen and is_forbidden(frame.f_code.co_filename):
            seen.append(f"{frame.f_code.co_name} ({os.path.basename(frame.f_code.co_filename)})")
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)
    if seen:
        raise AssertionError(
            f"integrity check: your function called the course's reference implementation {seen[0]}; "
            "write the computation yourself"
        )
