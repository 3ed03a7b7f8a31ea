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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sslcourse.losses.joint import invariance
from sslcourse.nn import MLP
from sslcourse.views import Views, views_of_batch

__all__ = ["InvarianceConfig", "Invariance"]


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

    ``forward(batch)`` returns ``{"loss"}`` for ``sslcourse.train.fit``; watch the collapse with
    ``sslcourse.collapse.CollapseMonitor``.
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
        x1, x2 = views_of_batch(batch, self.views)
        z = self.embed(torch.cat([x1, x2]))  # (2N, d): both views through one pass
        z1, z2 = z.chunk(2)  # (N, d) each
        loss = invariance(z1, z2)
        return {"loss": loss}
