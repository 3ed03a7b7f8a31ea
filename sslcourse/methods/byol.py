"""BYOL: Bootstrap Your Own Latent.

Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning", 2020,
https://arxiv.org/abs/2006.07733.

Lecture: "use two encoders f1, f2 where f2 is the exponential moving average of f1 and force
f1(x1) ~= f2(x2)". Here f1 and f2 keep their course-wide meaning (encoder and projector, f = f2 o f1),
so the lecture's two networks are called the *online* and the *target* network. Nothing pushes embeddings of different images apart, yet BYOL does not
collapse: the online network must *predict* the slowly moving target's embedding through an
extra head q (the predictor), and no gradient flows into the target (stop-gradient).

Lecture symbol -> code word:
    online network f2 o f1   -> ``projector(encoder(x))``          trained by gradients
    q  (predictor)           -> ``predictor``                      only on the online side
    target network (EMA)     -> ``target_projector(target_encoder(x))``   updated in ``after_step``
    tau (EMA rate)           -> ``momentum``, cosine schedule from ``base_momentum`` to 1

Loss (symmetric, paper eq. 2 and the sum L + L~), with online(x) = f2(f1(x)) and target(x) its EMA:
    p1 = q(online(x1)), p2 = q(online(x2)),  z1 = sg(target(x1)), z2 = sg(target(x2))
    loss = byol(p1, z2) + byol(p2, z1),   byol(p, z) = mean(2 - 2 cos(p, z))

Ablations (``target``, ``use_predictor``) reproduce the failure modes shown in the lecture:
``use_predictor=False`` (BYOL without the predictor) and ``target="online"`` (the target *is*
the online network: no EMA, no stop-gradient) both collapse; ``target="stop_gradient"`` (the
target is the current online network, detached: tau = 0) is SimSiam with a BYOL head.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sslcourse.ema import cosine_momentum, ema_update, make_target
from sslcourse.losses.joint import byol
from sslcourse.nn import MLP
from sslcourse.views import Views, views_of_batch

__all__ = ["BYOLConfig", "BYOL"]

TARGETS = ("ema", "stop_gradient", "online")


@dataclass
class BYOLConfig:
    """BYOL's sizes and EMA rate (small CPU defaults; the paper's values in comments)."""

    hidden_dim: int = 512  # projector and predictor hidden width (paper: 4096)
    out_dim: int = 128  # embedding dimension d (paper: 256)
    projector_layers: int = 2  # Linear layers of the projector (paper: 2; VICReg's expander has 3)
    base_momentum: float = 0.99  # tau_base (paper: 0.996; 0.99 for short runs / small batches)
    use_predictor: bool = True  # ablation: False removes q (collapses)
    target: str = "ema"  # "ema" (BYOL) | "stop_gradient" (tau = 0) | "online" (no EMA, no stop-gradient: collapses)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"BYOLConfig.target must be one of {TARGETS}, got {self.target!r}.")


class BYOL(nn.Module):
    """Online encoder + projector + predictor, and an EMA target of encoder + projector.

    Args:
        encoder: f1, the online encoder, mapping images to ``(N, encoder.out_dim)``; kept downstream.
        views: g, a callable images -> (x1, x2); None when batches already are (x1, x2).
        config: sizes, EMA rate, ablation switches.

    ``forward(batch)`` returns ``{"loss", "momentum"}``; ``fit`` calls
    ``after_step(step, steps)`` after each optimizer step, which moves the target.
    """

    def __init__(self, encoder: nn.Module, views: Views | None = None, config: BYOLConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or BYOLConfig()
        self.encoder = encoder
        self.projector = MLP(encoder.out_dim, config.hidden_dim, config.out_dim,
                             num_layers=config.projector_layers)
        self.predictor = MLP(config.out_dim, config.hidden_dim, config.out_dim) if config.use_predictor else nn.Identity()
        self.views = views
        self.momentum = config.base_momentum
        if config.target == "ema":
            self.target_encoder = make_target(self.encoder)
            self.target_projector = make_target(self.projector)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The online network f2(f1(x)) = projector(encoder(x)). ``(N, C, H, W) -> (N, d)``."""
        return self.projector(self.encoder(x))

    @torch.no_grad()
    def target_embed(self, x: torch.Tensor) -> torch.Tensor:
        """The target network (the EMA of the online one), without gradients. ``(N, C, H, W) -> (N, d)``."""
        return self.target_projector(self.target_encoder(x))

    def forward(self, batch: Any) -> dict[str, Any]:
        x1, x2 = views_of_batch(batch, self.views)
        x = torch.cat([x1, x2])  # (2N, C, H, W): both views in one pass
        z_online = self.embed(x)  # (2N, d)
        p1, p2 = self.predictor(z_online).chunk(2)  # (N, d) each
        if self.config.target == "ema":
            z_target = self.target_embed(x)  # (2N, d), no graph
        elif self.config.target == "stop_gradient":
            z_target = z_online.detach()
        else:  # "online": the target is the online network itself, gradients flow into both branches
            z_target = z_online
        z1, z2 = z_target.chunk(2)  # (N, d) each
        loss = byol(p1, z2) + byol(p2, z1)  # symmetric: each view predicts the other's target
        return {"loss": loss, "momentum": self.momentum}

    @torch.no_grad()
    def after_step(self, step: int, steps: int) -> None:
        """EMA update of the target after optimizer step ``step`` (1-based) of ``steps``."""
        if self.config.target != "ema":
            return
        self.momentum = cosine_momentum(step, steps, self.config.base_momentum)
        ema_update(self.target_encoder, self.encoder, self.momentum)
        ema_update(self.target_projector, self.projector, self.momentum)

