"""Image datasets as plain uint8 tensors, and the two datasets bundled with the environment.

Every image dataset in the course is an :class:`ImageDataset`: a stack of images ``x``
(the unlabelled data points of the lecture, ``x in X``), their class labels (used only
downstream: kNN, linear probe, label-efficiency curves) and the class names.

Bundled data (nothing is downloaded, ever):

- **digits**: scikit-learn's ``load_digits``, 1,797 real 8x8 handwritten digits with 16 grey
  levels (UCI optical digits, Alpaydin & Kaynak, 1998). Fast enough for grading on a CPU, but
  too easy to show what SSL buys (raw-pixel kNN is already about 97%).
- **photos**: the colour photographs bundled with scikit-image (astronaut, chelsea the cat,
  coffee, rocket, ...). One image per class; used for pretext-task figures (rotation,
  colorization, patch placement) and as a source of random patches (:func:`photo_patches`).

Conventions: images are ``uint8`` in ``[0, 255]`` with shape ``(N, C, H, W)``; labels are
``int64`` with shape ``(N,)``; ``ImageDataset.float()`` gives ``float32`` in ``[0, 1]``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ImageDataset",
    "stratified_indices",
    "load_digits",
    "load_photos",
    "photo",
    "photo_patches",
    "PHOTO_NAMES",
    "DIGITS_TEST_SIZE",
]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def stratified_indices(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Pick ``n`` indices at random, keeping the class proportions of ``labels``.

    Class ``k`` with ``c_k`` of the ``N`` images gets ``floor(n * c_k / N)`` picks; the
    ``n - sum(floor)`` picks left over go to the classes with the largest remainders
    (ties: lower class index first). Within a class the picks are uniform without replacement.

    Args:
        labels: class labels, int64.
        n: how many indices to return, ``0 <= n <= N``.
        seed: seed of the random picks (same seed, same indices).

    Returns:
        The picked indices, sorted ascending (the original order is kept).

    Shape:
        labels: ``(N,)`` -> ``(n,)``.
    """
    total = len(labels)
    if not 0 <= n <= total:
        raise ValueError(f"cannot pick {n} of {total} images: ask for 0 <= n <= {total}")
    classes, counts = torch.unique(labels, return_counts=True)                  # (K,), (K,)
    quota = counts.double() * n / total                                        # (K,)
    take = quota.floor().long()                                                # (K,)
    left = n - int(take.sum())
    if left > 0:
        # largest remainder first; stable sort keeps the lower class first on ties
        order = torch.sort(quota.floor() - quota, stable=True).indices         # (K,)
        take[order[:left]] += 1
    gen = _generator(seed)
    picked = []
    for cls, k in zip(classes.tolist(), take.tolist()):
        members = torch.nonzero(labels == cls).flatten()                       # (c_k,)
        picked.append(members[torch.randperm(len(members), generator=gen)[:k]])
    return torch.sort(torch.cat(picked)).values                                # (n,)


