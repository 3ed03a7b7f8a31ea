"""Headless chromium on rendered lectures, offline: tests/browser/pages.mjs, driven from pytest.

Used by tests/test_slides.py (one lecture page and one deck, network blocked, screenshots in
build/screenshots/) and tests/test_notebooks.py (every lecture's deck measured slide by slide).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT
from sslcourse.course import assets

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "build" / "screenshots"
VIEWPORT = (1280, 720)


def browser_missing() -> str | None:
    """Why headless chromium cannot be driven here (None when it can); tests/test_browser.py uses it too."""
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (apt-get install -y chromium)"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (npm ci --prefix tests/browser)"
    return None


def missing() -> str | None:
    """Why the offline browser check cannot run here (None when it can)."""
    reason = browser_missing()
    if reason:
        return reason
    reason = assets.missing()
    if reason:
        return f"the vendored reveal.js/MathJax are not installed (make vendor): {reason}"
    return None


def open_page(mode: str, html: Path, screenshot: Path) -> dict:
    """Run pages.mjs MODE (page | deck) on HTML with the network blocked; its JSON result."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["node", str(BROWSER_DIR / "pages.mjs"), mode, str(html), str(screenshot)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, CHROMIUM=CHROMIUM))
    assert proc.returncode == 0, proc.stderr[-3000:]
    if screenshot.is_file():
        os.chmod(screenshot, 0o644)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def offline_problems(result: dict) -> list[str]:
    """What a page opened offline got wrong: network requests, missing files, script errors."""
    problems = [f"requested from the network: {url}" for url in result["blocked"]]
    problems += [f"missing file: {url}" for url in result["failed"]]
    problems += [f"script error: {error}" for error in result["errors"]]
    if not result["mathjax"]:
        problems.append("MathJax did not start")
    return problems


def overflowing_slides(result: dict, lecture: str) -> list[str]:
    """``"LECTURE slide N (title): why"`` for every slide whose content leaves the 1280x720 viewport."""
    width, height = VIEWPORT
    out = []
    for s in result["slides"]:
        why = []
        if s["bottom"] > height or s["top"] < 0:
            why.append(f"content spans y {s['top']}..{s['bottom']} of {height}")
        if s["right"] > width or s["left"] < 0:
            why.append(f"content spans x {s['left']}..{s['right']} of {width}")
        if s["cut"]:
            why.append(f"cut off inside {', '.join(sorted(set(s['cut'])))}")
        if why:
            out.append(f"{lecture} slide {s['n']} ({s['title'][:40]!r}): {'; '.join(why)}")
    return out
