"""LARS: layer-wise adaptive rate scaling, the optimizer of SimCLR's large-batch training.

You, Gitman and Ginsburg, "Large Batch Training of Convolutional Networks", 2017,
arXiv:1708.03888. SimCLR (arXiv:2002.05709, section B.1) trains with LARS: SGD with momentum
whose step for each weight tensor w is rescaled by the *trust ratio*

    trust = eta * ||w|| / (||g|| + weight_decay * ||w||),

so that every layer moves by about the same *relative* amount whatever the batch size. As in
SimCLR's code, biases and BatchNorm parameters (1-d tensors) get neither weight decay nor the
trust ratio: for them LARS is plain SGD with momentum. ``clip=True`` is NVIDIA apex's variant
used by solo-learn's CIFAR recipes: the layer's rate is ``min(trust, lr)``, i.e. LARS never
steps further than plain SGD would.
"""
from __future__ import annotations

from typing import Iterable

import torch

__all__ = ["LARS", "lars_param_groups"]


def lars_param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Split parameters into weights (decay + adaptation) and 1-d ones (bias, BatchNorm: neither)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay, "lars": True},
            {"params": no_decay, "weight_decay": 0.0, "lars": False}]


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise trust ratios (LARS).

    Args:
        params: parameters or param groups; a group with ``lars=False`` skips the trust ratio
            (use ``lars_param_groups`` to exclude biases and BatchNorm as SimCLR does).
        lr: base learning rate (SimCLR: 0.3 x batch_size / 256 on ImageNet).
        momentum: heavy-ball momentum (0.9).
        weight_decay: L2 penalty added to the gradient (SimCLR: 1e-6).
        eta: trust coefficient (SimCLR: 0.001; solo-learn with ``clip``: 0.02).
        clip: cap each layer's rate at ``lr`` (apex / solo-learn).
    """

    def __init__(self, params: Iterable, lr: float = 0.3, momentum: float = 0.9, weight_decay: float = 1e-6,
                 eta: float = 1e-3, clip: bool = False) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0 or eta <= 0:
            raise ValueError(f"LARS needs lr, momentum, weight_decay >= 0 and eta > 0; got {lr}, {momentum}, "
                             f"{weight_decay}, {eta}.")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars=True,
                                      clip=clip))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch's Optimizer.step contract
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                lr, wd = group["lr"], group["weight_decay"]
                g = p.grad
                if group["lars"]:
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
                    trust = group["eta"] * w_norm / (g_norm + wd * w_norm + 1e-12)  # per-layer rate / lr
                    if group["clip"]:
                        trust = torch.clamp(trust / max(lr, 1e-12), max=1.0)
                    trust = torch.where((w_norm > 0) & (g_norm > 0), trust, torch.ones_like(trust))
                    g = g.add(p, alpha=wd).mul_(trust) if wd > 0 else g.mul(trust)
                elif wd > 0:
                    g = g.add(p, alpha=wd)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                p.add_(state["momentum_buffer"], alpha=-lr)
        return loss
