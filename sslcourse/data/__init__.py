"""Datasets of the course, all as uint8 image tensors (or text, in ``english``).

One entry point for images: ``load_dataset(name, split)`` returns an :class:`ImageDataset`.

=========  =======================================================  ============================
name       where it comes from                                      used for
=========  =======================================================  ============================
digits     scikit-learn's bundled 8x8 digits (1,297 / 500 split)    fast CPU checks, grading
photos     scikit-image's bundled photographs (one per class)       pretext-task figures, patches
shapes     generated coloured shapes with captions (``shapes``)     CPU SSL demos, CLIP, zero-shot
cifar10    a local CIFAR-10 copy (pickles, folders or tar.gz)       SimCLR, pretext tasks, probes
=========  =======================================================  ============================

Nothing here touches the network unless asked to (``load_dataset("cifar10", download=True)``).
"""

from __future__ import annotations

import os

from .cifar import CIFAR10_CLASSES, cifar10_cache_path, find_shared_data, load_cifar10
from .images import (
    DIGITS_TEST_SIZE,
    PHOTO_NAMES,
    ImageDataset,
    load_digits,
    load_photos,
    photo,
    photo_patches,
    stratified_indices,
)
from .shapes import load_shapes  # after .images: the shapes world builds ImageDatasets

__all__ = [
    "DATASETS",
    "ImageDataset",
    "load_dataset",
    "find_shared_data",
    "load_digits",
    "load_photos",
    "load_cifar10",
    "cifar10_cache_path",
    "photo",
    "photo_patches",
    "stratified_indices",
    "CIFAR10_CLASSES",
    "PHOTO_NAMES",
    "DIGITS_TEST_SIZE",
]

DATASETS: tuple[str, ...] = ("digits", "photos", "shapes", "cifar10")


def load_dataset(name: str, split: str = "train", root: str | os.PathLike | None = None,
                 subset: int | None = None, seed: int = 0, fallback: str | None = None,
                 **options) -> ImageDataset:
    """Load an image dataset by name.

    Args:
        name: one of :data:`DATASETS`: "digits", "photos", "shapes", "cifar10".
        split: "train" or "test" ("photos" has one set of images: both give it; "shapes" also
            has "heldout", its held-out colour-shape pairs).
        root: where to find the data (only "cifar10" reads files; the others ignore it).
        subset: keep only this many images, class proportions kept (None: all).
        seed: seed of the subset choice (and of the generated "shapes" world).
        fallback: a dataset to use instead when ``name`` has no local copy (e.g. "shapes"
            for "cifar10" in a notebook): one printed line says so, and the fallback is
            loaded with the same split, subset and seed (without ``options``).
        **options: passed to the loader: ``size=`` for "photos", ``download=``/``progress=``
            for "cifar10", ``n=``/``image_size=`` for "shapes" (see ``shapes.load_shapes``).

    Returns:
        An :class:`ImageDataset` with uint8 images ``(N, C, H, W)`` and int64 labels ``(N,)``.

    Raises:
        ValueError: an unknown name or split (the message lists the known ones).
        FileNotFoundError: "cifar10" with no local copy and no ``fallback`` (the message
            says what to do).
    """
    try:
        return _load(name, split, root, subset, seed, **options)
    except FileNotFoundError:
        if fallback is None:
            raise
        print(f"{name} is not available here (set SSLCOURSE_DATA or pass root= to use it); "
              f"using {fallback!r} instead")
        return _load(fallback, split, None, subset, seed)


def _load(name: str, split: str, root: str | os.PathLike | None, subset: int | None, seed: int,
          **options) -> ImageDataset:
    key = str(name).lower().replace("-", "")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if key == "shapes":
        return load_shapes(split=split, subset=subset, seed=seed, **options)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r} for dataset {name!r}; use 'train' or 'test'")
    if key == "digits":
        dataset = load_digits(split, **options)
    elif key == "photos":
        dataset = load_photos(**options)
    else:
        dataset = load_cifar10(split, root=root, **options)
    if subset is not None:
        dataset = dataset.subset(int(subset), seed=seed)
    return dataset