@dataclass(repr=False)
class ImageDataset:
    """A labelled stack of images, kept as one uint8 tensor (fits in memory for this course).

    Attributes:
        images: uint8 images in ``[0, 255]``, shape ``(N, C, H, W)``.
        labels: int64 class indices into ``classes``, shape ``(N,)``.
        classes: class names; ``classes[labels[i]]`` names image ``i``.
        name: a short name for messages and figure titles.

    Indexing ``dataset[i]`` gives ``(image, label)`` so that it also works as a
    ``torch.utils.data.Dataset``; ``dataset.take(indices)`` gives a smaller ImageDataset.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str = "images"

    def __post_init__(self) -> None:
        images = torch.as_tensor(self.images) if isinstance(self.images, np.ndarray) else self.images
        labels = torch.as_tensor(self.labels) if isinstance(self.labels, np.ndarray) else self.labels
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            got = f"{getattr(images, 'dtype', type(images))} with shape {tuple(getattr(images, 'shape', ()))}"
            raise ValueError(f"{self.name}: images must be a uint8 tensor of shape (N, C, H, W), got {got}")
        if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
            raise ValueError(f"{self.name}: labels must be an integer tensor of shape (N,), "
                             f"got {getattr(labels, 'dtype', type(labels))}")
        labels = labels.long()
        if len(labels) != len(images):
            raise ValueError(f"{self.name}: {len(images)} images but {len(labels)} labels; give one label per image")
        self.classes = [str(c) for c in self.classes]
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(self.classes)):
            raise ValueError(f"{self.name}: labels must lie in [0, {len(self.classes) - 1}] "
                             f"(one per class name), got [{int(labels.min())}, {int(labels.max())}]")
        self.images, self.labels = images, labels

    # -- basic protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
                f"classes={len(self.classes)})")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> torch.Tensor:
        """Images per class, shape ``(num_classes,)``."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    def float(self) -> torch.Tensor:
        """The images as float32 in ``[0, 1]``, shape ``(N, C, H, W)``."""
        return self.images.float().div_(255.0)

    # -- smaller datasets ----------------------------------------------------------------
    def take(self, indices: torch.Tensor | list[int]) -> "ImageDataset":
        """The images at ``indices`` (in that order), as a new ImageDataset."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(self.images[idx], self.labels[idx], list(self.classes), self.name)

    def subset(self, n: int | None = None, *, n_per_class: int | None = None, seed: int = 0) -> "ImageDataset":
        """A random, class-balanced subset; the original order is kept.

        Give exactly one of:
            n: total size; class proportions are kept (see :func:`stratified_indices`).
            n_per_class: exactly this many images of every class (e.g. 1, 10, 100 labels per
                class for a label-efficiency curve).
            seed: seed of the random choice.
        """
        if (n is None) == (n_per_class is None):
            raise ValueError("subset: give exactly one of n= (total size) or n_per_class=")
        if n is not None:
            return self.take(stratified_indices(self.labels, int(n), seed))
        counts = self.class_counts()
        short = [(self.classes[c], int(k)) for c, k in enumerate(counts) if k < n_per_class]
        if short:
            cls, k = short[0]
            raise ValueError(f"{self.name}: class {cls!r} has only {k} images, fewer than "
                             f"n_per_class={n_per_class}; ask for at most {int(counts.min())}")
        gen = _generator(seed)
        picked = []
        for c in range(self.num_classes):
            members = torch.nonzero(self.labels == c).flatten()                # (c_k,)
            picked.append(members[torch.randperm(len(members), generator=gen)[:n_per_class]])
        return self.take(torch.sort(torch.cat(picked)).values)

    def split(self, fraction: float, seed: int = 0) -> tuple["ImageDataset", "ImageDataset"]:
        """Split into two disjoint, class-stratified parts.

        Args:
            fraction: share of the images in the first part, ``0 < fraction < 1``
                (``round(fraction * N)`` images).
            seed: seed of the random choice.

        Returns:
            ``(first, rest)``; together they hold every image exactly once.
        """
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"split: fraction must lie strictly between 0 and 1, got {fraction}")
        first = stratified_indices(self.labels, int(round(fraction * len(self))), seed)
        mask = torch.ones(len(self), dtype=torch.bool)
        mask[first] = False
        return self.take(first), self.take(torch.nonzero(mask).flatten())


# ---------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------
DIGITS_TEST_SIZE = 500   # fixed split: 1,297 train / 500 test
_DIGITS_SPLIT_SEED = 0   # the split never changes; `seed` only picks subsets


def load_digits(split: str = "train") -> ImageDataset:
    """scikit-learn's bundled 8x8 digits, 1 channel, grey levels 0..16 scaled to 0..255.

    A fixed stratified split: 1,297 train images and 500 test images (50 per class).

    Shape:
        images ``(1297, 1, 8, 8)`` for ``"train"``, ``(500, 1, 8, 8)`` for ``"test"``.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    raw = _sk_load_digits()
    pixels = np.rint(raw.images * (255.0 / 16.0)).astype(np.uint8)[:, None]   # (1797, 1, 8, 8)
    full = ImageDataset(torch.from_numpy(pixels), torch.from_numpy(raw.target.astype(np.int64)),
                        [str(d) for d in raw.target_names], "digits")
    test = stratified_indices(full.labels, DIGITS_TEST_SIZE, _DIGITS_SPLIT_SEED)
    if split == "test":
        return full.take(test)
    mask = torch.ones(len(full), dtype=torch.bool)
    mask[test] = False
    return full.take(torch.nonzero(mask).flatten())


