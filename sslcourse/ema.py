"""The exponential moving average (EMA) target network of BYOL.

BYOL's lecture statement: "use two encoders f1, f2 where f2 is the exponential moving average of
f1". The rest of the course keeps f1 for the encoder and f2 for the projector (f = f2 o f1), so
the two networks are called ``online`` (trained by gradient descent) and ``target`` (never
trained by gradients, only updated after every optimizer step by

    target <- tau * target + (1 - tau) * online           (``ema_update``))

with the momentum tau rising from ``base`` to 1 along a cosine schedule over training
(``cosine_momentum``; BYOL paper section 3.2: tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2).

Grill et al., "Bootstrap Your Own Latent", 2020, https://arxiv.org/abs/2006.07733.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["make_target", "ema_update", "cosine_momentum"]


def make_target(online: nn.Module) -> nn.Module:
    """A frozen copy of ``online`` to serve as the EMA target: same weights, ``requires_grad=False``.

    The optimizer never sees it (build the optimizer from ``model.parameters()`` after making the
    target and keep the target out of them, or filter ``requires_grad``); only ``ema_update``
    changes it.
    """
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """Move every target parameter towards the online one: theta_t <- tau theta_t + (1 - tau) theta_o.

    Runs under ``torch.no_grad()``, in place, and never touches gradients or ``requires_grad``.
    Buffers (BatchNorm running statistics) are copied from the online network, since the target
    is only ever run in training mode (batch statistics) inside BYOL.

    Args:
        target: the EMA network (updated in place).
        online: the network trained by gradient descent, with the same architecture.
        momentum: tau in [0, 1]; 1 keeps the target, 0 copies the online network.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must lie in [0, 1], got {momentum}.")
    target_params, online_params = list(target.parameters()), list(online.parameters())
    if len(target_params) != len(online_params):
        raise ValueError("ema_update needs two networks of the same architecture; build the target with make_target(online).")
    # ### BEGIN SOLUTION
    for p_t, p_o in zip(target_params, online_params):
        p_t.mul_(momentum).add_(p_o.detach(), alpha=1.0 - momentum)
    # ### END SOLUTION
    for b_t, b_o in zip(target.buffers(), online.buffers()):
        b_t.copy_(b_o)


def cosine_momentum(step: int, total_steps: int, base: float = 0.996) -> float:
    """BYOL's EMA rate after ``step`` of ``total_steps``: 1 - (1 - base) (cos(pi k / K) + 1) / 2.

    Starts at ``base`` (k = 0) and rises to 1 at the end (k = K), so the target changes less and
    less as training converges. BYOL uses base = 0.996 (0.99 for small batches).
    """
    if total_steps <= 0:
        raise ValueError(f"cosine_momentum needs total_steps > 0, got {total_steps}.")
    k = min(max(step, 0), total_steps)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0
