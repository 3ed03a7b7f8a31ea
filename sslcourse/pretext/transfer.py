"""Transfer: what does a pretext-trained encoder f1 buy on a downstream task with few labels?

The downstream task is the dataset's classification (e.g. the shape in the shapes world). f1 is
frozen and only its features are used:

* **linear probe**: one linear layer on the frozen features (``sslcourse.evaluate.linear_probe``);
* **kNN**: cosine k-nearest-neighbour vote (``sslcourse.evaluate.knn_accuracy``, k=200, t=0.1).

Each is measured with n labelled images per class (the label-efficiency curve) and stands beside
the same measurement on

* **raw pixels** (the flattened image is the feature vector),
* a **random-init encoder** (same architecture, never trained: what the architecture alone gives),
* **supervised from scratch**: the same architecture trained end to end on the same n labels per
  class (what the labels alone give, without any pretext task).
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.evaluate import extract_features, label_efficiency, per_class_subset
from sslcourse.pretext.base import PixelEncoder, build_backbone, to_float_images
from sslcourse.train import TensorBatches, fit

__all__ = ["transfer_table", "supervised_from_scratch", "random_encoder", "Resized", "format_table"]


class Resized(nn.Module):
    """An encoder that first resizes its input images (bilinear) to ``size x size``.

    For comparing encoders pretrained at another resolution on the same downstream images, e.g.
    relative patch placement pretrained on 32x32 images (it needs room for a 3x3 grid of 8x8
    patches) and evaluated on 16x16 ones.
    """

    def __init__(self, encoder: nn.Module, size: int) -> None:
        super().__init__()
        self.encoder, self.size = encoder, size
        self.out_dim = getattr(encoder, "out_dim", None)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = to_float_images(images)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)  # (N, C, s, s)
        return self.encoder(x)


def random_encoder(backbone: str = "small", width: int = 32, grayscale: bool = False, seed: int = 0) -> PixelEncoder:
    """A freshly initialised f1 (seeded without touching the global random state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PixelEncoder(build_backbone(backbone, width), grayscale=grayscale)


class _Classifier(nn.Module):
    def __init__(self, encoder: PixelEncoder, num_classes: int) -> None:
        super().__init__()
        self.encoder, self.fc = encoder, nn.Linear(encoder.out_dim, num_classes)

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        x = to_float_images(x)
        flip = torch.rand(x.shape[0], device=x.device) < 0.5  # horizontal flips: the one safe augmentation
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        logits = self.fc(self.encoder(x))
        return {"loss": F.cross_entropy(logits, y), "acc": (logits.argmax(1) == y).float().mean().detach()}


def supervised_from_scratch(train_images: torch.Tensor, train_labels: torch.Tensor, test_images: torch.Tensor,
                            test_labels: torch.Tensor, *, backbone: str = "small", width: int = 32,
                            steps: int = 300, batch_size: int = 64, lr: float = 2e-3, weight_decay: float = 5e-4,
                            seed: int = 0, device: str | torch.device = "auto", progress: bool = False) -> float:
    """Top-1 test accuracy of f1 + a linear layer trained end to end on the labelled images only.

    Args:
        train_images, train_labels: the few labelled images ``(n, C, H, W)`` and ``(n,)``.
        test_images, test_labels: the evaluation set.
        steps, batch_size, lr, weight_decay: AdamW with a cosine schedule (``sslcourse.train.fit``).
    """
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    model = _Classifier(random_encoder(backbone, width, seed=seed), num_classes)
    data = TensorBatches(train_images, train_labels, batch_size=min(batch_size, len(train_labels)), seed=seed)
    fit(model, data, steps=steps, lr=lr, weight_decay=weight_decay, device=device, progress=progress,
        desc="supervised", seed=seed)
    model.eval()
    feats = extract_features(model.encoder, test_images)  # (M, D)
    with torch.no_grad():
        pred = model.fc(feats.to(next(model.fc.parameters()).device)).argmax(1).cpu()
    return float((pred == test_labels.cpu()).float().mean())


def transfer_table(encoders: dict[str, nn.Module], train_images: torch.Tensor, train_labels: torch.Tensor,
                   test_images: torch.Tensor, test_labels: torch.Tensor, labels_per_class: Iterable[int] = (10, 100),
                   raw_pixels: bool = True, supervised_steps: int | None = None, backbone: str = "small",
                   width: int = 32, seed: int = 0) -> dict[str, dict[str, dict[int, float]]]:
    """Linear-probe and kNN accuracy of frozen encoders at n labels per class, with the baselines.

    Args:
        encoders: name -> f1 (e.g. ``{"rotation": model.encoder, "random init": random_encoder()}``).
        train_images, train_labels: the pool the n labelled images per class are drawn from
            (the kNN and probe see only those); test_images, test_labels: the evaluation set.
        labels_per_class: the points of the label-efficiency curve.
        raw_pixels: add the row "raw pixels".
        supervised_steps: if given, add the row "supervised" (``supervised_from_scratch`` on the
            same labelled images, ``backbone`` / ``width``, this many steps).

    Returns:
        ``{name: {"linear": {n: acc}, "knn": {n: acc}}}`` (supervised: its accuracy under both keys).
    """
    lpc = tuple(labels_per_class)
    features = {name: (extract_features(enc, train_images), extract_features(enc, test_images))
                for name, enc in encoders.items()}
    if raw_pixels:
        features["raw pixels"] = (to_float_images(train_images).flatten(1), to_float_images(test_images).flatten(1))
    table: dict[str, dict[str, dict[int, float]]] = {}
    for name, (f_train, f_test) in features.items():
        table[name] = {m: label_efficiency(f_train, train_labels, f_test, test_labels, lpc, method=m, seed=seed)
                       for m in ("linear", "knn")}
    if supervised_steps:
        sup = {}
        for n in lpc:
            idx = per_class_subset(train_labels, n, seed)
            sup[n] = supervised_from_scratch(train_images[idx], train_labels[idx], test_images, test_labels,
                                             backbone=backbone, width=width, steps=supervised_steps, seed=seed)
        table["supervised"] = {"linear": sup, "knn": dict(sup)}
    return table


def format_table(table: dict[str, dict[str, dict[int, float]]]) -> str:
    """A markdown table: one row per representation, columns linear / kNN at each n."""
    first = next(iter(table.values()))
    cols = [(m, n) for m in ("linear", "knn") for n in first[m]]
    head = "| features | " + " | ".join(f"{'linear' if m == 'linear' else 'kNN'} @{n}/class" for m, n in cols) + " |"
    rule = "|---" * (len(cols) + 1) + "|"
    rows = [f"| {name} | " + " | ".join(f"{100 * r[m][n]:.1f}" for m, n in cols) + " |" for name, r in table.items()]
    return "\n".join([head, rule, *rows])
