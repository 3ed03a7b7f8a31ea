"""Watching for collapse while a joint-embedding method trains.

A constant encoder is invariant to every view (lecture: "constant f is a trivial encoder that is
invariant"), so the loss alone cannot tell a collapsed model from a good one: a collapsed model
has the *lowest* loss. These numbers can:

    collapse_std     std of the L2-normalised embeddings, averaged over the d dimensions
                     (SimSiam, Chen & He 2020, arXiv:2011.10566): ~1/sqrt(d) healthy, 0 collapsed
    spread           collapse_std * sqrt(d), the same on a scale that does not depend on d:
                     ~1 spread over the sphere, 0 one point
    effective_rank   exp(entropy of the normalised singular values) (RankMe, Garrido et al. 2023,
                     arXiv:2210.02885): how many directions the embeddings really use
                     (1 = complete collapse, small = "dimensional collapse")
    knn              kNN accuracy of the encoder's features f1(x) (what is kept downstream)
    knn_embedding    kNN accuracy of the embeddings the loss sees: chance when they collapsed
                     (the encoder below a collapsed projector often just stays near its
                     random initialisation, so ``knn`` drops to random-init level, not chance)

``CollapseMonitor`` is a ``sslcourse.train.fit`` callback that measures them on fixed
images every ``every`` steps and adds them to the training history. The formulas live in
``sslcourse.evaluate``; the spectrum figure is ``sslcourse.plot.spectrum``.

The training command that uses it is ``sslcourse.recipes.joint`` (``sslcourse train byol ...``).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sslcourse.evaluate import collapse_std, effective_rank, extract_features, knn_accuracy
from sslcourse.utils import to_float_images

__all__ = ["CollapseMonitor", "embeddings"]


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
    """A ``fit`` callback logging ``collapse_std``, ``spread``, ``effective_rank`` and (with labels) ``knn``,
    ``knn_embedding``.

    Args:
        probe_images: fixed images whose embeddings ``model.embed(x)`` are measured.
        train_images, train_labels, test_images, test_labels: optional labelled sets for the kNN
            accuracy of ``model.encoder`` (all four or none).
        every: measure every this many steps (``fit`` also calls it at the last step).
        k, t: the kNN's neighbours and temperature.
        embedding_knn: also measure ``knn_embedding`` (the kNN of z; it embeds every labelled image
            once more, so switch it off when only f1's kNN matters).
        prefix: prepended to the keys (e.g. ``"val_"``).

    Call ``monitor.measure(model)`` before training for the step-0 values; ``fit`` adds the
    returned dict to the history row of each measured step.
    """

    def __init__(self, probe_images: torch.Tensor, train_images: torch.Tensor | None = None,
                 train_labels: torch.Tensor | None = None, test_images: torch.Tensor | None = None,
                 test_labels: torch.Tensor | None = None, every: int = 50, k: int = 200, t: float = 0.1,
                 prefix: str = "", embedding_knn: bool = True) -> None:
        labelled = (train_images, train_labels, test_images, test_labels)
        if any(v is None for v in labelled) and not all(v is None for v in labelled):
            raise ValueError("CollapseMonitor needs all four of train_images, train_labels, test_images, "
                             "test_labels for kNN accuracy, or none of them.")
        if len(probe_images) < 2:
            raise ValueError("CollapseMonitor needs at least 2 probe images to measure a spread.")
        self.probe = probe_images
        self.labelled = None if train_images is None else labelled
        self.every, self.k, self.t, self.prefix = every, k, t, prefix
        self.embedding_knn = embedding_knn

    @torch.no_grad()
    def measure(self, model: nn.Module) -> dict[str, float]:
        """The diagnostics of ``model`` now (the model's train/eval mode is kept)."""
        z = embeddings(model, self.probe)  # (P, d)
        std, d = collapse_std(z), z.shape[1]
        out = {"collapse_std": std, "spread": std * math.sqrt(d), "effective_rank": effective_rank(z), "dim": float(d)}
        if self.labelled is not None:
            train_x, train_y, test_x, test_y = self.labelled
            ftr = extract_features(model.encoder, train_x)  # (N, D)
            fte = extract_features(model.encoder, test_x)  # (M, D)
            out["knn"] = knn_accuracy(ftr, train_y, fte, test_y, k=self.k, t=self.t)
        if self.labelled is not None and self.embedding_knn:
            ztr, zte = embeddings(model, train_x), embeddings(model, test_x)  # (N, d), (M, d)
            out["knn_embedding"] = knn_accuracy(ztr, train_y, zte, test_y, k=self.k, t=self.t)
        return {self.prefix + key: value for key, value in out.items()}

    def __call__(self, step: int, model: nn.Module, history: Any = None) -> dict[str, float]:
        return self.measure(model)
