"""Tests of sslcourse.methods.simclr (the model), sslcourse.recipes.simclr (the run on train.fit:
resume, DDP, the CIFAR formats) and sslcourse.lars."""
from __future__ import annotations

import io
import json
import os
import pickle
import socket
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from sslcourse.lars import LARS, lars_param_groups
from sslcourse.losses.contrastive import nt_xent
from sslcourse.methods.simclr import Encoder, Normalize, SimCLR
from sslcourse.recipes.simclr import SimCLRConfig, load_model, main, train
from sslcourse.nn import MLP

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TINY = dict(dataset="digits", batch_size=128, width=8, knn_every=0, probe=False, progress=False)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------ training
def test_tiny_run_lowers_loss_and_beats_random_init(tmp_path):
    m = train(dataset="digits", epochs=10, batch_size=128, width=16, optimizer="lars", lr=0.6,
              crop_scale_min=0.3, knn_every=5, probe=True, progress=False, out_dir=str(tmp_path), seed=0)
    losses = [r["loss"] for r in m["history"]]
    assert losses[-1] < losses[0] - 0.2, losses
    # seeded run: measured 92.0% against 83.2% for the same encoder at random init
    assert m["final_knn"] > m["baselines"]["random_init"] + 0.04, (m["final_knn"], m["baselines"])
    assert 0 < m["linear_probe"] <= 1 and m["history"][-1]["pos_acc"] > m["history"][0]["pos_acc"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["final_knn"] == m["final_knn"] and [r["epoch"] for r in saved["knn"]] == [5, 10]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_continues_exactly(tmp_path):
    straight = tmp_path / "straight"
    train(epochs=2, out_dir=str(straight), **TINY)
    interrupted = tmp_path / "interrupted"
    first = train(epochs=2, out_dir=str(interrupted), time_limit_min=1e-9, **TINY)  # stops after epoch 1
    assert first["epochs_done"] == 1
    second = train(epochs=2, out_dir=str(interrupted), **TINY)  # resumes from the checkpoint
    assert second["epochs_done"] == 2
    a = torch.load(straight / "checkpoint.pt", weights_only=False)
    b = torch.load(interrupted / "checkpoint.pt", weights_only=False)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    model = load_model(straight)  # the trained model comes back from its run folder
    assert all(torch.equal(v, a["model"][k]) for k, v in model.state_dict().items())
    assert model.encoder(torch.rand(2, 1, 8, 8)).shape == (2, model.encoder.out_dim)
    # and without resume the run starts over
    third = train(epochs=1, out_dir=str(interrupted), resume=False, **TINY)
    assert third["epochs_done"] == 1


def test_lr_schedule_warmup_then_cosine_on_every_parameter_group(tmp_path):
    """The lr each step used (fit's history) is warmup then cosine, in both LARS groups."""
    m = train(epochs=4, warmup_epochs=1, lr=0.8, out_dir=str(tmp_path), **TINY)
    rows = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["history"]
    spe = len(rows) // 4  # 1797 digits // 128 = 14 steps per epoch
    lrs = [r["lr"] for r in rows]
    assert lrs[0] == pytest.approx(0.8 / spe) and lrs[spe - 1] == pytest.approx(0.8)
    assert all(a < b for a, b in zip(lrs[:spe], lrs[1:spe]))
    assert all(a >= b for a, b in zip(lrs[spe:], lrs[spe + 1:])) and lrs[-1] < 0.8 * 0.01
    # half-way through the cosine the lr is half the base lr
    s = spe + (len(rows) - spe) // 2
    assert lrs[s] == pytest.approx(0.4, rel=0.05)
    opt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["optimizer"]
    assert len(opt["param_groups"]) == 2 and len({g["lr"] for g in opt["param_groups"]}) == 1
    assert m["history"][-1]["lr"] == lrs[-1]


# ------------------------------------------------------------------------------ the CIFAR command
def _fake_cifar(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8), np.arange(n) % 10


def _write_pickles(root: Path, train_set, test_set) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, idx in enumerate(np.array_split(np.arange(len(train_set[1])), 5), start=1):
        batch = {b"labels": train_set[1][idx].tolist(), b"data": train_set[0][idx].reshape(len(idx), -1)}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    batch = {b"labels": test_set[1].tolist(), b"data": test_set[0].reshape(len(test_set[1]), -1)}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [c.encode() for c in CLASSES]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def _write_jpeg_archives(root: Path, train_set, test_set) -> Path:
    """The layout of the shared JPEG copy: <split>.tar.gz holding <split>/<class>/NNNN.jpg."""
    from PIL import Image

    root.mkdir(parents=True)
    for split, (images, labels) in (("train", train_set), ("test", test_set)):
        with tarfile.open(root / f"cifar10-jpeg-{split}.tar.gz", "w:gz") as tar:
            for i, (img, lab) in enumerate(zip(images, labels)):
                buf = io.BytesIO()
                Image.fromarray(img.transpose(1, 2, 0)).save(buf, format="JPEG", quality=95)
                info = tarfile.TarInfo(f"{split}/{CLASSES[lab]}/{i:04d}.jpg")
                info.size = buf.tell()
                buf.seek(0)
                tar.addfile(info, buf)
    return root


def _write_png_folders(root: Path, train_set, test_set) -> Path:
    """Image folders: <split>/<class>/NNNN.png."""
    from PIL import Image

    for split, (images, labels) in (("train", train_set), ("test", test_set)):
        for i, (img, lab) in enumerate(zip(images, labels)):
            path = root / split / CLASSES[lab] / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.transpose(1, 2, 0)).save(path)
    return root


