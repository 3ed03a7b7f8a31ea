"""Captioned images: CIFAR-10 with templated captions, a second image-text dataset for mini-CLIP.

(The shapes world makes its own captions: ``sslcourse.data.shapes.make_captioned_shapes``.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from sslcourse.data import load_dataset

__all__ = ["CIFAR_CAPTION_TEMPLATES", "fill", "CaptionedImages", "captioned_cifar10"]

# The training captions of CIFAR-10 (the zero-shot prompts, different ones, are in sslcourse.zeroshot).
CIFAR_CAPTION_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}", "a blurry photo of a {}", "a photo of the small {}", "a photo of the big {}",
    "a low resolution photo of a {}", "a close up photo of a {}", "a bright photo of the {}", "a dark photo of a {}",
)


def fill(template: str, name: str) -> str:
    """``fill("a photo of a {}", "orange circle")`` -> ``"a photo of an orange circle"``."""
    return re.sub(r"\ba (?=[aeiou])", "an ", template.format(name))


@dataclass
class CaptionedImages:
    """Images with one caption each and their class labels (any dataset)."""

    images: torch.Tensor  # (N, 3, H, W) uint8
    captions: list[str]
    labels: torch.Tensor  # (N,) int64
    classes: tuple[str, ...]


def captioned_cifar10(split: str = "train", subset: int | None = None, seed: int = 0, captions_per_image: int = 1,
                      root=None) -> CaptionedImages:
    """CIFAR-10 with templated captions ("a blurry photo of a frog"): a second image-text dataset.

    The captions say nothing but the class, so CLIP on it is close to supervised learning with
    the class names as targets; zero-shot prompts (``CIFAR_PROMPT_TEMPLATES``) differ from the
    training templates. Needs a local copy of CIFAR-10 (``sslcourse.data.load_dataset``).

    Returns:
        ``CaptionedImages`` with ``captions_per_image`` copies of every image, each with its own caption.
    """
    ds = load_dataset("cifar10", split=split, subset=subset, seed=seed, root=root)
    classes = tuple(ds.classes)
    g = torch.Generator().manual_seed(seed)
    images, captions, labels = [], [], []
    for _ in range(captions_per_image):
        which = torch.randint(len(CIFAR_CAPTION_TEMPLATES), (len(ds.labels),), generator=g).tolist()
        captions += [fill(CIFAR_CAPTION_TEMPLATES[t], classes[y]) for t, y in zip(which, ds.labels.tolist())]
        images.append(ds.images)
        labels.append(ds.labels)
    return CaptionedImages(torch.cat(images), captions, torch.cat(labels), classes)
