"""SimCLR: contrastive learning of visual representations, as a model and a training command.

Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", 2020, arXiv:2002.05709.

Lecture notation -> code words:
    g : x -> (x1, x2)        two random views of every image     -> ``views`` (sslcourse.views)
    f1, the encoder          kept for downstream tasks            -> ``SimCLR.encoder``
    f2, the projector        used only by the loss                -> ``SimCLR.projector``
    f = f2 o f1              the embedding the loss compares      -> ``SimCLR.embed``
    s(e1, e2) = cos / tau    similarity with temperature          -> ``temperature``
(The SimCLR paper calls the projection head g; in this course g makes the views.)

``SimCLR(encoder, projector)(images)`` makes both views on the images' device, embeds the 2N
views in one pass and returns ``{"loss": nt_xent, "pos_acc": ...}``. ``train(SimCLRConfig)``
is the training command behind ``sslcourse train simclr``:

* the dataset sits on the device as uint8; both views are made there per sample (views.py);
* bf16 autocast and channels_last on CUDA, optional ``torch.compile``;
* LARS or SGD with linear warmup and cosine decay, per step;
* kNN accuracy (k=200, t=0.1) on the test set every few epochs, against wall-clock;
* a checkpoint every epoch and exact resume (model, optimizer, step, random states);
* a final linear probe on frozen encoder features, ``metrics.json`` and ``curves.png``;
* under ``torchrun --nproc_per_node=N`` it trains with DistributedDataParallel; every
  process contrasts its views against the embeddings of all processes (gathered with
  gradients), so the negatives come from the global batch, as in SimCLR; ``--sync-bn``
  synchronises BatchNorm statistics (CUDA only).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from sslcourse.lars import LARS, lars_param_groups
from sslcourse.losses.contrastive import nt_xent
from sslcourse.nn import MLP, backbone
from sslcourse.utils import to_float_images
from sslcourse.views import Augment, TwoViews

__all__ = ["SimCLR", "SimCLRConfig", "Normalize", "build_model", "load_model", "train", "train_cli", "lr_at"]


# ============================================================================ the model
class Normalize(nn.Module):
    """Per-channel standardisation ``(x - mean) / std`` as the encoder's first layer.

    Kept inside f1 so that whoever uses the encoder downstream feeds it plain [0, 1] images.
    """

    def __init__(self, mean: list[float] | tuple[float, ...], std: list[float] | tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float_images(x)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)  # (N, C, H, W)


class Encoder(nn.Sequential):
    """f1 = backbone o Normalize, exposing the backbone's ``out_dim``."""

    def __init__(self, normalize: Normalize, backbone: nn.Module) -> None:
        super().__init__(normalize, backbone)
        self.out_dim = int(backbone.out_dim)


