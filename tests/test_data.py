"""Tests of sslcourse.data: ImageDataset, the bundled digits and photos, and the CIFAR-10 loaders.

The CIFAR-10 loaders are tested on tiny fixtures written here in each real on-disk format
(torchvision's python pickles, image folders, tar.gz archives of image folders, torchvision's
cifar-10-python.tar.gz). Nothing here needs the network; the one test that reads the shared
copy in ../shared/data skips cleanly without it.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sslcourse.data.cifar as cifar
from sslcourse.data import (
    CIFAR10_CLASSES,
    DATASETS,
    PHOTO_NAMES,
    ImageDataset,
    find_shared_data,
    load_cifar10,
    load_dataset,
    photo,
    photo_patches,
    stratified_indices,
)

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test gets its own cache folder and no SSLCOURSE_DATA (so nothing real is read)."""
    monkeypatch.setenv("SSLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SSLCOURSE_DATA", raising=False)


def cache_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "cache" / "cifar10"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def fake_cifar(n: int, seed: int, smooth: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 32x32 RGB images (N, 3, 32, 32) uint8 and shuffled labels covering all 10 classes."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    if smooth:  # low-frequency images survive JPEG well
        yy, xx = np.mgrid[0:32, 0:32] / 31.0
        phase = rng.uniform(0, 2 * np.pi, size=(n, 3, 1, 1))
        images = 127.5 + 100 * np.sin(2 * np.pi * (xx + 0.5 * yy)[None, None] + phase)
        return np.rint(images).astype(np.uint8), labels
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8), labels


def encode(image_chw: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image_chw.transpose(1, 2, 0)).save(buffer, format=fmt, quality=90)
    return buffer.getvalue()


def folder_members(split: str, images: np.ndarray, labels: np.ndarray, fmt: str = "PNG"):
    """``(member path, bytes)`` as CIFAR-10 image folders store them: <split>/<class>/NNNN.ext,
    numbered per class in the original order (as the YoongiKim JPEG copy does)."""
    ext = {"PNG": "png", "JPEG": "jpg"}[fmt]
    counter = {c: 0 for c in range(10)}
    for image, label in zip(images, labels.tolist()):
        yield f"{split}/{CIFAR10_CLASSES[label]}/{counter[label]:04d}.{ext}", encode(image, fmt)
        counter[label] += 1


def write_folders(root: Path, split: str, images, labels, fmt: str = "PNG") -> None:
    for name, data in folder_members(split, images, labels, fmt):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def write_tar(path: Path, members, mode: str = "w:gz") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def pickle_members(train, test) -> list[tuple[str, bytes]]:
    """The files of torchvision's cifar-10-batches-py: 5 train batches, test_batch, batches.meta."""
    out = []
    chunks = np.array_split(np.arange(len(train[1])), 5)
    for i, idx in enumerate(chunks, start=1):
        batch = {b"batch_label": f"training batch {i} of 5".encode(), b"labels": train[1][idx].tolist(),
                 b"data": train[0][idx].reshape(len(idx), -1), b"filenames": [b"x.png"] * len(idx)}
        out.append((f"data_batch_{i}", pickle.dumps(batch, protocol=2)))
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": test[1].tolist(),
             b"data": test[0].reshape(len(test[1]), -1), b"filenames": [b"x.png"] * len(test[1])}
    out.append(("test_batch", pickle.dumps(batch, protocol=2)))
    meta = {b"num_cases_per_batch": 10, b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}
    out.append(("batches.meta", pickle.dumps(meta, protocol=2)))
    return out


def write_pickles(root: Path, train, test) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, data in pickle_members(train, test):
        (folder / name).write_bytes(data)
    return folder


