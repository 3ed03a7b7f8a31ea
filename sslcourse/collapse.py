"""Watching for collapse while a joint-embedding method trains.

A constant encoder is invariant to every view (lecture: "constant f is a trivial encoder that is
invariant"), so the loss alone cannot tell a collapsed model from a good one: a collapsed model
has the *lowest* loss. Three numbers can:

    collapse_std     std of the L2-normalised embeddings, averaged over the d dimensions
                     (SimSiam, Chen & He 2020, arXiv:2011.10566): ~1/sqrt(d) healthy, 0 collapsed
    effective_rank   exp(entropy of the normalised singular values) (RankMe, Garrido et al. 2023,
                     arXiv:2210.02885): how many directions the embeddings really use
                     (1 = complete collapse, small = "dimensional collapse")
    knn              kNN accuracy of the encoder's features f1(x) (what is kept downstream)
    knn_embedding    kNN accuracy of the embeddings the loss sees: chance when they collapsed
                     (the encoder below a collapsed projector often just stays near its
                     random initialisation, so ``knn`` drops to random-init level, not chance)

``CollapseMonitor`` is a ``sslcourse.train.fit`` callback that measures all three on fixed
images every ``every`` steps and adds them to the training history. The formulas live in
``sslcourse.evaluate``; the spectrum figure is ``sslcourse.plot.spectrum``.

This module also holds ``train_cli``, the ``sslcourse train byol|simsiam|vicreg ...`` command.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from sslcourse.evaluate import collapse_std, effective_rank, extract_features, knn_accuracy
from sslcourse.utils import to_float_images

__all__ = ["CollapseMonitor", "embeddings", "train_cli"]


@torch.no_grad()
def embeddings(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``model.embed(x)`` (the output the loss sees) for every image, without gradients.

    The model runs in *training* mode, i.e. BatchNorm normalises with the statistics of each
    batch of ``batch_size`` probe images, exactly as the loss sees the embeddings (eval mode would
    use running statistics, which lag far behind early in training and can make a healthy
    model look collapsed). The BatchNorm running statistics are saved and restored, so probing
    leaves the model unchanged; its previous train/eval mode is restored too. uint8 images are
    scaled to [0, 1].

    Shape:
        images ``(N, C, H, W)`` (or ``(N, D)`` vectors) -> ``(N, d)``.
    """
    was_training = model.training
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    device = next(model.parameters()).device
    model.train()
    try:
        out = []
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device)
            x = to_float_images(x).float()
            out.append(model.embed(x).float())  # (B, d)
    finally:
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
        model.train(was_training)
    return torch.cat(out)  # (N, d)


class CollapseMonitor:
    """A ``fit`` callback logging ``collapse_std``, ``effective_rank`` and (with labels) ``knn``, ``knn_embedding``.

    Args:
        probe_images: fixed images whose embeddings ``model.embed(x)`` are measured.
        train_images, train_labels, test_images, test_labels: optional labelled sets for the kNN
            accuracy of ``model.encoder`` (all four or none).
        every: measure every this many steps (``fit`` also calls it at the last step).
        k, t: the kNN's neighbours and temperature.
        prefix: prepended to the keys (e.g. ``"val_"``).

    Call ``monitor.measure(model)`` before training for the step-0 values; ``fit`` adds the
    returned dict to the history row of each measured step.
    """

    def __init__(self, probe_images: torch.Tensor, train_images: torch.Tensor | None = None,
                 train_labels: torch.Tensor | None = None, test_images: torch.Tensor | None = None,
                 test_labels: torch.Tensor | None = None, every: int = 50, k: int = 200, t: float = 0.1,
                 prefix: str = "") -> None:
        labelled = (train_images, train_labels, test_images, test_labels)
        if any(v is None for v in labelled) and not all(v is None for v in labelled):
            raise ValueError("CollapseMonitor needs all four of train_images, train_labels, test_images, "
                             "test_labels for kNN accuracy, or none of them.")
        if len(probe_images) < 2:
            raise ValueError("CollapseMonitor needs at least 2 probe images to measure a spread.")
        self.probe = probe_images
        self.labelled = None if train_images is None else labelled
        self.every, self.k, self.t, self.prefix = every, k, t, prefix

    @torch.no_grad()
    def measure(self, model: nn.Module) -> dict[str, float]:
        """The three diagnostics of ``model`` now (the model's train/eval mode is kept)."""
        z = embeddings(model, self.probe)  # (P, d)
        out = {"collapse_std": collapse_std(z), "effective_rank": effective_rank(z), "dim": float(z.shape[1])}
        if self.labelled is not None:
            train_x, train_y, test_x, test_y = self.labelled
            ftr = extract_features(model.encoder, train_x)  # (N, D)
            fte = extract_features(model.encoder, test_x)  # (M, D)
            out["knn"] = knn_accuracy(ftr, train_y, fte, test_y, k=self.k, t=self.t)
            ztr, zte = embeddings(model, train_x), embeddings(model, test_x)  # (N, d), (M, d)
            out["knn_embedding"] = knn_accuracy(ztr, train_y, zte, test_y, k=self.k, t=self.t)
        return {self.prefix + key: value for key, value in out.items()}

    def __call__(self, step: int, model: nn.Module, history: Any = None) -> dict[str, float]:
        return self.measure(model)


