"""The shapes world with its shapes standing upright: data on which rotation prediction is possible.

Why this exists (measured; numbers and commands in docs/benchmarks/pretext.md): rotation
prediction (Gidaris et al. 2018) relies on images having a canonical "up" (skies above, feet
below). That is a property of the *data*. In the course's shapes world the angle of each shape
is a nuisance (within +-45 degrees; uniform over a full turn in its first version) and the
background textures point in random directions. With shapes at any angle, "by how much was this
image rotated?" has almost no answer: after 200 CPU steps the pretext accuracy is 0.33 (chance
0.25) and the encoder transfers hardly better than a random one. In the standard world with all
eight shapes the same budget reaches 0.28 and nothing transfers.

``load_upright_shapes`` renders the very same world with one change: every shape is drawn
upright, rotated by at most ``max_degrees`` (default 15). Colours, sizes, positions and the
textured backgrounds are drawn exactly as in ``sslcourse.data.shapes``; the class is still the
shape. Four of the eight shapes (circle, square, cross, ring) look the same after a quarter turn,
so even here the best rotation accuracy is well below 100%: for those images the task is
ambiguous, which is itself a lesson about pretext tasks.
"""
from __future__ import annotations

import torch

from sslcourse.data.shapes import load_shapes

__all__ = ["load_upright_shapes", "ORIENTED_SHAPES"]

# The shapes that look different after a quarter turn; circle, square, cross and ring do not,
# so for them "by how much was this rotated?" has no answer even when they stand upright.
ORIENTED_SHAPES: tuple[str, ...] = ("triangle", "star", "heart", "moon")


def load_upright_shapes(split: str = "train", n: int | None = None, seed: int = 0, image_size: int = 32,
                        max_degrees: float = 15.0, classes: tuple[str, ...] | list[str] | None = None,
                        colours_follow_shape: bool = False):
    """The shapes world (class = shape) with upright shapes; see the module docstring.

    Args:
        split: "train" (10,000 images by default) or "test" (2,000).
        n: number of images (default per split).
        seed: world seed.
        image_size: H = W in pixels (>= 16).
        max_degrees: the shapes are rotated uniformly within [-max_degrees, max_degrees].
        classes: keep only these shapes (e.g. ``ORIENTED_SHAPES``), relabelled 0..len-1 in this
            order; of the ``n`` generated images about ``n * len(classes) / 8`` remain.
        colours_follow_shape: every shape in its own colour (``data.shapes.shape_palette``),
            the world colorization assumes; by default colours are a nuisance, as everywhere else.

    Returns:
        an ``ImageDataset`` with uint8 images ``(N, 3, H, W)`` and int64 labels ``(N,)``.
    """
    dataset = _load_upright(split, n, seed, image_size, max_degrees, colours_follow_shape)
    if classes is None:
        return dataset
    unknown = [c for c in classes if c not in dataset.classes]
    if unknown:
        raise ValueError(f"unknown shapes {unknown}; the shapes are {', '.join(dataset.classes)}")
    keep = torch.tensor([dataset.classes.index(c) for c in classes])
    mask = torch.isin(dataset.labels, keep)
    relabel = torch.full((len(dataset.classes),), -1, dtype=torch.long)
    relabel[keep] = torch.arange(len(keep))
    return type(dataset)(dataset.images[mask], relabel[dataset.labels[mask]], list(classes))


def _load_upright(split: str, n: int | None, seed: int, image_size: int, max_degrees: float,
                  colours_follow_shape: bool = False):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return load_shapes(split, n=n, seed=seed, image_size=image_size, max_rotation=max_degrees,
                       colours_follow_shape=colours_follow_shape)
