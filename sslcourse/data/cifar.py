"""CIFAR-10 (Krizhevsky, 2009) from any of its usual on-disk formats, decoded once and cached.

CIFAR-10 holds 60,000 colour images of 32x32 pixels in 10 classes (50,000 train, 10,000 test):
https://www.cs.toronto.edu/~kriz/cifar.html. The course reads it from whatever copy a machine
has, in one of three formats:

1. **python pickles**, as torchvision and the official site ship them: ``cifar-10-batches-py/``
   with ``data_batch_1`` ... ``data_batch_5``, ``test_batch`` (dicts with ``b"data"``, a
   ``(N, 3072)`` uint8 array of R, G, B planes, and ``b"labels"``) and ``batches.meta``
   (``b"label_names"``); also inside ``cifar-10-python.tar.gz``.
2. **image folders**: ``train/<class>/*.jpg|png`` and ``test/<class>/...``.
3. **tar archives of image folders** (``.tar.gz``, ``.tgz``, ``.tar``): members
   ``[...]/train/<class>/NNNN.jpg``, e.g. the offline JPEG copy in ``../shared/data/cifar10-jpeg``
   (``cifar10-jpeg-train.tar.gz``, ``cifar10-jpeg-test.tar.gz``). Members are streamed straight
   out of the archive; nothing is extracted next to the data (it may be read-only).

Where the data is looked for, in order: the ``root`` argument (only there, when given); the
``SSLCOURSE_DATA`` environment variable (``$SSLCOURSE_DATA/cifar10-jpeg``,
``$SSLCOURSE_DATA/cifar10`` or ``$SSLCOURSE_DATA`` itself); ``../shared/data/cifar10-jpeg``
found by :func:`find_shared_data`; a previous ``download=True`` in the cache folder.

The first load decodes every image and stores the uint8 arrays in
``sslcourse.utils.cache_dir()/cifar10/<key>-<split>.npz`` (written to a temporary file and
renamed, so a crash never leaves half a cache). ``<key>`` hashes the source paths, sizes and
modification times: editing the data invalidates the cache. Later loads read the ``.npz``.

Class order is the official one (alphabetical, as the folder names sort):
airplane automobile bird cat deer dog frog horse ship truck.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import re
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ..utils import atomic_write, cache_dir
from .images import ImageDataset

__all__ = ["CIFAR10_CLASSES", "find_shared_data", "load_cifar10", "cifar10_cache_path"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
SPLITS = ("train", "test")
_CACHE_VERSION = 1  # bump when the decoding changes, so old caches are not reused
_PICKLE_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".gif", ".tif", ".tiff"}
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
_HOW_TO_GET = ("set SSLCOURSE_DATA to a folder holding cifar-10-batches-py/, train|test/<class>/ image "
               "folders or .tar.gz archives of them, pass root=, or use download=True on a machine with internet")
# what a corrupted archive, gzip stream or pickle raises while being read
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, pickle.UnpicklingError,
                ValueError, KeyError, TypeError, AttributeError, IndexError)


# ---------------------------------------------------------------------------------------
# finding the data
# ---------------------------------------------------------------------------------------
def find_shared_data(name: str) -> Path | None:
    """Locate a shared dataset folder ``<name>`` without any network access.

    Looks at ``$SSLCOURSE_DATA/<name>``, then ``shared/data/<name>`` beside the repository
    root or any folder above it (``../shared/data/<name>`` for a checkout in ``work/main``),
    then the same beside the current directory and its parents.

    Returns:
        The first existing path, or None (callers then say what they use instead).
    """
    candidates: list[Path] = []
    env = os.environ.get("SSLCOURSE_DATA")
    if env:
        candidates.append(Path(env).expanduser() / name)
    repo = Path(__file__).resolve().parents[2]
    cwd = Path.cwd().resolve()
    for base in (repo, *repo.parents, cwd, *cwd.parents):
        candidates.append(base / "shared" / "data" / name)
    return next((path for path in candidates if path.exists()), None)


@dataclass(frozen=True)
class _Source:
    """Where one split lives: ``kind`` is "pickle", "folder" or "archive"."""

    kind: str
    paths: tuple[Path, ...]  # pickle batch files | the split folder | the archives
    meta: Path | None = None  # batches.meta for pickles


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_ARCHIVE_SUFFIXES)


def _detect(location: Path, split: str) -> _Source | None:
    """Which CIFAR-10 format ``location`` holds for ``split`` (None: none of them)."""
    if _is_archive(location):
        return _Source("archive", (location,))
    if not location.is_dir():
        return None
    for folder in (location, location / "cifar-10-batches-py"):
        names = ("batches.meta", *_PICKLE_BATCHES["train"], *_PICKLE_BATCHES["test"])
        if any((folder / n).is_file() for n in names):
            meta = folder / "batches.meta"
            return _Source("pickle", tuple(folder / n for n in _PICKLE_BATCHES[split]),
                           meta if meta.is_file() else None)
    if (location / split).is_dir():
        return _Source("folder", (location / split,))
    archives = sorted(p for p in location.iterdir() if _is_archive(p))
    names = {s: [p for p in archives if re.search(rf"(^|[-_.]){s}([-_.]|$)", p.name.lower())] for s in SPLITS}
    unnamed = [p for p in archives if not any(p in named for named in names.values())]
    # the archives named after the split, else those named after no split (members are filtered by split)
    chosen = names[split] or unnamed
    return _Source("archive", tuple(chosen)) if chosen else None


def _candidates(root: str | os.PathLike | None) -> list[Path]:
    if root is not None:
        return [Path(root).expanduser()]
    out: list[Path] = []
    env = os.environ.get("SSLCOURSE_DATA")
    if env:
        out += [Path(env).expanduser() / "cifar10-jpeg", Path(env).expanduser() / "cifar10", Path(env).expanduser()]
    shared = find_shared_data("cifar10-jpeg")
    if shared is not None:
        out.append(shared)
    out.append(cache_dir() / "cifar10" / "download")
    return list(dict.fromkeys(out))  # unique, order kept


def _locate(root: str | os.PathLike | None, split: str) -> tuple[_Source | None, list[Path]]:
    places = _candidates(root)
    for place in places:
        source = _detect(place, split)
        if source is not None:
            return source, places
    return None, places


# ---------------------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------------------
def _fingerprint(source: _Source) -> str:
    """Hash of the source paths, sizes and modification times (and the cache version)."""
    digest = hashlib.sha256(f"v{_CACHE_VERSION}:{source.kind}".encode())
    files: list[Path] = list(source.paths) + ([source.meta] if source.meta else [])
    if source.kind == "folder":
        files = sorted(p for p in source.paths[0].rglob("*") if p.is_file())
        digest.update(str(source.paths[0].resolve()).encode())
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10 file {path} is missing (the other files of its split are there); "
                                    f"copy it again or re-download the dataset")
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def cifar10_cache_path(split: str = "train", root: str | os.PathLike | None = None) -> Path | None:
    """Where the decoded ``split`` of the CIFAR-10 copy that ``load_cifar10`` would read is cached.

    Returns None when no copy is found. The file may not exist yet (first load not done).
    """
    source, _ = _locate(root, _check_split(split))
    return None if source is None else cache_dir() / "cifar10" / f"{_fingerprint(source)}-{split}.npz"


def _read_cache(path: Path) -> ImageDataset | None:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            images, labels, classes = arrays["images"], arrays["labels"], arrays["classes"]
        return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)),
                            [str(c) for c in classes], "cifar10")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"ignoring the unreadable CIFAR-10 cache {path} ({err}); decoding the data again",
                      stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> None:
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, images=images, labels=labels, classes=np.array(classes))


# ---------------------------------------------------------------------------------------
# decoding the three formats
# ---------------------------------------------------------------------------------------
def _natural_key(name: str) -> list:
    """'img10.png' after 'img9.png': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@functools.lru_cache(maxsize=1)
