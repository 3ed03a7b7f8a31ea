"""The browser assets of the rendered lectures and decks, vendored so that build/ works offline.

nbconvert's HTML and reveal.js templates load reveal.js, MathJax 2, require.js, jQuery and the
Jupyter widget renderer (the progress bars) from CDNs. ``sslcourse/course/vendor/package.json``
pins them (npm, with its package-lock.json); ``make install`` / ``make course`` runs ``npm ci``
there, and ``copy_assets`` copies the files the pages use into ``build/vendor/``. ``exporter_urls``
points nbconvert at them with relative URLs, so build/ can be zipped, served or opened from disk.
Without the npm packages, rendering still works with the CDN URLs (one warning line).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
NODE_MODULES = VENDOR_DIR / "node_modules"

# build/vendor/<dest> <- node_modules/<source> (a file or a folder, source maps left out)
ASSETS = {
    "reveal.js/dist": "reveal.js/dist",
    "reveal.js/plugin/notes": "reveal.js/plugin/notes",
    "reveal.js/LICENSE": "reveal.js/LICENSE",
    "mathjax/MathJax.js": "mathjax/MathJax.js",
    "mathjax/LICENSE": "mathjax/LICENSE",
    "mathjax/config/TeX-AMS_CHTML-full.js": "mathjax/config/TeX-AMS_CHTML-full.js",
    "mathjax/config/Safe.js": "mathjax/config/Safe.js",
    "mathjax/extensions": "mathjax/extensions",
    "mathjax/jax/input/TeX": "mathjax/jax/input/TeX",
    "mathjax/jax/output/CommonHTML": "mathjax/jax/output/CommonHTML",
    "mathjax/jax/element": "mathjax/jax/element",
    "mathjax/fonts/HTML-CSS/TeX/woff": "mathjax/fonts/HTML-CSS/TeX/woff",
    "mathjax/fonts/HTML-CSS/TeX/otf": "mathjax/fonts/HTML-CSS/TeX/otf",
    "requirejs/require.js": "requirejs/require.js",
    "jquery/jquery.min.js": "jquery/dist/jquery.min.js",
    "jquery/LICENSE.txt": "jquery/LICENSE.txt",
    "html-manager/dist": "@jupyter-widgets/html-manager/dist",
}
SKIP_SUFFIXES = (".map",)
REVEAL_THEME = "white"  # nbconvert's default ("simple") imports Google fonts; white's font ships with reveal.js


def pinned() -> dict[str, str]:
    """The packages and versions package.json pins."""
    return json.loads((VENDOR_DIR / "package.json").read_text())["dependencies"]


def missing() -> str | None:
    """Why the vendored assets cannot be copied (None when they can)."""
    if not NODE_MODULES.is_dir():
        return f"{NODE_MODULES} is missing (npm ci --prefix {VENDOR_DIR})"
    for name, version in pinned().items():
        meta = NODE_MODULES / name / "package.json"
        if not meta.is_file():
            return f"npm package {name} is not installed in {NODE_MODULES}"
        found = json.loads(meta.read_text()).get("version")
        if found != version:
            return f"npm package {name} is {found}, package.json pins {version} (npm ci --prefix {VENDOR_DIR})"
    for source in ASSETS.values():
        if not (NODE_MODULES / source).exists():
            return f"{NODE_MODULES / source} is missing"
    return None


def _copy_file(src: Path, dst: Path) -> None:
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime >= src.stat().st_mtime:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)


def copy_assets(build: str | os.PathLike) -> Path | None:
    """Copy ASSETS into BUILD/vendor/ (files 0644); return that folder, or None after one warning
    line when the npm packages are not installed (the pages then load them from CDNs)."""
    reason = missing()
    if reason:
        print(f"warning: rendered pages load reveal.js/MathJax from CDNs and need the network: {reason}")
        return None
    vendor = Path(build) / "vendor"
    for dest, source in ASSETS.items():
        src = NODE_MODULES / source
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for path in files:
            if path.suffix in SKIP_SUFFIXES:
                continue
            target = vendor / dest if src.is_file() else vendor / dest / path.relative_to(src)
            _copy_file(path, target)
    for folder in [vendor, *(p for p in vendor.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o755)
    return vendor


def exporter_urls(prefix: str) -> dict[str, dict[str, str]]:
    """nbconvert settings (``{exporter: {trait: url}}``) that load everything from PREFIX, the
    vendor folder relative to the page (``../vendor`` for build/lectures/NAME.html)."""
    common = {
        "mathjax_url": f"{prefix}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
        "require_js_url": f"{prefix}/requirejs/require.js",
        "jquery_url": f"{prefix}/jquery/jquery.min.js",
        "widget_renderer_url": f"{prefix}/html-manager/dist/embed-amd.js",
    }
    return {"HTMLExporter": dict(common),
            "SlidesExporter": dict(common, reveal_url_prefix=f"{prefix}/reveal.js")}
