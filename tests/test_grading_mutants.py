"""Hidden-test strength and integrity for every assignment, in-process (tests/mutants).

For each assignment (the fixture and every solutions/NN_topic): the solution scores full marks
in the harness; every mutant in tests/mutants/NN_topic.py loses points; every graded function has
at least one mutant; a function whose body only calls the package's reference loses that part's
points (REFERENCE in the mutants file, or inferred from the hidden test's forbid_calls).
`python -m tests.mutants` prints the same results as the tables of docs/grading.md.
"""

from __future__ import annotations

import functools
import json
import re
import pytest

from conftest import ROOT
from mutants import Harness, assignments, load_mutants

pytestmark = pytest.mark.xdist_group("mutants")


@functools.lru_cache(maxsize=1)
def _harness(name: str) -> Harness:
    import torch

    torch.set_num_threads(1)
    return Harness(name)


@pytest.mark.parametrize("name", assignments())
def test_every_mutant_loses_points(name):
    mutants, _ = load_mutants(name)
    assert mutants, f"tests/mutants/{name}.py defines no MUTANTS"
    h = _harness(name)
    assert not h.setup_errors, f"{name}: non-test cells fail in-process: {h.setup_errors[:3]}"
    lost, failed, err = h.run_tests()
    assert lost == 0, f"{name}: the solution fails {failed} in-process ({err})"
    outcomes = h.mutant_outcomes(mutants)
    survivors = [o.name for o in outcomes if o.lost <= 0]
    assert not survivors, f"{name}: the hidden tests miss these mutants: {survivors}"
    covered = {fn for o in outcomes for fn in o.function.split(", ")}
    assert set(h.functions) <= covered, f"{name}: graded functions without a mutant: {set(h.functions) - covered}"


@pytest.mark.parametrize("name", assignments())
def test_calling_the_reference_loses_that_parts_points(name):
    _, reference = load_mutants(name)
    h = _harness(name)
    cheats, unknown = h.cheater_outcomes(reference)
    passing = [f"{o.function} -> {o.name}" for o in cheats if o.lost <= 0]
    assert not passing, f"{name}: these functions earn points by calling the package: {passing}"
    if name != "00_fixture" and unknown:
        pytest.skip(f"{name}: no package reference known for {unknown}; add REFERENCE to tests/mutants/{name}.py")


SOLUTION_BLOCK = re.compile(r"# ### BEGIN SOLUTION\n(.*?)# ### END SOLUTION", re.S)


def _answer_blocks() -> list[tuple[str, list[str]]]:
    """(file, substantive lines) of every `# ### BEGIN SOLUTION` block of the package."""
    blocks = []
    for path in sorted((ROOT / "sslcourse").rglob("*.py")):
        for block in SOLUTION_BLOCK.findall(path.read_text()):
            lines = [ln.strip() for ln in block.splitlines() if len(ln.strip()) > 25 and not ln.strip().startswith("#")]
            if len(lines) >= 2:
                blocks.append((path.name, lines))
    return blocks


def test_exercises_hold_no_reference_body_from_the_package():
    """No file in exercises/ carries a reference answer of the package (3 of its lines, or all of a short one).

    Single lines are not enough to count: a formula may be given in the exercise's text on purpose.
    """
    blocks = _answer_blocks()
    leaks = []
    for path in sorted((ROOT / "exercises").rglob("*")) if (ROOT / "exercises").is_dir() else []:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":  # compare with the cells' text, not the JSON-escaped file
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        for module, lines in blocks:
            found = [ln for ln in lines if ln in text]
            if len(found) >= min(3, len(lines)):
                leaks.append(f"{path.relative_to(ROOT)} holds {module}'s answer: {found[:2]}")
    assert not leaks, f"exercises/ holds the package's reference code: {leaks[:3]}"


def test_a_wrong_loop_keeps_the_points_of_the_vectorised_loss():
    """Exercise 05 checks nt_xent against hand-computed values, never against the student's own
    nt_xent_loop: a mistake in the loop costs the loop's points only (it used to cost 5 of 16)."""
    mutants, _ = load_mutants("05_contrastive_simclr")
    loop = {k: v for k, v in mutants.items() if "def nt_xent_loop" in v}
    assert len(loop) >= 3
    for outcome in _harness("05_contrastive_simclr").mutant_outcomes(loop):
        assert outcome.failed == ["test_nt_xent_loop"], (outcome.name, outcome.failed, outcome.error)