class SimCLR(nn.Module):
    """The SimCLR model: f = projector o encoder, trained with NT-Xent on two views.

    Args:
        encoder: f1, images ``(N, C, H, W)`` -> features ``(N, D)``, with ``.out_dim``.
        projector: f2, ``(N, D)`` -> ``(N, d)`` (SimCLR: 2-layer MLP with BatchNorm, d = 128).
        temperature: tau of the loss (SimCLR CIFAR-10: 0.5).
        views: the pair generator g (default: SimCLR's CIFAR-10 recipe at the input size).
        decoupled: the lecture's loss with the positive left out of the denominator.
        gather: contrast against the embeddings of all processes (set by the training command
            under torch.distributed).

    ``forward(batch)`` accepts images ``(N, C, H, W)`` (uint8 or float), a tuple
    ``(images, labels)`` (labels ignored), or two ready views ``forward(x1, x2)``; it returns
    ``{"loss": scalar tensor, "pos_acc": scalar tensor}``.
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module, temperature: float = 0.5,
                 views: TwoViews | None = None, decoupled: bool = False, gather: bool = False) -> None:
        super().__init__()
        self.encoder, self.projector = encoder, projector
        self.temperature, self.decoupled, self.gather = temperature, decoupled, gather
        self.views = views
        self.generator: torch.Generator | None = None  # seeded by the training command

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) = f2(f1(x)): ``(N, C, H, W)`` -> ``(N, d)``."""
        return self.projector(self.encoder(x))

    def make_views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two views of every image, on the images' device."""
        views = self.views if self.views is not None else TwoViews(Augment(size=tuple(x.shape[-2:])))
        return views(x, self.generator)

    def forward(self, batch: Any, x2: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if x2 is None:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            with torch.no_grad():
                x1, x2 = self.make_views(x)  # 2 x (N, C, H, W) float in [0, 1]
        else:
            x1 = batch
        n = x1.shape[0]
        x = torch.cat([x1, x2])  # (2N, C, H, W): one pass, BatchNorm sees both views
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        z = self.embed(x)  # (2N, d)
        z1, z2 = z[:n], z[n:]
        loss = nt_xent(z1, z2, self.temperature, decoupled=self.decoupled, gather=self.gather)
        with torch.no_grad():  # top-1 of the contrastive classification, on this process's batch
            zn = F.normalize(z.detach().float(), dim=1)
            sim = zn @ zn.T  # (2N, 2N)
            sim.fill_diagonal_(float("-inf"))
            target = torch.cat([torch.arange(n, 2 * n, device=sim.device), torch.arange(n, device=sim.device)])
            pos_acc = (sim.argmax(dim=1) == target).float().mean()
        return {"loss": loss, "pos_acc": pos_acc}


# ============================================================================ configuration
@dataclass
class SimCLRConfig:
    """Settings of ``sslcourse train simclr`` (CPU-sized defaults; the paper's values in comments).

    SimCLR's CIFAR-10 setup (arXiv:2002.05709, appendix B.9): ResNet-50 with the CIFAR stem,
    batch 256-4096, LARS, temperature 0.5, 100-1000 epochs; views as ``simclr_cifar_views``.
    """

    dataset: str = "shapes"  # "cifar10" | "shapes" | "digits"
    data_root: str | None = None  # folder (or archive) holding CIFAR-10; default: $SSLCOURSE_DATA, ../shared/data
    train_subset: int | None = None  # images of the train split to use (None: all)
    test_subset: int | None = None  # images of the test split for kNN / probe (None: all)
    encoder: str = "auto"  # "small" (SmallCNN) | "resnet18" (CIFAR stem); auto: resnet18 on CUDA, small on CPU
    width: int = 32  # SmallCNN width
    proj_hidden: int = 512  # SimCLR: 2048 (ResNet-50); 512 is common for ResNet-18
    proj_dim: int = 128  # SimCLR: 128
    temperature: float = 0.5  # SimCLR CIFAR-10: 0.5
    decoupled: bool = False
    epochs: int = 10  # SimCLR: 100-1000
    batch_size: int = 256  # global batch (split over processes); SimCLR CIFAR-10: 256-4096
    optimizer: str = "lars"  # "lars" | "sgd"
    lr: float | None = None  # base lr; None: LARS 0.3 * B/256 (SimCLR), SGD 0.06 * B/128 (lightly's CIFAR-10 benchmark)
    weight_decay: float | None = None  # None: LARS 1e-6 (SimCLR), SGD 5e-4 (lightly)
    momentum: float = 0.9
    lars_eta: float = 1e-3  # SimCLR: 0.001
    lars_clip: bool = False  # apex/solo-learn variant
    warmup_epochs: float = 1.0  # SimCLR: 10
    crop_scale_min: float = 0.08  # SimCLR: 0.08
    jitter_strength: float = 0.5  # s: jitter (0.8s, 0.8s, 0.8s, 0.2s); SimCLR CIFAR-10: 0.5
    knn_every: int = 1  # epochs between kNN evaluations (0: only at the end)
    knn_k: int = 200
    knn_t: float = 0.1
    probe: bool = True  # final linear probe on frozen features
    baselines: bool = True  # raw-pixel and random-init kNN, measured the same way
    seed: int = 0
    device: str = "auto"
    compile: bool = False  # torch.compile the model (CUDA)
    sync_bn: bool = False  # SyncBatchNorm under torchrun (CUDA)
    out_dir: str = "runs/simclr"
    resume: bool = True  # continue from out_dir/checkpoint.pt when it exists
    checkpoint_every: int = 1  # epochs; 0: never
    time_limit_min: float | None = None  # stop after this much training wall-clock (schedule unchanged)
    log_every: int = 20  # steps between progress-bar updates (each one syncs the GPU)
    progress: bool = True

    def resolved(self, device: torch.device) -> "SimCLRConfig":
        """Fill the ``None``/``auto`` fields for ``device``."""
        c = SimCLRConfig(**asdict(self))
        if c.encoder == "auto":
            c.encoder = "resnet18" if device.type == "cuda" else "small"
        if c.optimizer not in ("lars", "sgd"):
            raise ValueError(f"optimizer must be 'lars' or 'sgd', got {c.optimizer!r}.")
        if c.lr is None:
            c.lr = 0.3 * c.batch_size / 256 if c.optimizer == "lars" else 0.06 * c.batch_size / 128
        if c.weight_decay is None:
            c.weight_decay = 1e-6 if c.optimizer == "lars" else 5e-4
        return c


def build_model(cfg: SimCLRConfig, in_channels: int, image_size: tuple[int, int],
                mean: list[float], std: list[float]) -> SimCLR:
    """The SimCLR model of a (resolved) config for images of ``in_channels`` x ``image_size``."""
    encoder = Encoder(Normalize(mean, std), backbone(cfg.encoder, in_channels=in_channels, width=cfg.width))
    projector = MLP(encoder.out_dim, cfg.proj_hidden, cfg.proj_dim, num_layers=2, batch_norm=True)
    s = cfg.jitter_strength
    views = TwoViews(Augment(size=tuple(image_size), scale=(cfg.crop_scale_min, 1.0), brightness=0.8 * s,
                             contrast=0.8 * s, saturation=0.8 * s, hue=min(0.2 * s, 0.5)))
    return SimCLR(encoder, projector, cfg.temperature, views=views, decoupled=cfg.decoupled)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warmup from ~0 to ``base_lr`` over ``warmup_steps``, then cosine decay to 0."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


# ============================================================================ helpers
def _dist_setup(device: str) -> tuple[int, int, torch.device]:
    """Initialise torch.distributed when launched by torchrun; return (rank, world, device)."""
    from sslcourse.utils import get_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, get_device(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = get_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), dev


def _load(cfg: SimCLRConfig, split: str, subset: int | None):
    from sslcourse.data import load_dataset

    kwargs: dict[str, Any] = {}
    if cfg.dataset == "cifar10":
        kwargs = {"root": cfg.data_root, "progress": cfg.progress}
    return load_dataset(cfg.dataset, split, subset=subset, seed=cfg.seed, **kwargs)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def _features(encoder: nn.Module, images: torch.Tensor, device: torch.device, batch: int = 1024) -> torch.Tensor:
    """Frozen f1 features of uint8 images (eval mode, bf16 on CUDA), float32 ``(N, D)``."""
    was = encoder.training
    encoder.eval()
    out = []
    try:
        for i in range(0, len(images), batch):
            x = to_float_images(images[i:i + batch].to(device, non_blocking=True))
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device):
                out.append(encoder(x).float())
    finally:
        encoder.train(was)
    return torch.cat(out)