@pytest.mark.parametrize("fmt", ["pickles", "jpeg-tar.gz", "png-folders"])
def test_command_trains_on_cifar_fixture(tmp_path, monkeypatch, capsys, fmt):
    monkeypatch.setenv("SSLCOURSE_CACHE", str(tmp_path / "cache"))
    write = {"pickles": _write_pickles, "jpeg-tar.gz": _write_jpeg_archives, "png-folders": _write_png_folders}[fmt]
    root = write(tmp_path / "data", _fake_cifar(64, 1), _fake_cifar(30, 2))
    out = tmp_path / "run"
    rc = main("simclr", ["--dataset", "cifar10", "--data-root", str(root), "--epochs", "2",
                              "--batch-size", "32", "--width", "8", "--device", "cpu", "--no-progress",
                              "--out-dir", str(out), "--optimizer", "sgd"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs_done"] == 2 and len(m["history"]) == 2 and m["config"]["dataset"] == "cifar10"
    assert m["config"]["encoder"] == "small" and m["linear_probe"] is not None
    # the reported kNN is that of the saved f1, measured again independently on the same images
    from sslcourse.data import load_dataset
    from sslcourse.evaluate import extract_features, knn_accuracy

    f1 = load_model(out).encoder
    train_set = load_dataset("cifar10", "train", root=str(root), progress=False)
    test_set = load_dataset("cifar10", "test", root=str(root), progress=False)
    acc = knn_accuracy(extract_features(f1, train_set.images), train_set.labels,
                       extract_features(f1, test_set.images), test_set.labels)
    assert acc == pytest.approx(m["final_knn"])
    assert "kNN" in capsys.readouterr().err


def test_command_reports_missing_data_and_bad_args(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSLCOURSE_CACHE", str(tmp_path / "cache"))
    rc = main("simclr", ["--dataset", "cifar10", "--data-root", str(tmp_path / "nowhere"),
                              "--out-dir", str(tmp_path / "run"), "--no-progress"])
    assert rc == 2 and "not found" in capsys.readouterr().err
    rc = main("simclr", ["--dataset", "digits", "--batch-size", "5000", "--out-dir", str(tmp_path / "r"),
                              "--no-progress"])
    assert rc == 2 and "batch size" in capsys.readouterr().err
    with pytest.raises(ValueError, match="optimizer"):
        SimCLRConfig(optimizer="adam").resolved(torch.device("cpu"))


# ------------------------------------------------------------------------------ the model
def _tiny_model(seed: int = 0) -> SimCLR:
    """A SimCLR model without BatchNorm (per-process BatchNorm statistics would differ under DDP)."""
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    backbone.out_dim = 6
    enc = Encoder(Normalize([0.5] * 3, [0.25] * 3), backbone)
    return SimCLR(enc, MLP(6, 16, 8, batch_norm=False), temperature=0.3)


def test_forward_makes_views_and_matches_nt_xent():
    model = _tiny_model()
    x = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8)
    model.generator = torch.Generator().manual_seed(0)
    out = model((x, torch.zeros(12)))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"]) and 0 <= out["pos_acc"] <= 1
    x1, x2 = torch.rand(12, 3, 16, 16), torch.rand(12, 3, 16, 16)
    ref = nt_xent(model.embed(x1), model.embed(x2), 0.3)
    assert torch.allclose(model(x1, x2)["loss"], ref, atol=1e-6)
    out["loss"].backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_lars_trust_ratio_and_excluded_parameters():
    lin = nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.fill_(0.5)
        lin.bias.fill_(0.1)
    lin.weight.grad = torch.full((3, 4), 2.0)
    lin.bias.grad = torch.full((3,), 1.0)
    opt = LARS(lars_param_groups(lin, weight_decay=0.1), lr=0.5, momentum=0.9, weight_decay=0.1, eta=0.02)
    w0 = lin.weight.detach().clone()
    opt.step()
    w_norm, g_norm = w0.norm(), torch.full((3, 4), 2.0).norm()
    trust = 0.02 * w_norm / (g_norm + 0.1 * w_norm)
    expected = w0 - 0.5 * trust * (2.0 + 0.1 * w0)
    assert torch.allclose(lin.weight, expected, atol=1e-7)
    assert torch.allclose(lin.bias, torch.full((3,), 0.1 - 0.5 * 1.0))  # plain SGD, no decay
    # clip: the layer's rate never exceeds lr
    lin.weight.grad = torch.full((3, 4), 1e-6)
    opt2 = LARS(lars_param_groups(lin, 0.0), lr=0.01, weight_decay=0.0, eta=0.02, clip=True)
    w1 = lin.weight.detach().clone()
    opt2.step()
    assert torch.allclose(lin.weight, w1 - 0.01 * 1e-6, atol=1e-9)


# ------------------------------------------------------------------------------ DDP with gloo
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, tmp: str, x1: torch.Tensor, x2: torch.Tensor) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    dist.init_process_group("gloo")
    try:
        model = _tiny_model()
        model.gather = True
        ddp = nn.parallel.DistributedDataParallel(model)
        n = x1.shape[0] // world
        out = ddp(x1[rank * n:(rank + 1) * n], x2[rank * n:(rank + 1) * n])
        out["loss"].backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters()}
        torch.save((out["loss"].detach(), grads), f"{tmp}/grads{rank}.pt")
        # the training command itself, under the same process group (2 processes, global batch 64)
        m = train(epochs=1, batch_size=64, out_dir=f"{tmp}/run", **{k: v for k, v in TINY.items() if k != "batch_size"})
        if rank == 0:
            torch.save(m["world_size"], f"{tmp}/world.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_equal_one_process_on_the_global_batch():
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.rand(8, 3, 12, 12, generator=g), torch.rand(8, 3, 12, 12, generator=g)
    model = _tiny_model()
    ref = model(x1, x2)["loss"]
    ref.backward()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        mp.start_processes(_ddp_worker, args=(2, _free_port(), tmp, x1, x2), nprocs=2, join=True,
                           start_method="fork")
        res = [torch.load(f"{tmp}/grads{r}.pt") for r in range(2)]
        assert torch.load(f"{tmp}/world.pt") == 2
        assert json.loads(Path(f"{tmp}/run/metrics.json").read_text())["world_size"] == 2
    assert torch.allclose((res[0][0] + res[1][0]) / 2, ref, atol=1e-6)
    for name, p in model.named_parameters():
        for r in range(2):  # DDP averaged the gradients: every process holds the global-batch gradient
            assert torch.allclose(res[r][1][name], p.grad, atol=1e-6), name


def test_curves_png_leaves_the_matplotlib_backend_alone(tmp_path):
    """Writing curves.png must not switch a notebook kernel's backend (it hid lecture 05's figures)."""
    import subprocess
    import sys

    code = f"""
import matplotlib
matplotlib.use("svg")  # stands in for a kernel's inline backend
from sslcourse.recipes.simclr import plot_curves as _plot
m = {{"history": [{{"epoch": 1, "loss": 5.0}}, {{"epoch": 2, "loss": 4.0}}], "config": {{"knn_k": 200}},
     "knn": [{{"train_time_s": 6.0, "knn": 0.4}}], "baselines": {{"raw_pixels": 0.3, "random_init": 0.2}}}}
_plot(m, __import__("pathlib").Path({str(tmp_path / "curves.png")!r}))
print(matplotlib.get_backend())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().lower() == "svg"
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