# ---------------------------------------------------------------------------------------
# photos
# ---------------------------------------------------------------------------------------
# name -> how to get the (H, W, 3) uint8 array out of skimage.data (all bundled, no download)
_PHOTO_SOURCES = {
    "astronaut": lambda d: d.astronaut(),
    "chelsea": lambda d: d.chelsea(),
    "coffee": lambda d: d.coffee(),
    "rocket": lambda d: d.rocket(),
    "motorcycle": lambda d: d.stereo_motorcycle()[0],
    "hubble_deep_field": lambda d: d.hubble_deep_field(),
    "immunohistochemistry": lambda d: d.immunohistochemistry(),
    "retina": lambda d: d.retina(),
}
PHOTO_NAMES: tuple[str, ...] = tuple(_PHOTO_SOURCES)


@functools.lru_cache(maxsize=None)
def _photo_array(name: str) -> np.ndarray:
    if name not in _PHOTO_SOURCES:
        raise ValueError(f"unknown photo {name!r}; choose one of: {', '.join(PHOTO_NAMES)}")
    import skimage.data

    try:
        array = np.asarray(_PHOTO_SOURCES[name](skimage.data))
    except Exception as err:  # a stripped scikit-image would try to download
        raise FileNotFoundError(f"scikit-image's bundled photo {name!r} is not available ({err}); "
                                f"reinstall scikit-image (it ships the photo)") from err
    array = array[..., :3].astype(np.uint8)                                    # (H, W, 3)
    array.setflags(write=False)
    return array


def _square(array: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop the largest square, then resize it to ``size x size`` (antialiased)."""
    from PIL import Image

    h, w = array.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = Image.fromarray(np.ascontiguousarray(array[top:top + s, left:left + s]))
    return np.asarray(crop.resize((size, size), getattr(Image, "Resampling", Image).LANCZOS))    # (size, size, 3)


def photo(name: str, size: int | None = 128) -> torch.Tensor:
    """One bundled photograph as a uint8 tensor.

    Args:
        name: one of :data:`PHOTO_NAMES` (``"astronaut"``, ``"chelsea"``, ``"coffee"``, ...).
        size: side of the square output (centre crop, then resize); ``None`` keeps the
            original resolution and aspect ratio.

    Shape:
        ``(3, size, size)``, or ``(3, H, W)`` when ``size`` is None.
    """
    array = _photo_array(name)
    if size is not None:
        if int(size) < 1:
            raise ValueError(f"photo size must be a positive integer, got {size}")
        array = _square(array, int(size))
    return torch.from_numpy(np.array(array)).permute(2, 0, 1).contiguous()    # (3, H, W), a copy


def load_photos(size: int = 128, names: tuple[str, ...] | list[str] | None = None) -> ImageDataset:
    """The bundled photographs as one dataset: label ``i`` is photo ``names[i]``.

    Args:
        size: side of the square images (centre crop, then resize).
        names: which photos (default: all of :data:`PHOTO_NAMES`).

    Shape:
        images ``(len(names), 3, size, size)``.
    """
    names = list(names or PHOTO_NAMES)
    images = torch.stack([photo(n, size) for n in names])                      # (P, 3, size, size)
    return ImageDataset(images, torch.arange(len(names)), names, "photos")


def photo_patches(size: int = 32, n: int = 1024, seed: int = 0, photo_size: int = 256,
                  names: tuple[str, ...] | list[str] | None = None) -> ImageDataset:
    """Random square crops of the bundled photos: a small dataset of real image patches.

    Each patch comes from a photo chosen uniformly at random, at a uniformly random position
    of that photo resized to ``photo_size x photo_size``. Its label is the photo it came from.

    Args:
        size: side of a patch in pixels (``size <= photo_size``).
        n: number of patches.
        seed: seed of the random photos and positions.
        photo_size: side the photos are resized to before cropping (larger: patches show
            finer detail, less of the scene).
        names: which photos (default: all of :data:`PHOTO_NAMES`).

    Shape:
        images ``(n, 3, size, size)``.
    """
    if not 1 <= size <= photo_size:
        raise ValueError(f"patch size must lie in [1, photo_size={photo_size}], got {size}")
    source = load_photos(photo_size, names)
    gen = _generator(seed)
    which = torch.randint(len(source), (n,), generator=gen)                     # (n,)
    top = torch.randint(photo_size - size + 1, (n,), generator=gen)            # (n,)
    left = torch.randint(photo_size - size + 1, (n,), generator=gen)           # (n,)
    patches = torch.empty(n, 3, size, size, dtype=torch.uint8)                 # (n, 3, size, size)
    for i, (p, t, l) in enumerate(zip(which.tolist(), top.tolist(), left.tolist())):
        patches[i] = source.images[p, :, t:t + size, l:l + size]
    return ImageDataset(patches, which, list(source.classes), "photo_patches")