def _fast_jpeg():
    """torchvision's ``(decode_jpeg, ImageReadMode.RGB)``, or None where torchvision dropped them."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:
        return None
    return decode_jpeg, ImageReadMode.RGB


def _decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode one image file's bytes to an RGB uint8 array ``(3, H, W)``.

    JPEGs go through torchvision's libjpeg-turbo decoder, about 4x faster than PIL on CIFAR's
    small JPEGs and identical on them. Everything else, and JPEGs torchvision rejects, go
    through PIL, which fails cleanly on corrupted files (torchvision's PNG decoder can crash
    the interpreter on a corrupted PNG, so it is never used).
    """
    if data[:3] == b"\xff\xd8\xff" and _fast_jpeg() is not None:  # the JPEG magic number
        decode_jpeg, rgb = _fast_jpeg()
        try:
            with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders (still there)
                warnings.simplefilter("ignore", DeprecationWarning)
                return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=rgb).numpy()
        except (RuntimeError, ValueError):
            pass  # PIL below gives the error message (or reads what libjpeg-turbo refused)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB")).transpose(2, 0, 1)         # (3, H, W)
    except (OSError, SyntaxError, ValueError) as err:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"{name}: not a readable image ({err}); copy the dataset again") from err


def _read_pickle(data: bytes | Path, name: str) -> dict:
    """Unpickle one CIFAR batch (only open CIFAR files you trust: pickle can run code)."""
    try:
        if isinstance(data, Path):
            with open(data, "rb") as f:
                return pickle.load(f, encoding="bytes")
        return pickle.loads(data, encoding="bytes")
    except _READ_ERRORS as err:
        raise ValueError(f"{name}: truncated or corrupted CIFAR-10 pickle ({type(err).__name__}: {err}); "
                         f"copy it again or re-download the dataset") from err


