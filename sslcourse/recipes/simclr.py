"""``sslcourse train simclr``: SimCLR on CIFAR-10 (GPU) or the small offline worlds (CPU).

The model is ``sslcourse.methods.simclr``; this recipe is the run around it, on the one training
loop ``sslcourse.train.fit``:

* the dataset sits on the device as uint8 (``TensorBatches(device=...)``); the model makes both
  views there, per sample (``sslcourse.views``);
* bf16 autocast and channels_last on CUDA, optional ``torch.compile`` (``fit``'s options);
* LARS (You et al. 2017, arXiv:1708.03888; biases and BatchNorm excluded) or SGD, linear warmup
  then cosine decay (``fit``'s schedule multiplies every parameter group's lr);
* kNN accuracy (k=200, t=0.1) of f1 on the test set every few epochs (``evaluate.KNNMonitor``),
  beside the raw-pixel and random-init baselines measured the same way (``evaluate.baselines``);
* a checkpoint every epoch, exact resume, an optional time limit that stops at a checkpoint;
* a final linear probe on frozen f1 features, ``metrics.json`` and ``curves.png`` in ``out_dir``;
* under ``torchrun --nproc_per_node=N``: DistributedDataParallel (``fit``), each process
  contrasts its views against the embeddings of all processes (``nt_xent(gather=True)``), so the
  negatives come from the global batch as in SimCLR; ``--sync-bn`` synchronises BatchNorm (CUDA).

SimCLR's CIFAR-10 setup (Chen et al. 2020, arXiv:2002.05709, appendix B.9): ResNet-50 with the
CIFAR stem, batch 256-4096, LARS, temperature 0.5, 100-1000 epochs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from sslcourse import checkpoint as ckpt_format
from sslcourse.data import load_dataset
from sslcourse.evaluate import KNNMonitor, baselines, extract_features, linear_probe
from sslcourse.lars import LARS, lars_param_groups
from sslcourse.methods.simclr import SimCLR, build_model
from sslcourse.train import History, TensorBatches, fit
from sslcourse.utils import atomic_write, get_device, to_float_images

__all__ = ["NAMES", "SimCLRConfig", "train", "load_model", "main"]

NAMES = ("simclr",)


@dataclass
class SimCLRConfig:
    """Settings of ``sslcourse train simclr`` (CPU-sized defaults; the paper's values in comments)."""

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
    optimizer: str = "lars"  # "lars" | "sgd" | "adamw" (small CPU runs)
    lr: float | None = None  # base lr; None: LARS 0.3 * B/256 (SimCLR), SGD 0.06 * B/128 (lightly's CIFAR-10 benchmark), AdamW 2e-3
    weight_decay: float | None = None  # None: LARS 1e-6 (SimCLR), SGD 5e-4 (lightly), AdamW 1e-5
    momentum: float = 0.9
    lars_eta: float = 1e-3  # SimCLR: 0.001
    lars_clip: bool = False  # apex/solo-learn variant
    warmup_epochs: float = 1.0  # SimCLR: 10
    crop_scale_min: float = 0.08  # SimCLR: 0.08
    jitter_strength: float = 0.5  # s: jitter (0.8s, 0.8s, 0.8s, 0.2s); SimCLR CIFAR-10: 0.5
    hue: float | None = None  # hue jitter instead of 0.2s (0.5 on the shapes world, where colour is a nuisance)
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
    checkpoint_every: int = 1  # epochs between checkpoints; 0: only at the end
    time_limit_min: float | None = None  # stop at the first checkpoint after this much training (schedule unchanged)
    progress: bool = True

    def resolved(self, device: torch.device) -> "SimCLRConfig":
        """Fill the ``None``/``auto`` fields for ``device``."""
        c = SimCLRConfig(**asdict(self))
        if c.encoder == "auto":
            c.encoder = "resnet18" if device.type == "cuda" else "small"
        if c.optimizer not in ("lars", "sgd", "adamw"):
            raise ValueError(f"optimizer must be 'lars', 'sgd' or 'adamw', got {c.optimizer!r}.")
        if c.lr is None:
            c.lr = {"lars": 0.3 * c.batch_size / 256, "sgd": 0.06 * c.batch_size / 128, "adamw": 2e-3}[c.optimizer]
        if c.weight_decay is None:
            c.weight_decay = {"lars": 1e-6, "sgd": 5e-4, "adamw": 1e-5}[c.optimizer]
        return c


def _dist_setup(device: str) -> tuple[int, int, torch.device]:
    """Initialise torch.distributed when launched by torchrun; return (rank, world, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = get_device(device)
    if world <= 1:
        return 0, 1, dev
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), dev


def _load(cfg: SimCLRConfig, split: str, subset: int | None):
    kwargs: dict[str, Any] = {"root": cfg.data_root, "progress": cfg.progress} if cfg.dataset == "cifar10" else {}
    return load_dataset(cfg.dataset, split, subset=subset, seed=cfg.seed, **kwargs)


def _epochs(history: History, steps_per_epoch: int, batch_size: int) -> list[dict[str, float]]:
    """``fit``'s per-step rows -> one row per finished epoch (means of loss and pos_acc)."""
    rows, out, before = history.rows, [], 0.0
    for e in range(len(rows) // steps_per_epoch):
        chunk = rows[e * steps_per_epoch:(e + 1) * steps_per_epoch]
        seconds = chunk[-1]["train_time_s"] - before
        before = chunk[-1]["train_time_s"]
        out.append({"epoch": e + 1, "step": chunk[-1]["step"],
                    "loss": sum(r["loss"] for r in chunk) / len(chunk),
                    "pos_acc": sum(r["pos_acc"] for r in chunk) / len(chunk), "lr": chunk[-1]["lr"],
                    "images_per_s": len(chunk) * batch_size / max(seconds, 1e-9), "train_time_s": before})
    return out


def plot_curves(metrics: dict[str, Any], path: Path) -> None:
    """``curves.png``: loss per epoch, and kNN against training wall-clock beside the baselines."""
    try:  # matplotlib is optional on a bare GPU image
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no curves.png (metrics.json has the numbers)", file=sys.stderr)
        return
    # A bare Figure draws to PNG without pyplot, so the backend of a notebook kernel is never touched
    # (matplotlib.use("Agg") here switched lecture 05 off the inline backend: later figures vanished).
    fig = Figure(figsize=(10, 3.5))
    a, b = fig.subplots(1, 2)
    rows = metrics["history"]
    if rows:
        a.plot([r["epoch"] for r in rows], [r["loss"] for r in rows], marker=".")
    a.set(xlabel="epoch", ylabel="NT-Xent loss", title="training loss")
    if metrics["knn"]:
        b.plot([r["train_time_s"] / 60 for r in metrics["knn"]], [100 * r["knn"] for r in metrics["knn"]],
               marker="o", label="SimCLR f1")
    for name, acc in metrics.get("baselines", {}).items():
        b.axhline(100 * acc, ls="--", color="gray" if name == "raw_pixels" else "tab:red", label=name)
    b.set(xlabel="training wall-clock (min)", ylabel="kNN top-1 (%)", title=f"kNN (k={metrics['config']['knn_k']})")
    b.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def train(cfg: SimCLRConfig | None = None, **overrides: Any) -> dict[str, Any]:
    """Train SimCLR as configured; returns the metrics (also written to ``out_dir/metrics.json``).

    ``train(dataset="digits", epochs=3)`` is short for ``train(SimCLRConfig(dataset="digits", epochs=3))``.
    Resumes from ``out_dir/checkpoint.pt`` when ``cfg.resume`` and it exists: the run continues
    exactly (parameters, optimizer, data order, views) as if it had never stopped. Under
    torchrun only rank 0 returns the metrics (the other processes return ``{}``).
    """
    start = time.perf_counter()
    cfg = SimCLRConfig(**{**asdict(cfg or SimCLRConfig()), **overrides})
    rank, world, device = _dist_setup(cfg.device)
    cfg = cfg.resolved(device)
    main = rank == 0
    if cfg.batch_size % world:
        raise ValueError(f"batch size {cfg.batch_size} must be divisible by the {world} processes.")
    out = Path(cfg.out_dir)

    # -- data: uint8 on the device --------------------------------------------------------
    train_set, test_set = _load(cfg, "train", cfg.train_subset), _load(cfg, "test", cfg.test_subset)
    if len(train_set) < cfg.batch_size:
        raise ValueError(f"batch size {cfg.batch_size} is larger than the {len(train_set)} training images; "
                         "use a smaller --batch-size.")
    train_x, train_y = train_set.images.to(device), train_set.labels.to(device)  # (N, C, H, W) uint8, (N,)
    test_x, test_y = test_set.images.to(device), test_set.labels.to(device)
    xf = to_float_images(train_set.images[:4096])
    _, c, h, w = train_x.shape
    model_config = {"in_channels": c, "image_size": [h, w], "mean": xf.mean(dim=(0, 2, 3)).tolist(),
                    "std": xf.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist(), "encoder": cfg.encoder,
                    "width": cfg.width, "proj_hidden": cfg.proj_hidden, "proj_dim": cfg.proj_dim,
                    "temperature": cfg.temperature, "decoupled": cfg.decoupled,
                    "crop_scale_min": cfg.crop_scale_min, "jitter_strength": cfg.jitter_strength,
                    "hue": cfg.hue}

    # -- model, optimizer -----------------------------------------------------------------
    torch.manual_seed(cfg.seed)  # the same initial weights on every process
    model = build_model(**model_config).to(device)
    if world > 1:
        model.gather = True  # negatives from the global batch
        if cfg.sync_bn:
            if device.type != "cuda":
                raise ValueError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm runs on GPUs only).")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    groups = lars_param_groups(model, cfg.weight_decay)  # no weight decay / LARS on biases and BatchNorm
    if cfg.optimizer == "lars":
        opt = LARS(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, eta=cfg.lars_eta,
                   clip=cfg.lars_clip)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    else:
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
    steps_per_epoch = len(train_x) // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch

    # -- baselines and the kNN monitor (rank 0) -------------------------------------------
    base = {}
    if main and cfg.baselines:
        base = baselines(train_x, train_y, test_x, test_y, lambda: build_model(**model_config).encoder,
                         k=cfg.knn_k, t=cfg.knn_t, device=device, batch_size=1024, seed=cfg.seed + 1)
    monitor = KNNMonitor(model.encoder, train_x, train_y, test_x, test_y, k=cfg.knn_k, t=cfg.knn_t,
                         every=cfg.knn_every * steps_per_epoch or total_steps, batch_size=1024)

    # -- the loop: sslcourse.train.fit ----------------------------------------------------
    if main:
        out.mkdir(parents=True, exist_ok=True)
    history = fit(model, TensorBatches(train_x, batch_size=cfg.batch_size, seed=cfg.seed, rank=rank, world=world),
                  steps=total_steps, optimizer=opt, warmup_steps=int(round(cfg.warmup_epochs * steps_per_epoch)),
                  device=device, callbacks=[monitor], checkpoint=out / "checkpoint.pt",
                  checkpoint_every=cfg.checkpoint_every * steps_per_epoch, resume=cfg.resume,
                  progress=cfg.progress, desc="simclr", seed=cfg.seed, channels_last=device.type == "cuda",
                  compile=cfg.compile, sync_every=20 if device.type == "cuda" else 1,  # a GPU never waits for the host
                  time_limit_s=None if cfg.time_limit_min is None else 60 * cfg.time_limit_min,
                  method="simclr", config={"model": model_config, "run": asdict(cfg)})
    if not main:
        return {}

    # -- final evaluation, metrics.json, curves.png ---------------------------------------
    epochs = _epochs(history, steps_per_epoch, cfg.batch_size)
    def epoch_of(step: int) -> float:  # whole epochs as ints (a time limit without checkpoints may stop mid-epoch)
        return step // steps_per_epoch if step % steps_per_epoch == 0 else round(step / steps_per_epoch, 2)

    knn = [{"epoch": epoch_of(r["step"]), "train_time_s": r["train_time_s"], "knn": r["knn"]}
           for r in history.rows if "knn" in r]
    last = history.rows[-1] if history.rows else {"step": 0, "train_time_s": 0.0}
    if not knn or knn[-1]["epoch"] != epoch_of(last["step"]):  # stopped by the time limit between two kNN epochs
        knn.append({"epoch": epoch_of(last["step"]), "train_time_s": last["train_time_s"],
                    **monitor(last["step"], model, history)})
    probe = None
    if cfg.probe:
        ftr = extract_features(model.encoder, train_x, batch_size=1024)  # (N, D)
        fte = extract_features(model.encoder, test_x, batch_size=1024)  # (M, D)
        probe = linear_probe(ftr, train_y, fte, test_y, epochs=100)
    train_time = history.rows[-1]["train_time_s"] if history.rows else 0.0
    images = len(epochs) * steps_per_epoch * cfg.batch_size
    metrics = {
        "method": "simclr", "config": asdict(cfg), "world_size": world, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "epochs_done": len(epochs), "images_seen": images,
        "train_time_s": train_time, "images_per_s": images / max(train_time, 1e-9),
        "wall_s": time.perf_counter() - start, "final_knn": knn[-1]["knn"], "linear_probe": probe,
        "baselines": base, "knn": knn, "history": epochs,
    }
    with atomic_write(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    plot_curves(metrics, out / "curves.png")
    print(f"SimCLR {cfg.dataset}: kNN {100 * metrics['final_knn']:.2f}%"
          + (f" (raw pixels {100 * base['raw_pixels']:.2f}%, random init {100 * base['random_init']:.2f}%)"
             if base else "")
          + (f", linear probe {100 * probe:.2f}%" if probe is not None else "")
          + f"; {metrics['images_per_s']:,.0f} img/s; wrote {out / 'metrics.json'}", file=sys.stderr)
    return metrics


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> SimCLR:
    """The trained SimCLR model of a run: ``load_model("runs/simclr").encoder`` is f1.

    Args:
        path: a ``checkpoint.pt`` written by ``train``, or its run folder.
        device: where to put the model (returned in eval mode).
    """
    path = Path(path)
    path = path / "checkpoint.pt" if path.is_dir() else path
    ck = ckpt_format.read(path, "train SimCLR first (`sslcourse train simclr --out-dir FOLDER`).")
    if ck["method"] != "simclr":
        raise ckpt_format.CheckpointError(f"{path} holds a {ck['method']!r} model, not SimCLR; "
                                          "load it with sslcourse.recipes.load_model.")
    model = build_model(**ck["config"]["model"])
    model.load_state_dict(ck["model"])
    return model.to(device).eval()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sslcourse train simclr",
                                description="Train SimCLR (f = projector o encoder, NT-Xent on two views). "
                                            "Run it under torchrun --nproc_per_node=N for several GPUs.")
    defaults = SimCLRConfig()
    for f in fields(SimCLRConfig):
        flag, default = "--" + f.name.replace("_", "-"), getattr(defaults, f.name)
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif f.name in ("lr", "weight_decay", "time_limit_min", "hue"):
            p.add_argument(flag, type=float, default=default)
        elif f.name in ("train_subset", "test_subset"):
            p.add_argument(flag, type=int, default=default)
        else:
            p.add_argument(flag, type=str if default is None else type(default), default=default)
    return p


def main(name: str, argv: list[str]) -> int:
    """``sslcourse train simclr ARGS``: parse ``argv`` into a ``SimCLRConfig`` and train."""
    if name not in NAMES:
        raise ValueError(f"the simclr recipe trains {NAMES}, not {name!r}.")
    cfg = SimCLRConfig(**vars(_parser().parse_args(argv)))
    try:
        train(cfg)
    except (FileNotFoundError, ValueError) as err:
        print(f"sslcourse train simclr: {err}", file=sys.stderr)
        return 2
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":  # python -m sslcourse.recipes.simclr ARGS (also under torchrun)
    raise SystemExit(main("simclr", sys.argv[1:]))
