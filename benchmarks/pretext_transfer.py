"""Pretext tasks -> transfer: linear-probe and kNN accuracy of frozen f1 with few labels.

Pretrains f1 with rotation prediction, relative patch placement and colorization (and jigsaw
with --jigsaw) on unlabelled training images, then measures the linear probe and kNN at n labels
per class against raw pixels, a random-init encoder and the same encoder trained from scratch on
the same n labels per class. Prints a markdown table and writes JSON.

    python benchmarks/pretext_transfer.py --data upright-oriented --image-size 16 --steps 300
    python benchmarks/pretext_transfer.py --data cifar10 --n-train 10000 --n-test 2000 --steps 1000

Data: "upright-oriented" (the upright shapes world, the four shapes that have an "up"),
"upright" (all eight upright shapes), "shapes" (the course's shapes world as it is), "cifar10".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sslcourse import pretext  # noqa: E402
from sslcourse.train import TensorBatches, fit  # noqa: E402


MAX_DEGREES = 15.0


def load(name: str, split: str, n: int, size: int):
    if name == "upright-oriented":
        return pretext.load_upright_shapes(split, n=n, image_size=size, classes=pretext.ORIENTED_SHAPES,
                                           max_degrees=MAX_DEGREES)
    if name == "upright":
        return pretext.load_upright_shapes(split, n=n, image_size=size, max_degrees=MAX_DEGREES)
    return pretext.load_images(name, split, n, size)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="upright-oriented")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--max-degrees", type=float, default=15.0,
                   help="upright worlds: shapes turned by at most this angle (180: any angle)")
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--methods", nargs="+", default=["rotation", "patches", "colorization"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--grid-image-size", type=int, default=None,
                   help="patches/jigsaw pretrain on images of this size (default: max(32, image size)); their "
                        "encoders see the downstream images resized to it (pretext.Resized)")
    p.add_argument("--grid-steps", type=int, default=None, help="steps for patches/jigsaw (default: --steps)")
    p.add_argument("--grid-batch-size", type=int, default=None, help="batch for patches/jigsaw (default: 4x batch)")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--supervised-steps", type=int, default=300)
    p.add_argument("--labels-per-class", type=int, nargs="+", default=[10, 100])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="JSON file for the results")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    global MAX_DEGREES
    MAX_DEGREES = args.max_degrees

    t0 = time.perf_counter()
    train, test = load(args.data, "train", args.n_train, args.image_size), load(args.data, "test", args.n_test, args.image_size)
    print(f"data {args.data}: train {tuple(train.images.shape)}, test {tuple(test.images.shape)}, "
          f"{len(train.classes)} classes", flush=True)
    grid_size = args.grid_image_size or max(32, args.image_size)
    grid_train = None
    encoders, pretext_stats, timings = {}, {}, {}
    for method in args.methods:
        grid = method in ("patches", "jigsaw")
        size, steps, batch = args.image_size, args.steps, args.batch_size
        images = train.images
        if grid:
            size, steps, batch = grid_size, args.grid_steps or args.steps, args.grid_batch_size or 4 * args.batch_size
            if grid_size != args.image_size:
                grid_train = grid_train or load(args.data, "train", args.n_train, grid_size)
                images = grid_train.images
        torch.manual_seed(0)
        model = pretext.build_model(method, width=args.width, image_size=size)
        t = time.perf_counter()
        hist = fit(model, TensorBatches(images, batch_size=batch, seed=0), steps=steps, lr=args.lr,
                   device=args.device, progress=False, desc=method)
        timings[method] = time.perf_counter() - t
        k = max(1, args.steps // 10)
        pretext_stats[method] = {"loss_first": sum(hist.column("loss")[:k]) / k, "loss_last": sum(hist.column("loss")[-k:]) / k,
                                 "acc_last": sum(hist.column("acc")[-k:]) / k}
        encoders[method] = model.encoder.cpu().eval()
        if grid and size != args.image_size:
            encoders[method] = pretext.Resized(encoders[method], size)
        print(f"{method}: {steps} steps of {batch} at {size}px in {timings[method]:.0f} s, pretext loss "
              f"{pretext_stats[method]['loss_first']:.3f} -> {pretext_stats[method]['loss_last']:.3f}, "
              f"pretext acc {pretext_stats[method]['acc_last']:.3f}", flush=True)
    encoders["random init"] = pretext.random_encoder("small", args.width, seed=0)
    if any(m in ("patches", "jigsaw") for m in args.methods) and grid_size != args.image_size:
        encoders[f"random init (input resized to {grid_size})"] = pretext.Resized(
            pretext.random_encoder("small", args.width, seed=0), grid_size)
    if "colorization" in args.methods:
        encoders["random init (gray input)"] = pretext.random_encoder("small", args.width, grayscale=True, seed=0)
    t = time.perf_counter()
    table = pretext.transfer_table(encoders, train.images, train.labels, test.images, test.labels,
                                   labels_per_class=args.labels_per_class, supervised_steps=args.supervised_steps,
                                   width=args.width)
    timings["evaluation"] = time.perf_counter() - t
    print(pretext.format_table(table))
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "table": table, "pretext": pretext_stats,
                                              "seconds": timings}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
