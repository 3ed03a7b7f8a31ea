"""sslcourse.utils and sslcourse.grading."""

from __future__ import annotations

import pytest
import torch

from sslcourse import grading, notebook, utils


def test_pick_follows_the_context(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert notebook.pick(cpu=100, grading=5, gpu=1000) == (1000 if torch.cuda.is_available() else 100)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert notebook.is_autograding() and notebook.pick(cpu=100, grading=5, gpu=1000) == 5
    assert notebook.pick(cpu=100) == 100


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with utils.atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with utils.atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


def test_seed_everything_repeats_random_draws():
    utils.seed_everything(3)
    a = torch.randn(4)
    g = utils.seed_everything(3)
    assert torch.equal(a, torch.randn(4))
    assert torch.equal(torch.randn(2, generator=g), torch.randn(2, generator=torch.Generator().manual_seed(3)))


def test_to_device_walks_containers():
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), 3), "list": [torch.ones(1)]}
    moved = utils.to_device(batch, "meta")  # a device every machine has: each tensor must really move
    assert moved["x"].device.type == moved["pair"][0].device.type == moved["list"][0].device.type == "meta"
    assert moved["pair"][1] == 3 and isinstance(moved["pair"], tuple) and isinstance(moved["list"], list)
    assert batch["x"].device.type == "cpu"  # the input is left as it was


def test_forbid_calls_catches_any_alias_of_a_reference_function():
    from sslcourse.utils import seed_everything as renamed

    with pytest.raises(AssertionError, match="integrity check"):
        with grading.forbid_calls("sslcourse.utils"):
            renamed(0)
    with grading.forbid_calls("sslcourse.utils"):  # own code passes
        torch.ones(3).sum()
    with pytest.raises(AssertionError):
        with grading.forbid_calls("sslcourse"):  # a whole package
            utils.cache_dir()
    with pytest.raises(ValueError, match="no module named"):
        with grading.forbid_calls("sslcourse.no_such_module"):
            pass


def test_to_float_images_scales_uint8_and_keeps_floats():
    from sslcourse.utils import to_float_images

    x = torch.tensor([[[[0, 51, 255]]]], dtype=torch.uint8)
    out = to_float_images(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([[[[0.0, 0.2, 1.0]]]]))
    assert x.tolist() == [[[[0, 51, 255]]]]  # the stored pixels are not changed
    f = torch.rand(2, 3, 4, 4)
    assert to_float_images(f) is f
    with pytest.raises(TypeError, match="uint8 .* or float"):
        to_float_images(torch.zeros(1, 3, 2, 2, dtype=torch.int64))


def test_atomic_write_gives_the_permissions_of_a_plain_write(tmp_path):
    """Not the 0600 of the temporary file: build/ must be publishable (readable by others)."""
    import os

    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.txt"
        with utils.atomic_write(fresh) as tmp:
            tmp.write_text("x")
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o600)  # a file the user made private stays private
        with utils.atomic_write(kept) as tmp:
            tmp.write_text("new")
        assert kept.stat().st_mode & 0o777 == 0o600 and kept.read_text() == "new"
    finally:
        os.umask(old)

