"""Naive invariance: the joint-embedding recipe with nothing that prevents collapse.

Lecture: learn f: X -> R^d with f(x1) ~= f(x2) for two views (x1, x2) = g(x) of one datapoint.
Problem: a constant f is invariant too, and gradient descent finds it. This module trains exactly
that objective so that the collapse can be watched (``sslcourse.collapse.CollapseMonitor``):
the std of the L2-normalised embeddings falls to 0, kNN accuracy on the embeddings to about
chance, and the encoder below them stops learning (its kNN accuracy stays at random-init level).

Lecture symbol -> code word:
    g: x -> (x1, x2)   -> ``views``     (any callable images -> (x1, x2), e.g. from sslcourse.views)
    f = f2 o f1        -> ``projector(encoder(x))``
    f(x1), f(x2)       -> ``z1``, ``z2``

This file also holds ``two_views``, the small batch-unpacking helper every joint-embedding
method (BYOL, SimSiam, VICReg) uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from sslcourse.evaluate import collapse_std
from sslcourse.losses.joint import invariance
from sslcourse.nn import MLP

__all__ = ["two_views", "InvarianceConfig", "Invariance", "train_cli"]

Views = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


def two_views(batch: Any, views: Views | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two views (x1, x2) of a batch.

    A dict with keys ``"x1"`` and ``"x2"`` holds ready-made views and is used as it is. Otherwise,
    with ``views`` (g): the images are ``batch`` itself or ``batch[0]`` of an ``(images, labels)``
    pair, and g makes the two views; without ``views``, ``batch`` must be the pair ``(x1, x2)``.

    Shape:
        images ``(N, C, H, W)`` -> x1, x2 ``(N, C, H, W)`` floats.
    """
    if isinstance(batch, dict):
        if "x1" in batch and "x2" in batch:  # views made elsewhere (e.g. in a DataLoader)
            return batch["x1"], batch["x2"]
        images = batch.get("images", batch.get("x"))
        if images is None:
            raise ValueError(f"batch dict needs 'x1'/'x2' or 'images', got keys {sorted(batch)}.")
    elif isinstance(batch, (tuple, list)):
        if views is None:
            if len(batch) >= 2 and torch.is_tensor(batch[1]) and batch[1].shape == batch[0].shape:
                return batch[0], batch[1]
            raise ValueError(
                "without views the batch must be a pair of views (x1, x2); pass views=... "
                "(e.g. sslcourse.views) to make them from an (images, labels) batch."
            )
        images = batch[0]
    else:
        images = batch
    if views is None:
        raise ValueError("got a batch of images but no views; pass views=... (g: x -> (x1, x2)).")
    x1, x2 = views(images)
    return x1, x2


@dataclass
class InvarianceConfig:
    """Sizes of the naive model (small CPU defaults)."""

    hidden_dim: int = 256  # projector hidden width
    out_dim: int = 64  # embedding dimension d


class Invariance(nn.Module):
    """Encoder f1 + projector f2 trained on 2 - 2 cos(f(x1), f(x2)) alone: it collapses.

    Args:
        encoder: f1, any module mapping images to ``(N, encoder.out_dim)``.
        views: g, a callable images -> (x1, x2); None when batches already are (x1, x2).
        config: head sizes.

    ``forward(batch)`` returns ``{"loss", "std"}`` for ``sslcourse.train.fit``.
    """

    def __init__(self, encoder: nn.Module, views: Views | None = None, config: InvarianceConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or InvarianceConfig()
        self.encoder = encoder
        self.projector = MLP(encoder.out_dim, config.hidden_dim, config.out_dim)
        self.views = views

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) = projector(encoder(x)): the embedding the loss sees. ``(N, C, H, W) -> (N, d)``."""
        return self.projector(self.encoder(x))

    def forward(self, batch: Any) -> dict[str, Any]:
        x1, x2 = two_views(batch, self.views)
        z = self.embed(torch.cat([x1, x2]))  # (2N, d): both views through one pass
        z1, z2 = z.chunk(2)  # (N, d) each
        loss = invariance(z1, z2)
        return {"loss": loss, "std": collapse_std(z1.detach())}



def train_cli(method: str, argv: list[str]) -> int:
    """``sslcourse train invariance ...`` (see ``sslcourse.collapse.train_cli``): watch it collapse."""
    from sslcourse.collapse import train_cli as joint_train_cli

    return joint_train_cli(method, argv)
