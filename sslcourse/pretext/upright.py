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

import numpy as np
import torch

__all__ = ["load_upright_shapes", "ORIENTED_SHAPES"]

# The shapes that look different after a quarter turn; circle, square, cross and ring do not,
# so for them "by how much was this rotated?" has no answer even when they stand upright.
ORIENTED_SHAPES: tuple[str, ...] = ("triangle", "star", "heart", "moon")


class _UprightRng:
    """Wraps the world's numpy Generator; only the draw of the shapes' angles is narrowed.

    The renderer draws one angle per image with a 1-d ``rng.uniform(low, high, n)`` over a full
    turn (radians or degrees); the texture directions use ``(n, 1, 1)`` sizes and are left alone.
    """

    def __init__(self, rng: np.random.Generator, max_degrees: float) -> None:
        self._rng, self._max = rng, max_degrees
        self.narrowed = 0  # how many draws were narrowed (one per rendered chunk)

    def uniform(self, low=0.0, high=1.0, size=None):  # noqa: ANN001 - numpy's signature
        if isinstance(size, (int, np.integer)) and np.isscalar(low) and np.isscalar(high):
            span = float(high) - float(low)
            for full_turn, limit in ((2 * np.pi, np.deg2rad(self._max)), (360.0, self._max)):
                if np.isclose(span, full_turn):
                    self.narrowed += 1
                    return self._rng.uniform(-limit, limit, size)  # around 0: upright
        return self._rng.uniform(low, high, size)

    def __getattr__(self, name: str):
        return getattr(self._rng, name)


def load_upright_shapes(split: str = "train", n: int | None = None, seed: int = 0, image_size: int = 32,
                        max_degrees: float = 15.0, classes: tuple[str, ...] | list[str] | None = None):
    """The shapes world (class = shape) with upright shapes; see the module docstring.

    Args:
        split: "train" (10,000 images by default) or "test" (2,000).
        n: number of images (default per split).
        seed: world seed.
        image_size: H = W in pixels (>= 16).
        max_degrees: the shapes are rotated uniformly within [-max_degrees, max_degrees].
        classes: keep only these shapes (e.g. ``ORIENTED_SHAPES``), relabelled 0..len-1 in this
            order; of the ``n`` generated images about ``n * len(classes) / 8`` remain.

    Returns:
        an ``ImageDataset`` with uint8 images ``(N, 3, H, W)`` and int64 labels ``(N,)``.
    """
    dataset = _load_upright(split, n, seed, image_size, max_degrees)
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


def _load_upright(split: str, n: int | None, seed: int, image_size: int, max_degrees: float):
    import inspect

    from sslcourse.data import shapes as world

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    params = inspect.signature(world.load_shapes).parameters
    for name in ("max_rotation", "rotation"):  # the world may offer the option itself
        if name in params:
            return world.load_shapes(split, n=n, seed=seed, image_size=image_size, **{name: max_degrees})
    if hasattr(world, "_ROTATION"):  # the angle range is a module constant: narrow it for this call
        saved = world._ROTATION
        world._ROTATION = float(max_degrees)
        try:
            return world.load_shapes(split, n=n, seed=seed, image_size=image_size)
        finally:
            world._ROTATION = saved
    # otherwise: render with a generator whose full-turn angle draw is narrowed
    n = world._DEFAULT_N[split] if n is None else int(n)
    rng = np.random.default_rng([seed, world._SPLIT_ID[split], image_size, 1])
    factors = world._sample_factors(n, split, rng)
    images = np.empty((n, 3, image_size, image_size), dtype=np.uint8)
    upright = _UprightRng(rng, max_degrees)
    for start in range(0, n, 2048):
        sl = slice(start, start + 2048)
        drawn = world._render({k: v[sl] for k, v in factors.items()}, image_size, upright)
        images[sl] = drawn[0] if isinstance(drawn, tuple) else drawn  # (images, geometry) or images
    if upright.narrowed != -(-n // 2048):
        raise RuntimeError("the shapes renderer no longer draws one full-turn angle per image; "
                           "update sslcourse/pretext/upright.py")
    labels = torch.from_numpy(factors["shape"].astype(np.int64))
    return world._image_dataset(torch.from_numpy(images), labels, list(world.SHAPES))
