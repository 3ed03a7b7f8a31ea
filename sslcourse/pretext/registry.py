"""The four pretext tasks by name, and the datasets they train on (for the command and lecture 01).

``build_model("rotation")`` is the model of ``sslcourse train rotation`` with a fresh f1;
``default_grid`` sizes the 3x3 patch grid of relative patch placement and jigsaw to the image;
``load_images`` picks one of ``DATASETS``.
"""
from __future__ import annotations

from torch import nn

from sslcourse.data import load_dataset
from sslcourse.pretext.base import PixelEncoder, build_backbone
from sslcourse.pretext.colorization import Colorization
from sslcourse.pretext.jigsaw import Jigsaw
from sslcourse.pretext.patches import RelativePatchPlacement
from sslcourse.pretext.rotation import RotationPrediction
from sslcourse.pretext.upright import ORIENTED_SHAPES, load_upright_shapes

__all__ = ["METHODS", "DATASETS", "build_model", "default_grid", "load_images"]

METHODS = ("rotation", "colorization", "patches", "jigsaw")
DATASETS = ("upright-oriented", "upright-shapes", "shapes", "cifar10")


def default_grid(image_size: int) -> tuple[int, int, int]:
    """(patch, gap, jitter) of a 3x3 grid that fits an image: patch = size/4, jitter = size/32."""
    patch, jitter = image_size // 4, max(1, image_size // 32)
    gap = (image_size - 3 * patch - 6 * jitter) // 2
    if patch < 8 or gap < 1:
        raise ValueError(f"images of {image_size}px are too small for a 3x3 grid of >= 8px patches with a gap; "
                         "use --image-size 32 or more")
    return patch, gap, jitter


def build_model(method: str, backbone: str = "small", width: int = 32, image_size: int = 32) -> nn.Module:
    """The pretext model for ``method`` with a fresh f1 (``model.encoder``)."""
    if method not in METHODS:
        raise ValueError(f"unknown pretext task {method!r}; choose one of: {', '.join(METHODS)}")
    encoder = PixelEncoder(build_backbone(backbone, width), grayscale=(method == "colorization"))
    if method == "rotation":
        return RotationPrediction(encoder)
    if method == "colorization":
        return Colorization(encoder)
    patch, gap, jitter = default_grid(image_size)
    if method == "patches":
        return RelativePatchPlacement(encoder, patch_size=patch, gap=gap, jitter=jitter)
    return Jigsaw(encoder, tile_size=patch, gap=gap, jitter=jitter)


def load_images(name: str, split: str, n: int | None, image_size: int = 32, seed: int = 0):
    """An ``ImageDataset`` for the command and the lecture (one of ``DATASETS``).

    ``upright-oriented``: the upright shapes world, only the four shapes with an "up" (what rotation
    prediction needs, see ``pretext/upright.py``); ``upright-shapes``: all eight upright shapes;
    ``shapes``: the course's shapes world as it is; ``cifar10``: the local CIFAR-10 copy.
    ``n=None`` or 0 means the whole split (10,000 / 2,000 generated shapes, of which the oriented
    subset keeps about half; 50,000 / 10,000 CIFAR-10).
    """
    n = n or None
    if name == "upright-oriented":
        return load_upright_shapes(split, n=n, seed=seed, image_size=image_size, classes=ORIENTED_SHAPES)
    if name == "upright-shapes":
        return load_upright_shapes(split, n=n, seed=seed, image_size=image_size)
    if name == "shapes":
        return load_dataset("shapes", split, subset=n, seed=seed, image_size=image_size)
    if name == "cifar10":
        return load_dataset("cifar10", split, subset=n, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
