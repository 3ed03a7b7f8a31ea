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
DATASETS = ("upright-oriented", "upright-coloured", "upright-shapes", "shapes", "cifar10")


def default_grid(image_size: int) -> tuple[int, int, int]:
    """(patch, gap, jitter) of a 3x3 grid that fits an image *and can move in it*.

    jitter = size/32 and gap = size/16 (at least 1 pixel each); the patch is the largest that keeps
    the grid within 7/8 of the side, so the whole grid lands at one of several random positions
    (Doersch et al. sample the grid anywhere in the photo). A grid that fills the image never
    moves, and then a patch's content says where in the image it was cut (the border of a photo
    looks different from its centre): a shortcut to its position that needs no parts at all.
    Moving the grid by a few pixels weakens that shortcut without removing it: a classifier that
    sees only the neighbour patch finds its label 27.2% of the time at 40 px, 31.8% with a grid
    that fills a 32 px image (chance 12.5%; ``benchmarks/patch_shortcut.py``).
    40 px -> (8, 2, 1), extent 34 (7 positions per axis); 32 px -> (6, 2, 1), extent 28 (5 positions).
    """
    jitter, gap = max(1, image_size // 32), max(1, image_size // 16)
    patch = (image_size * 7 // 8 - 2 * gap - 6 * jitter) // 3
    if patch < 6:
        raise ValueError(f"images of {image_size}px are too small for a movable 3x3 grid of >= 6px patches "
                         "with a gap; use --image-size 32 or more")
    return patch, gap, jitter


def build_model(method: str, backbone: str = "small", width: int = 32, image_size: int = 32,
                input_jitter: float = 0.0) -> nn.Module:
    """The pretext model for ``method`` with a fresh f1 (``model.encoder``); ``input_jitter``:
    colorization's brightness/contrast jitter of its input (``Colorization``)."""
    if method not in METHODS:
        raise ValueError(f"unknown pretext task {method!r}; choose one of: {', '.join(METHODS)}")
    if input_jitter and method != "colorization":
        raise ValueError(f"input_jitter is colorization's; {method} does not take it")
    encoder = PixelEncoder(build_backbone(backbone, width), grayscale=(method == "colorization"))
    if method == "rotation":
        return RotationPrediction(encoder)
    if method == "colorization":
        return Colorization(encoder, input_jitter=input_jitter)
    patch, gap, jitter = default_grid(image_size)
    if method == "patches":
        return RelativePatchPlacement(encoder, patch_size=patch, gap=gap, jitter=jitter)
    return Jigsaw(encoder, tile_size=patch, gap=gap, jitter=jitter)


def load_images(name: str, split: str, n: int | None, image_size: int = 32, seed: int = 0):
    """An ``ImageDataset`` for the command and the lecture (one of ``DATASETS``).

    ``upright-oriented``: the upright shapes world, only the four shapes with an "up" (what rotation
    prediction needs, see ``pretext/upright.py``); ``upright-coloured``: the same four shapes, each in
    its own colour (what colorization needs: colours that follow the content); ``upright-shapes``: all eight upright shapes;
    ``shapes``: the course's shapes world as it is; ``cifar10``: the local CIFAR-10 copy.
    ``n=None`` or 0 means the whole split (10,000 / 2,000 generated shapes, of which the oriented
    subset keeps about half; 50,000 / 10,000 CIFAR-10).
    """
    n = n or None
    if name in ("upright-oriented", "upright-coloured"):
        return load_upright_shapes(split, n=n, seed=seed, image_size=image_size, classes=ORIENTED_SHAPES,
                                   colours_follow_shape=name == "upright-coloured")
    if name == "upright-shapes":
        return load_upright_shapes(split, n=n, seed=seed, image_size=image_size)
    if name == "shapes":
        return load_dataset("shapes", split, subset=n, seed=seed, image_size=image_size)
    if name == "cifar10":
        return load_dataset("cifar10", split, subset=n, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
