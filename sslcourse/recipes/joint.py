"""``sslcourse train byol|simsiam|vicreg|invariance``: a joint-embedding method, watched for collapse.

Trains on the shapes world (default), the digits or a CIFAR-10 subset with ``sslcourse.train.fit``;
``sslcourse.collapse.CollapseMonitor`` logs collapse_std, effective rank and kNN every
``--eval-every`` steps; at the end the recipe reports kNN and linear-probe accuracy of f1 beside
the raw-pixel and random-init baselines (``sslcourse.evaluate.baselines``), all measured the same
way. ``--out FILE.json`` writes the metrics and history, and ``FILE.png`` the curves;
``--checkpoint FILE.pt`` saves (and resumes) the run in the course's checkpoint format.

The ablations of the lecture are flags: ``byol --no-predictor`` / ``--target online``,
``simsiam --no-stop-gradient``, ``vicreg --var-weight 0``, and ``invariance`` itself.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslcourse import checkpoint as ckpt_format
from sslcourse.collapse import CollapseMonitor
from sslcourse.data import load_dataset
from sslcourse.evaluate import baselines, extract_features, linear_probe
from sslcourse.lars import lars_param_groups
from sslcourse.methods.byol import BYOL, BYOLConfig
from sslcourse.methods.invariance import Invariance, InvarianceConfig
from sslcourse.methods.simsiam import SimSiam, SimSiamConfig
from sslcourse.methods.vicreg import VICReg, VICRegConfig
from sslcourse.nn import backbone
from sslcourse.plot import save_curves
from sslcourse.train import TensorBatches, fit
from sslcourse.utils import atomic_write, get_device, seed_everything
from sslcourse.views import Augment, TwoViews

__all__ = ["NAMES", "build_model", "load_model", "make_optimizer", "main"]

NAMES = ("byol", "simsiam", "vicreg", "invariance")
_METHODS = {"byol": (BYOL, BYOLConfig), "simsiam": (SimSiam, SimSiamConfig), "vicreg": (VICReg, VICRegConfig),
            "invariance": (Invariance, InvarianceConfig)}


def build_model(method: str, config: dict[str, Any]) -> nn.Module:
    """The model of ``method`` from a checkpoint's config: ``{"encoder": {backbone args}, "image_size",
    "hue", "crop_scale" (smallest crop area, default 0.2), "method": {the method's config dataclass as a dict}}``."""
    if method not in _METHODS:
        raise ValueError(f"unknown joint-embedding method {method!r}; use one of {NAMES}.")
    cls, config_cls = _METHODS[method]
    views = TwoViews(Augment(size=config["image_size"], scale=(config.get("crop_scale", 0.2), 1.0), hue=config["hue"]))
    return cls(backbone(**config["encoder"]), views, config_cls(**config["method"]))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The trained model of a ``--checkpoint`` file (its ``.encoder`` is f1), in eval mode."""
    ckpt = ckpt_format.read(path, "train with `sslcourse train METHOD --checkpoint FILE` first.")
    model = build_model(ckpt["method"], ckpt["config"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float,
                   predictor_lr: float = 1.0) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum 0.9) over ``model``'s trainable parameters, without weight decay on biases
    and BatchNorm. ``predictor_lr`` scales the learning rate of a ``model.predictor`` (BYOL's q,
    SimSiam's h): Tian et al. 2021 (DirectPred, arXiv:2102.06810) found that a predictor which
    adapts faster than the encoder keeps the embedding from collapsing into a few directions."""
    predictor = {id(p) for p in getattr(model, "predictor", nn.Identity()).parameters()}
    groups = []
    for group in lars_param_groups(model, weight_decay):
        for is_pred in (False, True):
            params = [p for p in group["params"] if (id(p) in predictor) == is_pred]
            if params:
                groups.append({"params": params, "weight_decay": group["weight_decay"],
                               "lr": lr * (predictor_lr if is_pred else 1.0)})
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {name!r}.")


def _method_config(method: str, args: argparse.Namespace) -> dict[str, Any]:
    """The method's config dataclass, from the ablation flags, as a plain dict."""
    if method == "byol":
        cfg: Any = BYOLConfig(base_momentum=args.momentum, use_predictor=not args.no_predictor, target=args.target)
    elif method == "simsiam":
        cfg = SimSiamConfig(stop_gradient=not args.no_stop_gradient)
    elif method == "vicreg":
        cfg = VICRegConfig(var=args.var_weight)
    else:
        cfg = InvarianceConfig()
    return asdict(cfg)


def _parser(method: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"sslcourse train {method}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="shapes", choices=["shapes", "cifar10", "digits"], help="dataset")
    p.add_argument("--train-size", type=int, default=4000, help="training images (0 = all)")
    p.add_argument("--test-size", type=int, default=1000, help="test images for kNN / linear probe (0 = all)")
    p.add_argument("--encoder", default="small", choices=["small", "resnet18"], help="SmallCNN or ResNet-18")
    p.add_argument("--width", type=int, default=32, help="SmallCNN width")
    p.add_argument("--standardize-input", action="store_true",
                   help="the encoder sees each image standardised by its own mean and std (nn.Standardized)")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"],
                   help="AdamW, or SGD with momentum 0.9 (no weight decay on biases and BatchNorm in both)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--predictor-lr", type=float, default=1.0, help="BYOL/SimSiam: the predictor's lr, as a multiple of --lr")
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--crop-scale", type=float, default=0.2, help="smallest random-resized-crop area (fraction)")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, help="checkpoint file (resumed if it exists)")
    p.add_argument("--out", default=None, help="write the final metrics as JSON here (and the curves beside it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--momentum", type=float, default=0.99, help="BYOL: base EMA rate tau_base")
    p.add_argument("--target", default="ema", choices=["ema", "stop_gradient", "online"], help="BYOL target ablation")
    p.add_argument("--no-predictor", action="store_true", help="BYOL ablation without the predictor")
    p.add_argument("--no-stop-gradient", action="store_true", help="SimSiam ablation")
    p.add_argument("--var-weight", type=float, default=25.0, help="VICReg mu (0: ablation)")
    return p


def main(name: str, argv: list[str]) -> int:
    """``sslcourse train byol|simsiam|vicreg|invariance [options]``; returns the exit status."""
    if name not in NAMES:
        print(f"sslcourse train: the joint-embedding recipe trains {', '.join(NAMES)}, not {name!r}", file=sys.stderr)
        return 2
    args = _parser(name).parse_args(argv)
    seed_everything(args.seed)
    device = get_device(args.device)
    try:
        train = load_dataset(args.data, "train", subset=args.train_size or None, seed=args.seed)
    except FileNotFoundError as err:
        print(f"sslcourse train {name}: {err}", file=sys.stderr)
        return 1
    test = load_dataset(args.data, "test", subset=args.test_size or None, seed=args.seed)
    config = {"encoder": {"name": args.encoder, "in_channels": train.images.shape[1], "width": args.width,
                          "standardize": args.standardize_input},
              "image_size": train.images.shape[-1], "hue": 0.5 if args.data == "shapes" else 0.1,
              "crop_scale": args.crop_scale,
              "method": _method_config(name, args), "data": args.data, "run": vars(args)}

    base = baselines(train.images, train.labels, test.images, test.labels, lambda: backbone(**config["encoder"]),
                     device=device)
    model = build_model(name, config)
    monitor = CollapseMonitor(test.images[:512], train.images, train.labels, test.images, test.labels,
                              every=args.eval_every)
    history = fit(model, TensorBatches(train.images, train.labels, batch_size=args.batch_size, seed=args.seed,
                                       device=device),
                  steps=args.steps, optimizer=make_optimizer(model, args.optimizer, args.lr, args.weight_decay,
                                                             args.predictor_lr),
                  warmup_steps=args.warmup_steps,
                  device=device, callbacks=[monitor], checkpoint=args.checkpoint,
                  checkpoint_every=args.eval_every if args.checkpoint else 0, seed=args.seed, desc=name,
                  progress=not args.no_progress, method=name, config=config)
    final = monitor.measure(model)
    ftr, fte = extract_features(model.encoder, train.images), extract_features(model.encoder, test.images)
    result = {"method": name, "data": args.data, "steps": args.steps, **base, **final,
              "linear": linear_probe(ftr, train.labels, fte, test.labels),
              "healthy_std": 1 / math.sqrt(final["dim"])}
    print(json.dumps(result, indent=1))
    if args.out:
        out = Path(args.out)
        with atomic_write(out) as tmp:
            tmp.write_text(json.dumps({**result, "history": history.rows}, indent=1))
        save_curves(history, ["loss", "collapse_std", "knn"], out.with_suffix(".png"), title=f"{name} on {args.data}")
    return 0