def _knn(encoder: nn.Module, data: dict, device: torch.device, cfg: SimCLRConfig) -> float:
    from sslcourse.evaluate import knn_accuracy

    tr = _features(encoder, data["train_x"], device)
    te = _features(encoder, data["test_x"], device)
    return knn_accuracy(tr, data["train_y"], te, data["test_y"], k=cfg.knn_k, t=cfg.knn_t)


class _NoBar:
    """Stand-in for tqdm where it is not installed (a bare GPU image): prints epoch lines only."""

    def __init__(self, **_: Any) -> None:
        pass

    def set_postfix(self, **_: Any) -> None:
        pass

    def update(self, _: int) -> None:
        pass

    def write(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def _progress_bar(**kwargs: Any):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar(**kwargs)
    return tqdm(**kwargs)


def _plot(metrics: dict, path: Path) -> None:
    try:  # matplotlib is optional on a bare GPU image
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no curves.png (metrics.json has the numbers)", file=sys.stderr)
        return

    from sslcourse.utils import atomic_write

    # A bare Figure draws to PNG without pyplot, so the backend of a notebook kernel is never touched
    # (matplotlib.use("Agg") here switched lecture 05 off the inline backend: later figures vanished).
    fig = Figure(figsize=(10, 3.5))
    a, b = fig.subplots(1, 2)
    rows = metrics["history"]
    if rows:
        a.plot([r["epoch"] for r in rows], [r["loss"] for r in rows], marker=".")
    a.set(xlabel="epoch", ylabel="NT-Xent loss", title="training loss")
    knn = metrics["knn"]
    if knn:
        b.plot([r["train_time_s"] / 60 for r in knn], [100 * r["knn"] for r in knn], marker="o", label="SimCLR f1")
    for name, acc in metrics.get("baselines", {}).items():
        b.axhline(100 * acc, ls="--", color="gray" if name == "raw_pixels" else "tab:red", label=name)
    b.set(xlabel="training wall-clock (min)", ylabel="kNN top-1 (%)", title=f"kNN (k={metrics['config']['knn_k']})")
    b.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


# ============================================================================ training
def train(cfg: SimCLRConfig | None = None, **overrides: Any) -> dict[str, Any]:
    """Train SimCLR as configured; returns the metrics (also written to ``out_dir/metrics.json``).

    ``train(dataset="digits", epochs=3)`` is short for ``train(SimCLRConfig(dataset="digits", epochs=3))``.

    Resumes from ``out_dir/checkpoint.pt`` when ``cfg.resume`` and it exists: the run then
    continues exactly (same parameters, optimizer state, data order and views) as if it had
    never stopped, at epoch granularity.
    """
    from sslcourse.utils import atomic_torch_save, atomic_write

    start = time.perf_counter()
    cfg = SimCLRConfig(**{**asdict(cfg or SimCLRConfig()), **overrides})
    rank, world, device = _dist_setup(cfg.device)
    cfg = cfg.resolved(device)
    main = rank == 0
    if cfg.batch_size % world:
        raise ValueError(f"batch size {cfg.batch_size} must be divisible by the {world} processes.")
    local_b = cfg.batch_size // world
    out = Path(cfg.out_dir)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)

    # -- data: uint8 on the device ------------------------------------------------------
    train_set, test_set = _load(cfg, "train", cfg.train_subset), _load(cfg, "test", cfg.test_subset)
    if len(train_set) < cfg.batch_size:
        raise ValueError(f"batch size {cfg.batch_size} is larger than the {len(train_set)} training images; "
                         "use a smaller --batch-size.")
    train_x = train_set.images.to(device)  # (N, C, H, W) uint8
    data = {"train_x": train_x, "train_y": train_set.labels.to(device),
            "test_x": test_set.images.to(device), "test_y": test_set.labels.to(device)}
    xf = to_float_images(train_set.images[:4096])
    mean, std = xf.mean(dim=(0, 2, 3)).tolist(), xf.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    _, c, h, w = train_x.shape

    # -- model, optimizer ---------------------------------------------------------------
    model = build_model(cfg, c, (h, w), mean, std).to(device)
    model_args = {"in_channels": c, "image_size": (h, w), "mean": mean, "std": std}
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if cfg.optimizer == "lars":
        opt = LARS(lars_param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum,
                   weight_decay=cfg.weight_decay, eta=cfg.lars_eta, clip=cfg.lars_clip)
    else:
        opt = torch.optim.SGD(lars_param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum)
    steps_per_epoch = len(train_x) // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))

    state = {"epoch": 0, "history": [], "knn": [], "train_time_s": 0.0, "images_seen": 0}
    model.generator = torch.Generator(device=device).manual_seed(cfg.seed * 1000 + rank)
    ckpt_path = out / "checkpoint.pt"
    if cfg.resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])  # moves the momentum buffers to the parameters' device
        state = ck["state"]
        model.generator.set_state(ck["generators"][rank])
        torch.set_rng_state(ck["cpu_rng"])
        if main:
            print(f"resumed from {ckpt_path} at epoch {state['epoch']}", file=sys.stderr)

    net: nn.Module = model
    if world > 1:
        if cfg.sync_bn:
            if device.type != "cuda":
                raise ValueError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm runs on GPUs only).")
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        model.gather = True
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    step_fn = torch.compile(net) if cfg.compile else net

    # -- baselines (once) ---------------------------------------------------------------
    if main and "baselines" not in state and not cfg.baselines:
        state["baselines"] = {}
    if main and "baselines" not in state:
        from sslcourse.evaluate import knn_accuracy

        raw = knn_accuracy(data["train_x"].flatten(1).float(), data["train_y"], data["test_x"].flatten(1).float(),
                           data["test_y"], k=cfg.knn_k, t=cfg.knn_t)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            rand_model = build_model(cfg, c, (h, w), mean, std).to(device)
        state["baselines"] = {"raw_pixels": raw, "random_init": _knn(rand_model.encoder, data, device, cfg)}
        del rand_model

    # -- the loop -----------------------------------------------------------------------
    bar = _progress_bar(total=total_steps, initial=state["epoch"] * steps_per_epoch, desc="simclr", unit="step",
               disable=not (main and cfg.progress), dynamic_ncols=True)
    time_up = False
    while state["epoch"] < cfg.epochs and not time_up:
        epoch = state["epoch"]
        t0 = time.perf_counter()
        perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
        perm = perm.to(device)
        loss_sum = torch.zeros((), device=device)
        acc_sum = torch.zeros((), device=device)
        last_log, last_t = 0, t0
        net.train()
        for it in range(steps_per_epoch):
            step = epoch * steps_per_epoch + it
            lr = lr_at(step, total_steps, warmup_steps, cfg.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[it * cfg.batch_size + rank * local_b: it * cfg.batch_size + (rank + 1) * local_b]
            x = train_x[idx]  # (B_local, C, H, W) uint8, on the device
            with torch.no_grad():
                x1, x2 = model.make_views(x)  # per-sample views, on the device
            with _autocast(device):
                res = step_fn(x1, x2)
            opt.zero_grad(set_to_none=True)
            res["loss"].backward()
            opt.step()
            loss_sum += res["loss"].detach()
            acc_sum += res["pos_acc"]
            if main and cfg.progress and ((it + 1) % cfg.log_every == 0 or it + 1 == steps_per_epoch):
                now = time.perf_counter()
                ips = (it + 1 - last_log) * cfg.batch_size / max(now - last_t, 1e-9)
                bar.set_postfix(epoch=epoch + 1, loss=f"{res['loss'].item():.3f}", img_s=f"{ips:,.0f}", lr=f"{lr:.3g}")
                bar.update(it + 1 - last_log)
                last_log, last_t = it + 1, now
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_time = time.perf_counter() - t0
        state["train_time_s"] += epoch_time
        state["images_seen"] += steps_per_epoch * cfg.batch_size
        if world > 1:
            dist.all_reduce(loss_sum)
            dist.all_reduce(acc_sum)
            loss_sum /= world
            acc_sum /= world
        row = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch,
               "loss": loss_sum.item() / steps_per_epoch, "pos_acc": acc_sum.item() / steps_per_epoch,
               "lr": lr, "images_per_s": steps_per_epoch * cfg.batch_size / epoch_time,
               "train_time_s": state["train_time_s"]}
        if not math.isfinite(row["loss"]):
            raise FloatingPointError(f"SimCLR loss became {row['loss']} in epoch {epoch + 1}; lower --lr.")
        state["history"].append(row)
        state["epoch"] = epoch + 1
        if cfg.time_limit_min is not None and state["train_time_s"] >= 60 * cfg.time_limit_min:
            time_up = True
        if world > 1:  # every process must stop at the same epoch: rank 0 decides
            flag = torch.tensor([float(time_up)], device=device)
            dist.broadcast(flag, src=0)
            time_up = bool(flag.item())
        last = state["epoch"] == cfg.epochs or time_up
        if main and ((cfg.knn_every and state["epoch"] % cfg.knn_every == 0) or last):
            acc = _knn(model.encoder, data, device, cfg)
            state["knn"].append({"epoch": state["epoch"], "train_time_s": state["train_time_s"], "knn": acc,
                                 "wall_s": time.perf_counter() - start})
            bar.write(f"epoch {state['epoch']}: loss {row['loss']:.4f}  pos_acc {row['pos_acc']:.3f}  "
                      f"kNN {100 * acc:.2f}%  {row['images_per_s']:,.0f} img/s  "
                      f"train {state['train_time_s'] / 60:.2f} min")
        if cfg.checkpoint_every and (state["epoch"] % cfg.checkpoint_every == 0 or last):
            gens = [model.generator.get_state()]
            if world > 1:
                gathered: list[Any] = [None] * world
                dist.all_gather_object(gathered, model.generator.get_state().cpu())
                gens = gathered
            if main:
                atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state,
                                   "generators": gens, "cpu_rng": torch.get_rng_state(),
                                   "config": asdict(cfg), "model_args": model_args}, ckpt_path)
        if world > 1:
            dist.barrier()
    bar.close()

    # -- final evaluation, metrics.json, curves.png -------------------------------------
    metrics: dict[str, Any] = {}
    if main:
        from sslcourse.evaluate import linear_probe

        final_knn = state["knn"][-1]["knn"] if state["knn"] else _knn(model.encoder, data, device, cfg)
        probe = None
        if cfg.probe:
            tr = _features(model.encoder, data["train_x"], device)
            te = _features(model.encoder, data["test_x"], device)
            probe = linear_probe(tr, data["train_y"], te, data["test_y"], epochs=100)
        hist = state["history"]
        metrics = {
            "method": "simclr", "config": asdict(cfg), "world_size": world, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "epochs_done": state["epoch"], "images_seen": state["images_seen"],
            "train_time_s": state["train_time_s"],
            "images_per_s": state["images_seen"] / max(state["train_time_s"], 1e-9),
            "final_knn": final_knn, "linear_probe": probe, "baselines": state["baselines"],
            "knn": state["knn"], "history": hist,
        }
        with atomic_write(out / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=2))
        _plot(metrics, out / "curves.png")
        base = state["baselines"]
        print(f"SimCLR {cfg.dataset}: kNN {100 * final_knn:.2f}%"
              + (f" (raw pixels {100 * base['raw_pixels']:.2f}%, random init {100 * base['random_init']:.2f}%)"
                 if base else "")
              + (f", linear probe {100 * probe:.2f}%" if probe is not None else "")
              + f"; {metrics['images_per_s']:,.0f} img/s; wrote {out / 'metrics.json'}", file=sys.stderr)
    if world > 1:
        dist.barrier()
    return metrics


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> SimCLR:
    """The trained SimCLR model of a run: ``load_model("runs/simclr/checkpoint.pt").encoder`` is f1.

    Args:
        path: a ``checkpoint.pt`` written by ``train`` (or its run folder).
        device: where to put the model.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no SimCLR checkpoint at {path}; train with checkpoint_every >= 1 first.")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    cfg = SimCLRConfig(**ck["config"])
    a = ck["model_args"]
    model = build_model(cfg, a["in_channels"], tuple(a["image_size"]), a["mean"], a["std"])
    model.load_state_dict(ck["model"])
    return model.to(device).eval()


# ============================================================================ command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sslcourse train simclr",
                                description="Train SimCLR (f = projector o encoder, NT-Xent on two views). "
                                            "Run it under torchrun --nproc_per_node=N for several GPUs.")
    defaults = SimCLRConfig()
    for f in fields(SimCLRConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif f.name in ("lr", "weight_decay", "time_limit_min"):
            p.add_argument(flag, type=float, default=default)
        elif f.name in ("train_subset", "test_subset"):
            p.add_argument(flag, type=int, default=default)
        elif f.name == "data_root":
            p.add_argument(flag, type=str, default=default)
        else:
            p.add_argument(flag, type=type(default), default=default)
    return p


def train_cli(method: str, argv: list[str]) -> int:
    """``sslcourse train simclr ARGS``: parse ``argv`` into a ``SimCLRConfig`` and train."""
    if method != "simclr":
        raise ValueError(f"sslcourse.methods.simclr trains 'simclr', not {method!r}.")
    args = _parser().parse_args(argv)
    cfg = SimCLRConfig(**vars(args))
    try:
        train(cfg)
    except (FileNotFoundError, ValueError) as err:
        print(f"sslcourse train simclr: {err}", file=sys.stderr)
        return 2
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":  # python -m sslcourse.methods.simclr ARGS (also under torchrun)
    raise SystemExit(train_cli("simclr", sys.argv[1:]))