def _get(batch: dict, key: str):
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise KeyError(key)


def _batch_arrays(batch: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) int64)`` from one unpickled batch."""
    try:
        data = np.asarray(_get(batch, "data"), dtype=np.uint8)                 # (N, 3072)
        labels = np.asarray(_get(batch, "labels"), dtype=np.int64)            # (N,)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
            raise ValueError(f"data {data.shape}, labels {labels.shape}; expected (N, 3072) and (N,)")
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{name}: not a CIFAR-10 python batch ({type(err).__name__}: {err}); "
                         f"copy it again or re-download the dataset") from err
    return data.reshape(-1, 3, 32, 32), labels                                 # R, G, B planes


def _meta_classes(meta: object, name: str) -> list[str]:
    try:
        return [n.decode() if isinstance(n, bytes) else str(n) for n in _get(meta, "label_names")]
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{name}: batches.meta has no label_names ({err}); copy it again") from err


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, leave=False, mininterval=1.0)


def _from_pickles(source: _Source, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    missing = [p for p in source.paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 batch {missing[0]} is missing; copy the whole cifar-10-batches-py "
                                f"folder again or re-download the dataset")
    parts = [_batch_arrays(_read_pickle(p, str(p)), str(p)) for p in source.paths]
    classes = (_meta_classes(_read_pickle(source.meta, str(source.meta)), str(source.meta))
               if source.meta else list(CIFAR10_CLASSES))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes


def _stack(items: list[tuple[str, str, np.ndarray]], where: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sort ``(class, file name, (3, H, W) image)`` items by class then name; stack them."""
    if not items:
        raise ValueError(f"{where}: no images found; expected <split>/<class>/<image> files")
    classes = sorted({cls for cls, _, _ in items})
    index = {cls: i for i, cls in enumerate(classes)}
    items.sort(key=lambda item: (index[item[0]], _natural_key(item[1])))
    shape = items[0][2].shape
    for cls, name, image in items:
        if image.shape != shape:
            raise ValueError(f"{where}: {cls}/{name} is {image.shape[2]}x{image.shape[1]} but the other images are "
                             f"{shape[2]}x{shape[1]}; all images of a dataset must share one size")
    images = np.stack([image for _, _, image in items])                        # (N, 3, H, W)
    labels = np.array([index[cls] for cls, _, _ in items], dtype=np.int64)     # (N,)
    return np.ascontiguousarray(images), labels, classes


