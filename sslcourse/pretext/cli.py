"""``sslcourse train rotation|colorization|patches|jigsaw``: pretrain f1 on a pretext task, then probe it.

    sslcourse train rotation                              # upright shapes world, CPU, a few minutes
    sslcourse train rotation --steps 200 --batch-size 32  # the lecture's budget: about a minute
    sslcourse train patches --data cifar10 --n-train 10000 --steps 2000
    sslcourse train rotation --data cifar10 --n-train 0 --encoder resnet18 --steps 20000 --device cuda

After training it saves ``OUT/<method>.pt`` (a resumable checkpoint of the whole model),
``OUT/<method>_encoder.pt`` (f1 only) and ``OUT/<method>_transfer.json``, and prints the
linear-probe / kNN table against raw pixels, a random-init encoder and (optionally) supervised
training from scratch on the same labels.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

from sslcourse.pretext.base import PixelEncoder, build_backbone

__all__ = ["METHODS", "DATASETS", "build_model", "default_grid", "load_images", "train_cli"]

METHODS = ("rotation", "colorization", "patches", "jigsaw")
DATASETS = ("upright-oriented", "upright-shapes", "shapes", "cifar10")


def default_grid(image_size: int) -> tuple[int, int, int]:
    """(patch, gap, jitter) of a 3x3 grid that fits an image: patch = size/4, jitter = size/32."""
    patch, jitter = image_size // 4, max(1, image_size // 32)
    gap = (image_size - 3 * patch - 6 * jitter) // 2
    if patch < 8 or gap < 1:
        raise ValueError(f"images of {image_size}px are too small for a 3x3 grid of >= 8px patches with a gap; "
                         "use --image-size 32 or more")
    return patch, gap, jitter


def build_model(method: str, backbone: str = "small", width: int = 32, image_size: int = 32) -> nn.Module:
    """The pretext model for ``method`` with a fresh f1 (``model.encoder``)."""
    from sslcourse.pretext.colorization import Colorization
    from sslcourse.pretext.jigsaw import Jigsaw
    from sslcourse.pretext.patches import RelativePatchPlacement
    from sslcourse.pretext.rotation import RotationPrediction

    if method not in METHODS:
        raise ValueError(f"unknown pretext task {method!r}; choose one of: {', '.join(METHODS)}")
    encoder = PixelEncoder(build_backbone(backbone, width), grayscale=(method == "colorization"))
    if method == "rotation":
        return RotationPrediction(encoder)
    if method == "colorization":
        return Colorization(encoder)
    patch, gap, jitter = default_grid(image_size)
    if method == "patches":
        return RelativePatchPlacement(encoder, patch_size=patch, gap=gap, jitter=jitter)
    return Jigsaw(encoder, tile_size=patch, gap=gap, jitter=jitter)


def load_images(name: str, split: str, n: int | None, image_size: int = 32, seed: int = 0):
    """An ``ImageDataset`` for the CLI and the lecture (one of ``DATASETS``).

    ``upright-oriented``: the upright shapes world, only the four shapes with an "up" (what rotation
    prediction needs, see ``pretext/upright.py``); ``upright-shapes``: all eight upright shapes;
    ``shapes``: the course's shapes world as it is; ``cifar10``: the local CIFAR-10 copy.
    ``n=None`` or 0 means the whole split (10,000 / 2,000 generated shapes, of which the oriented
    subset keeps about half; 50,000 / 10,000 CIFAR-10).
    """
    from sslcourse.data import load_dataset
    from sslcourse.pretext.upright import ORIENTED_SHAPES, load_upright_shapes

    n = n or None
    if name == "upright-oriented":
        return load_upright_shapes(split, n=n, seed=seed, image_size=image_size, classes=ORIENTED_SHAPES)
    if name == "upright-shapes":
        return load_upright_shapes(split, n=n, seed=seed, image_size=image_size)
    if name == "shapes":
        return load_dataset("shapes", split, subset=n, seed=seed, image_size=image_size)
    if name == "cifar10":
        return load_dataset("cifar10", split, subset=n, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def _parser(method: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"sslcourse train {method}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="upright-oriented", choices=DATASETS,
                   help="training data (default: the upright shapes with an 'up'; see pretext/upright.py)")
    p.add_argument("--image-size", type=int, default=None,
                   help="side of the generated shapes images (default: 16; 32 for patches and jigsaw)")
    p.add_argument("--n-train", type=int, default=10000, help="unlabelled training images (0: the whole split)")
    p.add_argument("--n-test", type=int, default=2000, help="test images for the probes (0: the whole split)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--encoder", default="small", choices=("small", "resnet18"))
    p.add_argument("--width", type=int, default=32, help="SmallCNN width")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/pretext", help="folder for the checkpoint, encoder and results")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--labels-per-class", type=int, nargs="+", default=[10, 100])
    p.add_argument("--supervised-steps", type=int, default=0,
                   help="also train the encoder from scratch on the same labels for this many steps")
    p.add_argument("--no-eval", action="store_true", help="skip the transfer evaluation")
    p.add_argument("--no-progress", action="store_true")
    return p


def train_cli(method: str, argv: list[str]) -> int:
    """Entry point of ``sslcourse train <method>``; returns the exit status."""
    from sslcourse.pretext.transfer import format_table, random_encoder, transfer_table
    from sslcourse.train import TensorBatches, fit
    from sslcourse.utils import atomic_torch_save, atomic_write, get_device

    if method not in METHODS:
        print(f"sslcourse train: {method!r} is not a pretext task ({', '.join(METHODS)})", file=sys.stderr)
        return 2
    args = _parser(method).parse_args(argv)
    if args.image_size is None:
        args.image_size = 32 if method in ("patches", "jigsaw") else 16
    try:
        train = load_images(args.data, "train", args.n_train, args.image_size, args.seed)
        test = load_images(args.data, "test", args.n_test, args.image_size, args.seed)
        model = build_model(method, args.encoder, args.width, train.images.shape[-1])
    except (FileNotFoundError, ValueError) as err:
        print(f"sslcourse train {method}: {err}", file=sys.stderr)
        return 1
    device = get_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{method} on {args.data}: {len(train)} unlabelled images {tuple(train.images.shape[1:])}, "
          f"{args.steps} steps of {args.batch_size}, {args.encoder} encoder, device {device}")
    data = TensorBatches(train.images, batch_size=min(args.batch_size, len(train)), seed=args.seed,
                         device=device if device.type == "cuda" else None)
    history = fit(model, data, steps=args.steps, lr=args.lr, weight_decay=args.weight_decay, device=device,
                  warmup_steps=min(100, args.steps // 10), checkpoint=out / f"{method}.pt",
                  checkpoint_every=args.checkpoint_every, progress=not args.no_progress, desc=method, seed=args.seed)
    first, last = history.rows[0], history.rows[-1]
    print(f"pretext loss {first['loss']:.3f} -> {last['loss']:.3f}, pretext accuracy {last.get('acc', float('nan')):.3f}")
    atomic_torch_save(model.encoder.state_dict(), out / f"{method}_encoder.pt")
    if args.no_eval:
        return 0
    model.encoder.eval()
    encoders = {method: model.encoder,
                "random init": random_encoder(args.encoder, args.width, model.encoder.grayscale, args.seed).to(device)}
    table = transfer_table(encoders, train.images, train.labels, test.images, test.labels,
                           labels_per_class=args.labels_per_class, supervised_steps=args.supervised_steps,
                           backbone=args.encoder, width=args.width, seed=args.seed)
    print(format_table(table))
    with atomic_write(out / f"{method}_transfer.json") as tmp:
        tmp.write_text(json.dumps({"method": method, "args": vars(args), "table": table,
                                   "pretext": {"loss_first": first["loss"], "loss_last": last["loss"],
                                               "acc_last": last.get("acc")}}, indent=1))
    return 0
