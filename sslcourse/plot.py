"""Figures for the lectures: image grids, view pairs, similarity matrices, curves, embeddings.

Every helper draws with matplotlib and returns the ``Figure`` (pass ``ax=`` to draw into an
existing axes where offered); ``save_figure`` writes it atomically. Without a display (CI,
the autograder, ssh), the non-interactive Agg backend is selected; inside Jupyter the inline
backend is left alone.

Lecture notation -> pictures: ``view_pairs`` shows g: x -> (x1, x2); ``similarity_matrix``
shows s(e1, e2) = cos(e1, e2) / tau over a batch; ``spectrum`` and ``embedding_scatter`` show
whether the embeddings collapse (all singular values but a few near 0: dimensional collapse,
Jing et al. 2022, arXiv:2110.09348).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

if ("MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules and sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
    matplotlib.use("Agg")  # headless: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .utils import atomic_write  # noqa: E402

__all__ = ["image_grid", "view_pairs", "similarity_matrix", "curves", "save_curves", "embedding_scatter", "spectrum",
           "bar_chart", "label_efficiency_curve", "save_figure"]


def _numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _images_hwc(images) -> np.ndarray:
    """(N, C, H, W) or (N, H, W), uint8 or float -> float (N, H, W, C) in [0, 1].

    Float images outside [0, 1] (e.g. normalised ones) are min-max rescaled over the batch.
    """
    if isinstance(images, torch.Tensor):
        arr = images.detach().cpu().numpy()
    else:
        arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[:, None]  # (N, 1, H, W)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, C, H, W) with C in (1, 3) or (N, H, W), got {arr.shape}.")
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        arr = (arr - lo) / max(hi - lo, 1e-8)
    return arr.transpose(0, 2, 3, 1)  # (N, H, W, C)


def _montage(images: np.ndarray, nrow: int, pad: int = 1) -> np.ndarray:
    """(N, H, W, C) -> one (rows*(H+pad)+pad, nrow*(W+pad)+pad, C) picture on a white background."""
    n, h, w, c = images.shape
    rows = (n + nrow - 1) // nrow
    canvas = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), dtype=np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = img
    return canvas


def image_grid(images, nrow: int = 8, titles: Sequence[str] | None = None, scale: float = 1.2,
               row_labels: Sequence[str] | None = None) -> Figure:
    """A grid of images, ``nrow`` per row, with an optional title above each image.

    Args:
        images: ``(N, C, H, W)`` or ``(N, H, W)``, uint8 in [0, 255] or float in [0, 1].
        nrow: images per row.
        titles: N short strings (e.g. class names or predicted rotations).
        scale: inches per image.
        row_labels: one label per row, written on the left.
    """
    arr = _images_hwc(images)
    n, h, w, c = arr.shape
    nrow = max(1, min(nrow, n))
    rows = (n + nrow - 1) // nrow
    fig, ax = plt.subplots(figsize=(scale * nrow, scale * rows * h / w + (0.3 * rows if titles else 0)))
    canvas = _montage(arr, nrow)
    ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    for i, title in enumerate(titles or []):
        r, col = divmod(i, nrow)
        ax.text(1 + col * (w + 1) + w / 2, r * (h + 1), str(title), ha="center", va="bottom", fontsize=8)
    if row_labels:
        ax.set_yticks([1 + r * (h + 1) + h / 2 for r in range(len(row_labels))], list(row_labels))
        ax.tick_params(length=0)
    fig.tight_layout()
    return fig


def view_pairs(x1, x2, n: int = 8, scale: float = 1.2) -> Figure:
    """Two views of the same images: x1 on the top row, x2 below; column i is one pair (x1_i, x2_i)."""
    if len(x1) != len(x2):
        raise ValueError(f"view_pairs needs as many first as second views, got {len(x1)} and {len(x2)}.")
    n = min(n, len(x1))
    both = torch.cat([torch.as_tensor(x1[:n]), torch.as_tensor(x2[:n])])  # (2n, C, H, W)
    return image_grid(both, nrow=n, scale=scale, row_labels=["x1", "x2"])


def similarity_matrix(S, ax: Axes | None = None, title: str | None = None, labels: Sequence[str] | None = None,
                      cmap: str = "viridis") -> Figure:
    """A heat map of a (N, M) similarity matrix, e.g. cos(z_i, z_j) over a batch of 2N views."""
    S = _numpy(S)
    if S.ndim != 2:
        raise ValueError(f"similarity_matrix needs a 2-D matrix, got shape {S.shape}.")
    fig, ax = plt.subplots(figsize=(4.5, 4)) if ax is None else (ax.figure, ax)
    im = ax.imshow(S, cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    if title:
        ax.set_title(title)
    return fig


def curves(history_or_dict, keys: Sequence[str] | str = ("loss",), ax: Axes | None = None, smooth: float = 0.0,
           logy: bool = False, xlabel: str = "step", title: str | None = None) -> Figure:
    """Training curves: one line per key.

    Args:
        history_or_dict: a ``train.History`` (uses its ``series``), or a dict name -> values
            or name -> (steps, values).
        keys: the names to draw.
        smooth: exponential moving average factor in [0, 1) (0 = raw values).
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    fig, ax = plt.subplots(figsize=(5, 3.2)) if ax is None else (ax.figure, ax)
    for key in keys:
        if hasattr(history_or_dict, "series"):
            steps, values = history_or_dict.series(key)
        else:
            entry = history_or_dict[key]
            steps, values = entry if isinstance(entry, tuple) and len(entry) == 2 else (range(1, len(entry) + 1), entry)
        values = np.asarray([float(v) for v in values], dtype=np.float64)
        if smooth and len(values):
            for i in range(1, len(values)):
                values[i] = smooth * values[i - 1] + (1 - smooth) * values[i]
        ax.plot(list(steps), values, label=key, marker="." if len(values) < 30 else None)
    ax.set_xlabel(xlabel)
    if logy:
        ax.set_yscale("log")
    if len(keys) > 1:
        ax.legend()
    else:
        ax.set_ylabel(keys[0])
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def embedding_scatter(z, labels=None, method: str = "pca", ax: Axes | None = None,
                      class_names: Sequence[str] | None = None, title: str | None = None, seed: int = 0) -> Figure:
    """A 2-D picture of embeddings ``(N, d)``: PCA (the top two principal axes) or t-SNE.

    Points are coloured by ``labels`` (N,) when given, with ``class_names`` in the legend.
    """
    z = _numpy(z).astype(np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"embedding_scatter needs embeddings of shape (N >= 2, d), got {z.shape}.")
    if method == "pca":
        zc = z - z.mean(0)
        _, _, vt = np.linalg.svd(zc, full_matrices=False)
        xy = zc @ vt[:2].T if vt.shape[0] >= 2 else np.c_[zc @ vt[:1].T, np.zeros(len(z))]  # (N, 2)
    elif method == "tsne":
        from sklearn.manifold import TSNE
        xy = TSNE(2, init="pca", random_state=seed, perplexity=min(30.0, (len(z) - 1) / 3)).fit_transform(z)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")
    fig, ax = plt.subplots(figsize=(4.5, 4)) if ax is None else (ax.figure, ax)
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.7)
    else:
        labels = _numpy(labels).astype(int)
        cmap = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
        for c in np.unique(labels):
            name = class_names[c] if class_names is not None else str(c)
            ax.scatter(xy[labels == c, 0], xy[labels == c, 1], s=8, alpha=0.7, color=cmap(c % cmap.N), label=name)
        ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def spectrum(z, ax: Axes | None = None, center: bool = True, title: str | None = None) -> Figure:
    """Singular values of the embeddings, largest first, on a log scale.

    ``z`` is an ``(N, d)`` tensor or a dict name -> ``(N, d)`` to compare several models. A
    healthy embedding has a slowly decaying spectrum; a collapsed one drops to ~0 after a few.
    """
    named = z if isinstance(z, Mapping) else {"": z}
    fig, ax = plt.subplots(figsize=(5, 3.2)) if ax is None else (ax.figure, ax)
    spectra = {}
    for name, emb in named.items():
        emb = _numpy(emb).astype(np.float64)
        spectra[name] = np.linalg.svd(emb - emb.mean(0) if center else emb, compute_uv=False)
    floor = max(max(s.max() for s in spectra.values()), 1e-30) * 1e-7  # (float32 precision) zeros drawn here
    for name, sigma in spectra.items():
        ax.plot(np.arange(1, len(sigma) + 1), np.maximum(sigma, floor), marker=".", label=name or None)
    ax.set_yscale("log")
    ax.set_xlabel("index (sorted)")
    ax.set_ylabel("singular value")
    if len(named) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def bar_chart(values: Mapping[str, float], baselines: Mapping[str, float] | None = None, ax: Axes | None = None,
              ylabel: str = "accuracy", title: str | None = None, fmt: str = "{:.1%}") -> Figure:
    """Bars for ``values`` (name -> number) and dashed horizontal lines for ``baselines``.

    The course shows every SSL accuracy beside raw-pixel and random-init kNN:
    ``bar_chart({"SimCLR": 0.71}, baselines={"raw pixels": 0.35, "random init": 0.32})``.
    """
    width = 1.2 + 1.1 * len(values) + (2.0 if baselines else 0.0)
    fig, ax = plt.subplots(figsize=(max(3.0, width), 3.2)) if ax is None else (ax.figure, ax)
    names, heights = list(values), [float(v) for v in values.values()]
    bars = ax.bar(names, heights, color=plt.get_cmap("tab10")(np.arange(len(names)) % 10))
    for bar, h in zip(bars, heights):
        ax.text(bar.get_x() + bar.get_width() / 2, h, fmt.format(h), ha="center", va="bottom", fontsize=8)
    for i, (name, v) in enumerate((baselines or {}).items()):
        color = plt.get_cmap("Dark2")(i % 8)
        ax.axhline(float(v), linestyle="--", color=color, label=f"{name}: {fmt.format(float(v))}")
    if baselines:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    top = max([*heights, *[float(v) for v in (baselines or {}).values()], 0.0])
    ax.set_ylim(0, top * 1.12 if top > 0 else 1.0)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def label_efficiency_curve(results: Mapping[str, Mapping[int, float]], ax: Axes | None = None,
                           title: str | None = None) -> Figure:
    """Accuracy against labels per class (log x axis), one line per method: {method: {n: acc}}."""
    fig, ax = plt.subplots(figsize=(5, 3.2)) if ax is None else (ax.figure, ax)
    for name, curve in results.items():
        ns = sorted(curve)
        ax.plot(ns, [curve[n] for n in ns], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("labels per class")
    ax.set_ylabel("accuracy")
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (PNG unless the suffix says otherwise) through a temp file and a rename."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    return path


def save_curves(history_or_dict, keys: Sequence[str], path: str | os.PathLike, title: str | None = None,
                dpi: int = 100) -> Path:
    """One panel per key (see ``curves``) written to a PNG, for training commands.

    Drawn on a bare ``Figure``, not through pyplot, so a notebook kernel that runs a recipe keeps
    its inline backend and no figure is left open.
    """
    fig = Figure(figsize=(3.6 * len(keys), 3.0))
    for ax, key in zip(fig.subplots(1, len(keys), squeeze=False)[0], keys):
        curves(history_or_dict, key, ax=ax)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=dpi)