def by_class(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order of image folders: grouped by class, original order inside a class."""
    order = np.argsort(labels, kind="stable")
    return images[order], labels[order]


@pytest.fixture
def data():
    return {"train": fake_cifar(40, seed=1), "test": fake_cifar(20, seed=2)}


# ----------------------------------------------------------------------------- CIFAR-10 formats


def test_pickles_keep_official_order_and_values(tmp_path, data):
    folder = write_pickles(tmp_path / "src", data["train"], data["test"])
    for root in (tmp_path / "src", folder):  # the parent or cifar-10-batches-py itself
        for split in ("train", "test"):
            ds = load_cifar10(split, root=root, progress=False)
            assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
            assert ds.images.shape == (len(data[split][1]), 3, 32, 32)
            np.testing.assert_array_equal(ds.images.numpy(), data[split][0])
            np.testing.assert_array_equal(ds.labels.numpy(), data[split][1])
            assert ds.classes == list(CIFAR10_CLASSES)


def test_png_folders_and_tar_equal_the_pickles(tmp_path, data):
    """Lossless formats: all three readers return the very same arrays (up to the folder order)."""
    write_pickles(tmp_path / "pickles", data["train"], data["test"])
    for split in ("train", "test"):
        write_folders(tmp_path / "folders", split, *data[split])
        members = list(folder_members(split, *data[split]))[::-1]  # archive order must not matter
        write_tar(tmp_path / "tars" / f"cifar10-png-{split}.tar.gz", [(f"cifar10/{n}", b) for n, b in members])
    for split in ("train", "test"):
        pickles = load_cifar10(split, root=tmp_path / "pickles", progress=False)
        folders = load_cifar10(split, root=tmp_path / "folders", progress=False)
        tars = load_cifar10(split, root=tmp_path / "tars", progress=False)
        want_images, want_labels = by_class(pickles.images.numpy(), pickles.labels.numpy())
        for ds in (folders, tars):
            np.testing.assert_array_equal(ds.images.numpy(), want_images)
            np.testing.assert_array_equal(ds.labels.numpy(), want_labels)
            assert ds.classes == list(CIFAR10_CLASSES)


def test_jpeg_folders_and_tar_decode_like_pil(tmp_path):
    images, labels = fake_cifar(20, seed=3, smooth=True)
    write_folders(tmp_path / "folders", "test", images, labels, fmt="JPEG")
    write_tar(tmp_path / "tars" / "cifar10-jpeg-test.tar.gz", folder_members("test", images, labels, "JPEG"))
    folders = load_cifar10("test", root=tmp_path / "folders", progress=False)
    tars = load_cifar10("test", root=tmp_path / "tars", progress=False)
    np.testing.assert_array_equal(folders.images.numpy(), tars.images.numpy())
    # reference decoder: PIL on the same files (the same libjpeg family: at most 2 levels apart)
    files = sorted((tmp_path / "folders" / "test").glob("*/*.jpg"),
                   key=lambda p: (CIFAR10_CLASSES.index(p.parent.name), p.name))
    pil = np.stack([np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in files])
    assert np.abs(folders.images.numpy().astype(int) - pil).max() <= 2
    # and JPEG kept the smooth images close to the originals
    want, want_labels = by_class(images, labels)
    assert np.abs(folders.images.numpy().astype(float) - want).mean() < 4.0
    np.testing.assert_array_equal(folders.labels.numpy(), want_labels)


def test_torchvision_tarball_of_pickles(tmp_path, data):
    members = [(f"cifar-10-batches-py/{n}", b) for n, b in pickle_members(data["train"], data["test"])]
    archive = write_tar(tmp_path / "dl" / "cifar-10-python.tar.gz", members)
    for split in ("train", "test"):
        ds = load_cifar10(split, root=archive, progress=False)
        np.testing.assert_array_equal(ds.images.numpy(), data[split][0])
        np.testing.assert_array_equal(ds.labels.numpy(), data[split][1])


def test_one_archive_with_both_splits_and_other_classes(tmp_path):
    """Class names come from the folders (sorted), whatever order they were written in."""
    rng = np.random.default_rng(4)
    names = ["zebra", "apple", "mango"]
    members = []
    for split in ("test", "train"):
        for i, name in enumerate(names * 2):
            image = rng.integers(0, 256, size=(3, 16, 16), dtype=np.uint8)
            members.append((f"data/{split}/{name}/{5 * i}.png", encode(image, "PNG")))
    members.append(("data/README.txt", b"not an image"))
    archive = write_tar(tmp_path / "both.tar", members, mode="w")
    ds = load_cifar10("train", root=archive, progress=False)
    assert ds.classes == ["apple", "mango", "zebra"]
    assert ds.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.images.shape == (6, 3, 16, 16)
    # within a class, names sort naturally: "5.png" before "20.png"
    first_apple = Image.open(io.BytesIO(dict(members)["data/train/apple/5.png"]))
    np.testing.assert_array_equal(ds.images[0].numpy(), np.asarray(first_apple).transpose(2, 0, 1))


def test_found_through_environment_variable(tmp_path, data, monkeypatch):
    write_folders(tmp_path / "store" / "cifar10-jpeg", "test", *data["test"])
    monkeypatch.setenv("SSLCOURSE_DATA", str(tmp_path / "store"))
    assert find_shared_data("cifar10-jpeg") == tmp_path / "store" / "cifar10-jpeg"
    assert find_shared_data("no-such-dataset-anywhere") is None
    ds = load_dataset("cifar10", "test", progress=False)
    np.testing.assert_array_equal(ds.labels.numpy(), np.sort(data["test"][1]))
    # an archive named after the other split is not read for this one
    write_tar(tmp_path / "only" / "cifar10-jpeg-test.tar.gz", folder_members("test", *data["test"]))
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 \(train\) not found in: .*only \(no CIFAR-10 files\)"):
        load_cifar10("train", root=tmp_path / "only")
    assert len(load_cifar10("test", root=tmp_path / "only", progress=False)) == 20


def test_download_goes_through_torchvision_into_the_cache(tmp_path, data, monkeypatch):
    """download=True wiring, with torchvision's CIFAR10 replaced by a fake (no network in tests)."""
    import torchvision.datasets

    calls = []

    class FakeCIFAR10:
        def __init__(self, root, train=True, download=False):
            calls.append((Path(root), train, download))
            if not (Path(root) / "cifar-10-batches-py").exists():
                write_pickles(Path(root), data["train"], data["test"])

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    monkeypatch.setattr(cifar, "find_shared_data", lambda name: None)
    with pytest.raises(FileNotFoundError):
        load_dataset("cifar10", "test")  # no download unless asked
    assert calls == []
    ds = load_dataset("cifar10", "test", download=True, progress=False)
    assert calls == [(tmp_path / "cache" / "cifar10" / "download", False, True)]
    np.testing.assert_array_equal(ds.images.numpy(), data["test"][0])
    assert len(load_dataset("cifar10", "train", progress=False)) == 40  # found there later, no new call
    assert len(calls) == 1


# ----------------------------------------------------------------------------- the cache


def test_second_load_reads_the_cache_not_the_images(tmp_path, data, monkeypatch):
    write_tar(tmp_path / "src" / "x-train.tar.gz", folder_members("train", *data["train"]))
    first = load_cifar10("train", root=tmp_path / "src", progress=False)
    (cached,) = cache_files(tmp_path)
    assert cached.name.endswith("-train.npz") and cached == cifar.cifar10_cache_path("train", tmp_path / "src")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache exists")

    monkeypatch.setattr(cifar, "_decode_image", no_decoding)
    monkeypatch.setattr(cifar, "_read_pickle", no_decoding)
    second = load_cifar10("train", root=tmp_path / "src", progress=False)
    np.testing.assert_array_equal(second.images.numpy(), first.images.numpy())
    np.testing.assert_array_equal(second.labels.numpy(), first.labels.numpy())
    assert second.classes == first.classes


def test_pickle_cache_and_invalidation_when_the_source_changes(tmp_path, data, monkeypatch):
    folder = write_pickles(tmp_path / "src", data["train"], data["test"])
    load_cifar10("test", root=folder, progress=False)
    monkeypatch.setattr(cifar, "_read_pickle", lambda *a: (_ for _ in ()).throw(AssertionError("re-read")))
    load_cifar10("test", root=folder, progress=False)  # from the cache
    monkeypatch.undo()
    monkeypatch.setenv("SSLCOURSE_CACHE", str(tmp_path / "cache"))
    new_images, new_labels = fake_cifar(20, seed=9)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": new_images.reshape(20, -1),
                                                     b"labels": new_labels.tolist()}))
    os.utime(folder / "test_batch", ns=(10**18, 10**18))  # a different mtime even on coarse clocks
    ds = load_cifar10("test", root=folder, progress=False)
    np.testing.assert_array_equal(ds.images.numpy(), new_images)
    assert len(cache_files(tmp_path)) == 2  # old and new key