def _from_folder(source: _Source, split: str, progress: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    folder = source.paths[0]
    files = sorted(p for p in folder.glob("*/*") if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
    items = []
    with _progress(len(files), f"decoding CIFAR-10 {split} images", progress) as bar:
        for path in files:
            items.append((path.parent.name, path.name, _decode_image(path.read_bytes(), str(path))))
            bar.update()
    return _stack(items, str(folder))


def _from_archives(source: _Source, split: str, progress: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    items: list[tuple[str, str, np.ndarray]] = []
    batches: dict[str, bytes] = {}
    wanted = {*_PICKLE_BATCHES[split], "batches.meta"}
    with _progress(None, f"decoding CIFAR-10 {split} images", progress) as bar:
        for archive in source.paths:
            try:
                with tarfile.open(archive, mode="r|*") as tar:  # a stream: no seeking, no extraction
                    for member in tar:
                        if not member.isfile():
                            continue
                        parts = PurePosixPath(member.name).parts
                        is_image = (len(parts) >= 3 and parts[-3] == split
                                    and PurePosixPath(parts[-1]).suffix.lower() in _IMAGE_SUFFIXES)
                        if not (is_image or parts[-1] in wanted):
                            continue
                        data = tar.extractfile(member).read()
                        if is_image:
                            items.append((parts[-2], parts[-1], _decode_image(data, f"{archive}:{member.name}")))
                            bar.update()
                        else:
                            batches[parts[-1]] = data
            except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
                raise ValueError(f"{archive}: truncated or corrupted archive ({type(err).__name__}: {err}); "
                                 f"copy it again (compare with its SHA256SUMS) or re-download it") from err
    names = ", ".join(str(a) for a in source.paths)
    if not items and set(_PICKLE_BATCHES[split]) & set(batches):
        missing = [b for b in _PICKLE_BATCHES[split] if b not in batches]
        if missing:
            raise ValueError(f"{names}: CIFAR-10 batch {missing[0]} is missing from the archive; re-download it")
        parts = [_batch_arrays(_read_pickle(batches[b], f"{names}:{b}"), f"{names}:{b}")
                 for b in _PICKLE_BATCHES[split]]
        meta = batches.get("batches.meta")
        classes = _meta_classes(_read_pickle(meta, f"{names}:batches.meta"), names) if meta else list(CIFAR10_CLASSES)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes
    if not items:
        raise ValueError(f"{names}: no {split}/<class>/<image> members and no CIFAR-10 batches in the archive; "
                         f"is it the right file?")
    return _stack(items, names)


# ---------------------------------------------------------------------------------------
# the loader
# ---------------------------------------------------------------------------------------
def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    return split


def _download(split: str) -> _Source:
    from torchvision.datasets import CIFAR10

    target = cache_dir() / "cifar10" / "download"
    CIFAR10(str(target), train=(split == "train"), download=True)
    source = _detect(target, split)
    assert source is not None, f"torchvision downloaded CIFAR-10 into {target} but it cannot be read there"
    return source


def load_cifar10(split: str = "train", root: str | os.PathLike | None = None, download: bool = False,
                 progress: bool = True) -> ImageDataset:
    """Load one split of CIFAR-10 as uint8 tensors (decoded once, then read from the cache).

    Args:
        split: "train" (50,000 images) or "test" (10,000 images).
        root: a folder (or one archive) holding CIFAR-10 in any of the three formats of this
            module; default: ``$SSLCOURSE_DATA``, then ``../shared/data/cifar10-jpeg``.
        download: when no copy is found, download it with torchvision into the cache folder
            (needs internet; tests never do this).
        progress: show a progress bar while decoding.

    Returns:
        An ImageDataset named "cifar10" with ``images`` of shape ``(N, 3, 32, 32)``, labels in
        the official class order (:data:`CIFAR10_CLASSES`). Pickles keep the official image
        order; image folders and archives are ordered by class, then file name.

    Raises:
        FileNotFoundError: no copy found (the message says where it looked and what to do).
        ValueError: a truncated or corrupted archive, pickle or image (the message names it).
    """
    _check_split(split)
    source, places = _locate(root, split)
    if source is None and download:
        source = _download(split)
    if source is None:
        where = ", ".join(f"{p} ({'no CIFAR-10 files' if p.exists() else 'missing'})" for p in places)
        raise FileNotFoundError(f"CIFAR-10 ({split}) not found in: {where}; {_HOW_TO_GET}")
    cache = cache_dir() / "cifar10" / f"{_fingerprint(source)}-{split}.npz"
    if cache.is_file():
        cached = _read_cache(cache)
        if cached is not None:
            return cached
    if source.kind == "pickle":
        images, labels, classes = _from_pickles(source, split)
    elif source.kind == "folder":
        images, labels, classes = _from_folder(source, split, progress)
    else:
        images, labels, classes = _from_archives(source, split, progress)
    dataset = ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), classes, "cifar10")
    _write_cache(cache, images, labels, classes)
    return dataset
