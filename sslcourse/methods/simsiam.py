"""SimSiam: Simple Siamese representation learning (stop-gradient, no EMA, no negatives).

Chen and He, "Exploring Simple Siamese Representation Learning", 2021,
https://arxiv.org/abs/2011.10566.

BYOL without the moving average: the target is the *current* online network, detached. The
paper's finding is that the stop-gradient (with the predictor) is what prevents collapse; it
also introduced the collapse diagnostic used throughout this topic, the std of the
L2-normalised outputs (``sslcourse.evaluate.collapse_std``).

Lecture symbol -> code word:
    f = f2 o f1      -> ``projector(encoder(x))``   (z, with BatchNorm on its output as in the paper)
    h (predictor)    -> ``predictor``               (a bottleneck MLP)
    stop-gradient    -> ``.detach()``

Loss (paper eq. 1-2): D(p, z) = -cos(p, sg(z));  loss = D(p1, z2) / 2 + D(p2, z1) / 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.nn import MLP
from sslcourse.views import Views, views_of_batch

__all__ = ["SimSiamConfig", "SimSiam", "negative_cosine"]


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """SimSiam's D(p, z) = -mean_i cos(p_i, sg(z_i)); the stop-gradient is inside. ``(N, d), (N, d) -> ()``."""
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


@dataclass
class SimSiamConfig:
    """SimSiam's sizes (small CPU defaults; the paper's CIFAR values in comments)."""

    hidden_dim: int = 512  # projector hidden width (paper: 2048)
    out_dim: int = 128  # embedding dimension d (paper: 2048)
    projector_layers: int = 2  # Linear layers of the projector (paper: 3 for ImageNet, 2 for CIFAR)
    predictor_hidden_dim: int = 64  # predictor bottleneck (paper: 512, i.e. d / 4)
    stop_gradient: bool = True  # ablation: False collapses (paper figure 2)


class SimSiam(nn.Module):
    """Encoder + projector (BN on the output) + bottleneck predictor, symmetric -cos with stop-gradient.

    Args:
        encoder: f1, mapping images to ``(N, encoder.out_dim)``; kept downstream.
        views: g, a callable images -> (x1, x2); None when batches already are (x1, x2).
        config: sizes and the stop-gradient switch.

    ``forward(batch)`` returns ``{"loss"}``; ``sslcourse.collapse.CollapseMonitor`` watches for collapse.
    """

    def __init__(self, encoder: nn.Module, views: Views | None = None, config: SimSiamConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SimSiamConfig()
        self.encoder = encoder
        self.projector = MLP(encoder.out_dim, config.hidden_dim, config.out_dim, num_layers=config.projector_layers,
                             last_bn=True)
        self.predictor = MLP(config.out_dim, config.predictor_hidden_dim, config.out_dim)
        self.views = views

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """z = projector(encoder(x)). ``(N, C, H, W) -> (N, d)``."""
        return self.projector(self.encoder(x))

    def forward(self, batch: Any) -> dict[str, Any]:
        x1, x2 = views_of_batch(batch, self.views)
        z = self.embed(torch.cat([x1, x2]))  # (2N, d)
        p1, p2 = self.predictor(z).chunk(2)  # (N, d) each
        z1, z2 = z.chunk(2)  # (N, d) each
        if self.config.stop_gradient:
            loss = negative_cosine(p1, z2) / 2 + negative_cosine(p2, z1) / 2
        else:
            loss = -(F.cosine_similarity(p1, z2, dim=-1).mean() + F.cosine_similarity(p2, z1, dim=-1).mean()) / 2
        return {"loss": loss}