def test_unreadable_cache_is_rebuilt(tmp_path, data):
    folder = write_pickles(tmp_path / "src", data["train"], data["test"])
    load_cifar10("test", root=folder, progress=False)
    (cached,) = cache_files(tmp_path)
    cached.write_bytes(b"PK\x03\x04 garbage")
    with pytest.warns(UserWarning, match="unreadable CIFAR-10 cache"):
        ds = load_cifar10("test", root=folder, progress=False)
    np.testing.assert_array_equal(ds.images.numpy(), data["test"][0])
    assert load_cifar10("test", root=folder, progress=False).images.shape == (20, 3, 32, 32)


# ----------------------------------------------------------------------------- bad input


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_tar_gz_is_a_clear_error_and_leaves_no_cache(tmp_path, data, cut):
    archive = write_tar(tmp_path / "src" / "c-train.tar.gz", folder_members("train", *data["train"]))
    raw = archive.read_bytes()
    archive.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(ValueError) as err:
        load_cifar10("train", root=tmp_path / "src", progress=False)
    message = one_line(err)
    assert str(archive) in message and "truncated or corrupted" in message
    assert cache_files(tmp_path) == []  # no cache, no temporary file


def test_corrupted_tar_gz_is_a_clear_error(tmp_path, data):
    archive = write_tar(tmp_path / "src" / "c-test.tar.gz", folder_members("test", *data["test"]))
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)  # zero a stretch of the gzip stream
    archive.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted") as err:
        load_cifar10("test", root=archive, progress=False)
    assert str(archive) in one_line(err)
    assert cache_files(tmp_path) == []