# --------------------------------------------------------------------------- command line
def _build(method: str, encoder: nn.Module, views: Callable, args: argparse.Namespace) -> nn.Module:
    if method == "byol":
        from sslcourse.methods.byol import BYOL, BYOLConfig
        return BYOL(encoder, views, BYOLConfig(base_momentum=args.momentum, use_predictor=not args.no_predictor,
                                               target=args.target))
    if method == "simsiam":
        from sslcourse.methods.simsiam import SimSiam, SimSiamConfig
        return SimSiam(encoder, views, SimSiamConfig(stop_gradient=not args.no_stop_gradient))
    if method == "vicreg":
        from sslcourse.methods.vicreg import VICReg, VICRegConfig
        return VICReg(encoder, views, VICRegConfig(var=args.var_weight))
    if method == "invariance":
        from sslcourse.methods.invariance import Invariance
        return Invariance(encoder, views)
    raise ValueError(f"unknown joint-embedding method {method!r}; use byol, simsiam, vicreg or invariance.")


def train_cli(method: str, argv: list[str]) -> int:
    """``sslcourse train byol|simsiam|vicreg|invariance [options]``: train, monitor collapse, probe.

    Trains on the shapes world (default) or a CIFAR-10 subset with ``sslcourse.train.fit``, logs
    collapse_std / effective_rank / kNN every ``--eval-every`` steps, and reports the final kNN
    and linear-probe accuracy beside the raw-pixel and random-init baselines (JSON with --out).
    """
    from sslcourse.data import load_dataset
    from sslcourse.evaluate import baselines, linear_probe
    from sslcourse.nn import backbone
    from sslcourse.train import TensorBatches, fit
    from sslcourse.utils import get_device, seed_everything
    from sslcourse.views import Augment, TwoViews

    p = argparse.ArgumentParser(prog=f"sslcourse train {method}", description=train_cli.__doc__)
    p.add_argument("--data", default="shapes", choices=["shapes", "cifar10", "digits"], help="dataset")
    p.add_argument("--train-size", type=int, default=4000, help="training images (0 = all)")
    p.add_argument("--test-size", type=int, default=1000, help="test images for kNN / linear probe (0 = all)")
    p.add_argument("--encoder", default="small", choices=["small", "resnet18"], help="SmallCNN or ResNet-18")
    p.add_argument("--width", type=int, default=32, help="SmallCNN width")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="checkpoint file (resumed if it exists)")
    p.add_argument("--out", default=None, help="write the final metrics as JSON here")
    p.add_argument("--momentum", type=float, default=0.99, help="BYOL: base EMA rate tau_base")
    p.add_argument("--target", default="ema", choices=["ema", "stop_gradient", "online"], help="BYOL target ablation")
    p.add_argument("--no-predictor", action="store_true", help="BYOL ablation without the predictor")
    p.add_argument("--no-stop-gradient", action="store_true", help="SimSiam ablation")
    p.add_argument("--var-weight", type=float, default=25.0, help="VICReg mu (0: ablation)")
    args = p.parse_args(argv)

    seed_everything(args.seed)
    device = get_device(args.device)
    subset = args.train_size or None
    try:
        train = load_dataset(args.data, "train", subset=subset, seed=args.seed)
    except FileNotFoundError as err:
        print(f"sslcourse train {method}: {err}")
        return 1
    test = load_dataset(args.data, "test", subset=args.test_size or None, seed=args.seed)
    size = train.images.shape[-1]
    in_ch = train.images.shape[1]
    views = TwoViews(Augment(size=size, scale=(0.2, 1.0), hue=0.5 if args.data == "shapes" else 0.1))

    def make_encoder() -> nn.Module:
        return backbone(args.encoder, in_channels=in_ch, width=args.width)

    base = baselines(train.images, train.labels, test.images, test.labels, make_encoder, device=device)
    model = _build(method, make_encoder(), views, args)
    monitor = CollapseMonitor(test.images[:512], train.images, train.labels, test.images, test.labels,
                              every=args.eval_every)
    history = fit(model, TensorBatches(train.images, train.labels, batch_size=args.batch_size, seed=args.seed,
                                       device=device),
                  steps=args.steps, lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
                  device=device, callbacks=[monitor], checkpoint=args.checkpoint,
                  checkpoint_every=args.eval_every if args.checkpoint else 0, seed=args.seed, desc=method)
    final = monitor.measure(model)
    ftr, fte = extract_features(model.encoder, train.images), extract_features(model.encoder, test.images)
    result = {"method": method, "data": args.data, "steps": args.steps, **base, **final,
              "linear": linear_probe(ftr, train.labels, fte, test.labels),
              "healthy_std": 1 / math.sqrt(final["dim"])}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**result, "history": history.rows}, indent=1))
    return 0
