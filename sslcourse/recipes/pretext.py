"""``sslcourse train rotation|colorization|patches|jigsaw``: pretrain f1 on a pretext task, then probe it.

    sslcourse train rotation                              # upright shapes world, CPU, a few minutes
    sslcourse train rotation --steps 200 --batch-size 32  # the lecture's budget: about a minute
    sslcourse train patches --data cifar10 --n-train 10000 --steps 2000
    sslcourse train rotation --data cifar10 --n-train 0 --encoder resnet18 --steps 20000 --device cuda

The model comes from ``sslcourse.pretext`` (``registry.build_model``), the loop is
``sslcourse.train.fit``, the transfer table is ``sslcourse.pretext.transfer``.
After training it saves ``OUT/<method>.pt`` (a resumable checkpoint of the whole model, loaded by
``load_model``),
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

from sslcourse import checkpoint as ckpt_format
from sslcourse.plot import save_curves
from sslcourse.pretext.registry import DATASETS, METHODS, build_model, load_images
from sslcourse.pretext.transfer import format_table, random_encoder, transfer_table
from sslcourse.train import TensorBatches, fit
from sslcourse.utils import atomic_torch_save, atomic_write, get_device, seed_everything

__all__ = ["NAMES", "load_model", "main"]

NAMES = METHODS


def load_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The pretext model of a ``OUT/<method>.pt`` checkpoint (``.encoder`` is f1), in eval mode."""
    ckpt = ckpt_format.read(path, "train with `sslcourse train rotation|colorization|patches|jigsaw` first.")
    cfg = ckpt["config"]
    model = build_model(ckpt["method"], cfg["backbone"], cfg["width"], cfg["image_size"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


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
    if method == "colorization":
        p.add_argument("--input-jitter", type=float, default=0.0,
                       help="brightness/contrast jitter of the grey input while training (0.5 for the shipped "
                            "encoder), so that a grey level alone cannot name the colour")
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


def main(method: str, argv: list[str]) -> int:
    """``sslcourse train rotation|colorization|patches|jigsaw [options]``; returns the exit status."""
    if method not in METHODS:
        print(f"sslcourse train: {method!r} is not a pretext task ({', '.join(METHODS)})", file=sys.stderr)
        return 2
    args = _parser(method).parse_args(argv)
    if args.image_size is None:
        args.image_size = 32 if method in ("patches", "jigsaw") else 16
    seed_everything(args.seed)  # the initial weights too: a rerun reproduces the run
    try:
        train = load_images(args.data, "train", args.n_train, args.image_size, args.seed)
        test = load_images(args.data, "test", args.n_test, args.image_size, args.seed)
        model = build_model(method, args.encoder, args.width, train.images.shape[-1],
                            input_jitter=getattr(args, "input_jitter", 0.0))
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
    config = {"backbone": args.encoder, "width": args.width, "image_size": int(train.images.shape[-1]),
              "data": args.data, "run": vars(args)}
    history = fit(model, data, steps=args.steps, lr=args.lr, weight_decay=args.weight_decay, device=device,
                  warmup_steps=min(100, args.steps // 10), checkpoint=out / f"{method}.pt",
                  checkpoint_every=args.checkpoint_every, progress=not args.no_progress, desc=method, seed=args.seed,
                  method=method, config=config)
    save_curves(history, ["loss", "acc"] if "acc" in history.rows[-1] else ["loss"], out / f"{method}_curves.png",
                title=f"{method} on {args.data}")
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
