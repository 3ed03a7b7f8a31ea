"""A real browser check: JupyterLab 4 with the nbgrader extension, driven by headless chromium.

A student's path through an exercise: JupyterLab serves the fixture exercise (its stubs filled in
with the solution, the hidden tests stripped by the release), Debian's chromium (driven by
playwright-core from tests/browser/, no downloaded browser) opens it, runs all cells, presses
nbgrader's Validate button and reads the result dialog. The screenshot goes to
build/browser/validate.png. The course site (sslcourse/course/site.py) is opened there too, offline
(tests/browser/site.mjs). Skips with a one-line reason when chromium, node or playwright-core
is missing (.ci/run installs them).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, make_course
from deckcheck import BROWSER_DIR, CHROMIUM, SCREENSHOTS, browser_missing, missing
from sslcourse import course

pytestmark = pytest.mark.xdist_group("grading")

NAME = "00_fixture"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _filled_exercise(root: Path) -> Path:
    """The released exercise with every stub and question answered from the solution (what a good student has)."""
    sol = json.loads((root / "solutions" / NAME / f"{NAME}.ipynb").read_text())
    path = root / "exercises" / NAME / f"{NAME}.ipynb"
    ex = json.loads(path.read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in sol["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    for cell in ex["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in answers:  # the answer without nbgrader's markers, as a student would write it
            source = "".join(answers[gid]) if isinstance(answers[gid], list) else answers[gid]
            cell["source"] = "\n".join(line for line in source.splitlines() if "### " not in line)
    path.write_text(json.dumps(ex))
    return path


def test_jupyterlab_runs_and_validates_an_exercise_in_chromium(tmp_path):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    root = make_course(tmp_path / "course", [NAME])
    course.release(root)
    notebook = _filled_exercise(root)
    port, token = _free_port(), "sslcourse-browser-check"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), OMP_NUM_THREADS="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    log = open(tmp_path / "lab.log", "w")
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                            f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                            "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
                            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
                           cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert lab.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
                time.sleep(0.5)
        shot = ROOT / "build" / "browser" / "validate.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        rel = notebook.relative_to(root).as_posix()
        proc = subprocess.run(["node", str(BROWSER_DIR / "check.mjs"), f"{base}/lab/tree/{rel}?token={token}", str(shot)],
                              capture_output=True, text=True, timeout=400, env=dict(os.environ, CHROMIUM=CHROMIUM))
        assert proc.returncode == 0, proc.stderr[-3000:] + (tmp_path / "lab.log").read_text()[-2000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["executed"] == result["cells"] > 0, result
        assert "Success! Your notebook passes all the tests." in result["dialog"], result
        assert shot.is_file() and shot.stat().st_size > 10_000
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
        log.close()


def _open_site_page(page: Path, shot: Path, query: str | None = None) -> dict:
    """tests/browser/site.mjs on one page of the course site, network blocked; its JSON result."""
    shot.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["node", str(BROWSER_DIR / "site.mjs"), str(page), str(shot), *([query] if query else [])],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, CHROMIUM=CHROMIUM))
    assert proc.returncode == 0, proc.stderr[-3000:]
    os.chmod(shot, 0o644)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not (result["blocked"] or result["failed"] or result["errors"]), result
    return result


def test_the_course_site_works_offline_in_chromium(tmp_path):
    """The course site (tests/test_site.py's tiny lectures) opened from disk with every non-file request
    aborted: the landing page, a lecture page with typeset formulas (no raw TeX left) and its figure,
    prev/next, and Sphinx's search. Screenshots: build/screenshots/site-landing.png, site-lecture.png."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from sslcourse.course import site
    from test_site import NAMES, make_build

    build = make_build(tmp_path / "build")
    site.build_site(build)
    landing = _open_site_page(build / "index.html", SCREENSHOTS / "site-landing.png")
    assert landing["next"] == f"{site.PAGES}/{NAMES[0]}.html" and landing["raw"] == [], landing
    lecture = _open_site_page(build / site.PAGES / f"{NAMES[1]}.html", SCREENSHOTS / "site-lecture.png")
    assert lecture["mathjax"] and lecture["math"] >= 2 and lecture["mathErrors"] == 0 and lecture["raw"] == [], lecture
    assert lecture["images"] >= 1 and lecture["brokenImages"] == [], lecture
    assert (lecture["prev"], lecture["next"]) == (f"{NAMES[0]}.html", f"{NAMES[2]}.html"), lecture
    search = _open_site_page(build / "search.html", tmp_path / "search.png", query="gammaword")
    assert search["found"] and any("gamma" in title for title in search["found"]), search
    for shot in ("site-landing", "site-lecture"):
        assert (SCREENSHOTS / f"{shot}.png").stat().st_size > 10_000