def test_truncated_or_wrong_pickle_is_a_clear_error(tmp_path, data):
    folder = write_pickles(tmp_path / "src", data["train"], data["test"])
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(ValueError) as err:
        load_cifar10("train", root=folder, progress=False)
    assert "data_batch_3" in one_line(err) and "corrupted" in str(err.value)
    (folder / "test_batch").write_bytes(pickle.dumps({b"pixels": [1, 2, 3]}))
    with pytest.raises(ValueError, match="test_batch.*not a CIFAR-10 python batch"):
        load_cifar10("test", root=folder, progress=False)
    (folder / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_5"):
        load_cifar10("train", root=folder, progress=False)
    assert cache_files(tmp_path) == []


def test_unreadable_image_or_mixed_sizes_name_the_file(tmp_path, data):
    write_folders(tmp_path / "a", "test", *data["test"])
    bad = tmp_path / "a" / "test" / "cat" / "0000.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="0000.png.*not a readable image") as err:
        load_cifar10("test", root=tmp_path / "a", progress=False)
    one_line(err)
    write_folders(tmp_path / "b", "test", *data["test"])
    Image.new("RGB", (20, 24)).save(tmp_path / "b" / "test" / "dog" / "0001.png")
    with pytest.raises(ValueError, match="dog/0001.png is 20x24"):
        load_cifar10("test", root=tmp_path / "b", progress=False)
    assert cache_files(tmp_path) == []


def test_missing_data_says_where_and_what_to_do(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        load_cifar10("train", root=tmp_path / "empty")
    message = one_line(err)
    assert f"{tmp_path / 'empty'} (no CIFAR-10 files)" in message
    with pytest.raises(FileNotFoundError, match=r"nowhere \(missing\)"):
        load_cifar10("test", root=tmp_path / "nowhere")
    assert all(hint in message for hint in ("SSLCOURSE_DATA", "root=", "download=True"))
    # without root: the environment variable, the shared folder and the download folder
    monkeypatch.setenv("SSLCOURSE_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(cifar, "find_shared_data", lambda name: None)
    with pytest.raises(FileNotFoundError, match="not found in: .*empty.*download") as err:
        load_dataset("cifar10", "test")
    one_line(err)
    # a notebook may ask for a fallback: one line says what it uses instead
    ds = load_dataset("cifar10", "test", subset=30, fallback="digits")
    assert ds.name == "digits" and len(ds) == 30
    assert capsys.readouterr().out.strip() == ("cifar10 is not available here (set SSLCOURSE_DATA or pass root= "
                                               "to use it); using 'digits' instead")


def test_unknown_names_and_splits():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; known datasets: digits, photos"):
        load_dataset("imagenet")
    for name in DATASETS:
        assert name in ("digits", "photos", "shapes", "cifar10")
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_dataset("digits", "val")
    with pytest.raises(ValueError, match="unknown split"):
        load_cifar10("validation")


# ----------------------------------------------------------------------------- bundled data


def test_digits_split_is_fixed_disjoint_and_complete():
    from sklearn.datasets import load_digits as sk_digits

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.images.shape == (1297, 1, 8, 8) and test.images.shape == (500, 1, 8, 8)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.classes == [str(d) for d in range(10)]
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
    assert torch.all((test.class_counts() - 50).abs() <= 2)  # stratified: 500 / 10 classes
    # together they are exactly scikit-learn's 1,797 images (16 levels scaled to 0..255)
    raw = sk_digits()
    want = np.rint(raw.images * 255 / 16).astype(np.uint8).reshape(1797, -1)
    got = torch.cat([train.images, test.images]).reshape(1797, -1).numpy()
    got_labels = torch.cat([train.labels, test.labels]).numpy()
    key = lambda x, y: sorted(zip(y.tolist(), map(bytes, x)))  # noqa: E731  (a multiset of rows)
    assert key(got, got_labels) == key(want, raw.target)
    again = load_dataset("digits", "test", seed=123)  # seed does not move the split
    assert torch.equal(again.images, test.images)


def test_photos_and_patches():
    import skimage.data

    photos = load_dataset("photos", size=64)
    assert photos.images.shape == (len(PHOTO_NAMES), 3, 64, 64) and photos.images.dtype == torch.uint8
    assert photos.classes == list(PHOTO_NAMES) and photos.labels.tolist() == list(range(len(PHOTO_NAMES)))
    assert {"astronaut", "chelsea", "coffee", "rocket"} <= set(PHOTO_NAMES)
    assert torch.equal(photo("astronaut", None), torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1))
    assert photo("rocket", 48).shape == (3, 48, 48)
    with pytest.raises(ValueError, match="unknown photo 'mona_lisa'"):
        photo("mona_lisa")

    patches = photo_patches(size=16, n=50, seed=5, photo_size=48)
    assert patches.images.shape == (50, 3, 16, 16) and patches.classes == list(PHOTO_NAMES)
    assert torch.equal(patches.images, photo_patches(size=16, n=50, seed=5, photo_size=48).images)
    assert not torch.equal(patches.images, photo_patches(size=16, n=50, seed=6, photo_size=48).images)
    # every patch is a crop of the photo its label names (brute-force search over positions)
    for i in range(3):
        source = photo(PHOTO_NAMES[int(patches.labels[i])], 48)
        windows = source.unfold(1, 16, 1).unfold(2, 16, 1)                  # (3, 33, 33, 16, 16)
        match = (windows == patches.images[i][:, None, None]).all(-1).all(-1).all(0)
        assert match.any()


def test_shapes_is_registered_lazily():
    pytest.importorskip("sslcourse.data.shapes")
    ds = load_dataset("shapes", "train", subset=20, seed=0)
    assert isinstance(ds, ImageDataset) and len(ds) == 20 and ds.images.dtype == torch.uint8
    assert len(load_dataset("shapes", "heldout", subset=5)) == 5  # shapes has its own third split


# ----------------------------------------------------------------------------- ImageDataset


def indexed_dataset(counts: list[int]) -> ImageDataset:
    """Image i holds the number i in its pixels, so picks can be traced back."""
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])[torch.randperm(sum(counts),
                                                                         generator=torch.Generator().manual_seed(0))]
    n = len(labels)
    ids = torch.arange(n)
    images = torch.stack([ids % 256, ids // 256], 1).to(torch.uint8).reshape(n, 2, 1, 1)
    return ImageDataset(images, labels, [f"c{k}" for k in range(len(counts))], "toy")


def ids_of(ds: ImageDataset) -> list[int]:
    return (ds.images[:, 0, 0, 0].long() + 256 * ds.images[:, 1, 0, 0].long()).tolist()


def test_subset_is_stratified_seeded_and_in_order():
    ds = indexed_dataset([50, 30, 15, 5])  # 100 images
    for n in (0, 1, 7, 33, 100):
        sub = ds.subset(n, seed=1)
        assert len(sub) == n
        quota = ds.class_counts().double() * n / len(ds)
        assert torch.all(sub.class_counts() >= quota.floor()) and torch.all(sub.class_counts() <= quota.ceil())
        picked = ids_of(sub)
        assert picked == sorted(picked) and len(set(picked)) == n
        assert all(ds.labels[i] == label for i, label in zip(picked, sub.labels.tolist()))
    assert ids_of(ds.subset(33, seed=1)) == ids_of(ds.subset(33, seed=1))
    assert ids_of(ds.subset(33, seed=1)) != ids_of(ds.subset(33, seed=2))
    per_class = ds.subset(n_per_class=5, seed=0)
    assert per_class.class_counts().tolist() == [5, 5, 5, 5]
    with pytest.raises(ValueError, match="class 'c3' has only 5 images, fewer than n_per_class=6"):
        ds.subset(n_per_class=6)
    with pytest.raises(ValueError, match="exactly one of"):
        ds.subset()
    with pytest.raises(ValueError, match="cannot pick 101 of 100"):
        ds.subset(101)
    assert stratified_indices(ds.labels, 10, seed=3).tolist() == sorted(ids_of(ds.subset(10, seed=3)))


def test_split_is_disjoint_complete_and_stratified():
    ds = indexed_dataset([40, 40, 20])
    first, rest = ds.split(0.25, seed=0)
    assert len(first) == 25 and len(rest) == 75
    assert sorted(ids_of(first) + ids_of(rest)) == list(range(100))
    assert first.class_counts().tolist() == [10, 10, 5]
    with pytest.raises(ValueError, match="between 0 and 1"):
        ds.split(1.0)


def test_image_dataset_protocol_and_validation():
    ds = indexed_dataset([3, 2])
    assert len(ds) == 5 and ds.image_shape == (2, 1, 1) and ds.num_classes == 2
    image, label = ds[0]
    assert image.shape == (2, 1, 1) and label.dtype == torch.int64
    x = ds.float()
    assert x.dtype == torch.float32 and torch.allclose(x * 255, ds.images.float())
    assert "n=5" in repr(ds)
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    assert next(iter(loader))[0].shape == (2, 2, 1, 1)
    with pytest.raises(ValueError, match="uint8 tensor of shape"):
        ImageDataset(torch.rand(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), ["a"])
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ImageDataset(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), ["a"])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 0\]"):
        ImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), ["a"])
    from_numpy = ImageDataset(np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 0]), ["a"])
    assert isinstance(from_numpy.images, torch.Tensor) and from_numpy.labels.dtype == torch.int64


def test_load_dataset_subset():
    ds = load_dataset("digits", "train", subset=100, seed=0)
    assert len(ds) == 100 and torch.all(ds.class_counts() == 10)


# ----------------------------------------------------------------------------- the shared copy


def test_shared_cifar10_test_split():
    """The real JPEG copy in ../shared/data (skipped where there is none): the test split only."""
    if find_shared_data("cifar10-jpeg") is None:
        pytest.skip("no ../shared/data/cifar10-jpeg here")
    ds = load_dataset("cifar10", "test", progress=False)
    assert ds.images.shape == (10000, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.classes == list(CIFAR10_CLASSES)
    assert ds.class_counts().tolist() == [1000] * 10
    mean = ds.float().mean(dim=(0, 2, 3))  # CIFAR-10's per-channel means: about 0.49, 0.48, 0.45
    assert torch.allclose(mean, torch.tensor([0.49, 0.48, 0.45]), atol=0.03)
