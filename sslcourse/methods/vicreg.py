"""VICReg: Variance-Invariance-Covariance Regularization.

Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022, https://arxiv.org/abs/2105.04906.

Lecture: "force non-zero variances to avoid collapse but minimize the covariance to reduce
information overlap". No target network, no predictor, no stop-gradient, no negatives: the
regulariser on each branch's batch statistics alone keeps the embeddings apart.

Lecture symbol -> code word:
    f1 (encoder)                 -> ``encoder``      (representation y, kept downstream)
    expander h                   -> ``expander``     (3-layer MLP, wide: the paper uses 8192-8192-8192)
    Z, Z'                        -> ``z1``, ``z2``   (N, d) expander outputs of the two views
    lambda, mu, nu               -> ``sim``, ``var``, ``cov`` = 25, 25, 1

Loss: sim * s(Z, Z') + var * (v(Z) + v(Z')) / 2 + cov * (c(Z) + c(Z')), see
``sslcourse.losses.joint``. Set ``var=0`` for the ablation that collapses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sslcourse.losses.joint import vicreg_terms
from sslcourse.nn import MLP
from sslcourse.views import Views, views_of_batch

__all__ = ["VICRegConfig", "VICReg"]


@dataclass
class VICRegConfig:
    """VICReg's sizes and weights (small CPU defaults; the paper's values in comments)."""

    hidden_dim: int = 512  # expander hidden width (paper: 8192)
    out_dim: int = 512  # expander output d (paper: 8192)
    num_layers: int = 3  # expander depth (paper: 3)
    sim: float = 25.0  # lambda, invariance weight (paper: 25)
    var: float = 25.0  # mu, variance weight (paper: 25); 0 is the collapsing ablation
    cov: float = 1.0  # nu, covariance weight (paper: 1)


class VICReg(nn.Module):
    """Encoder + expander trained with the three VICReg terms.

    Args:
        encoder: f1, mapping images to ``(N, encoder.out_dim)``; kept downstream.
        views: g, a callable images -> (x1, x2); None when batches already are (x1, x2).
        config: sizes and the weights lambda, mu, nu.

    ``forward(batch)`` returns ``{"loss", "invariance", "variance", "covariance"}``: the three
    terms of ``sslcourse.losses.joint.vicreg_terms`` and their weighted sum (``losses.joint.vicreg``).
    """

    def __init__(self, encoder: nn.Module, views: Views | None = None, config: VICRegConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or VICRegConfig()
        self.encoder = encoder
        self.expander = MLP(encoder.out_dim, config.hidden_dim, config.out_dim, num_layers=config.num_layers)
        self.views = views

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The expander output z = expander(encoder(x)). ``(N, C, H, W) -> (N, d)``."""
        return self.expander(self.encoder(x))

    def forward(self, batch: Any) -> dict[str, Any]:
        cfg = self.config
        x1, x2 = views_of_batch(batch, self.views)
        z1, z2 = self.embed(torch.cat([x1, x2])).float().chunk(2)  # (N, d) each; statistics in fp32
        terms = vicreg_terms(z1, z2)  # the same three terms losses.joint.vicreg weighs
        loss = cfg.sim * terms["invariance"] + cfg.var * terms["variance"] + cfg.cov * terms["covariance"]
        return {"loss": loss, **{name: t.detach() for name, t in terms.items()}}

