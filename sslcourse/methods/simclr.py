"""SimCLR: contrastive learning of visual representations, the model.

Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", 2020, arXiv:2002.05709.

Lecture notation -> code words:
    g : x -> (x1, x2)        two random views of every image     -> ``views`` (sslcourse.views)
    f1, the encoder          kept for downstream tasks            -> ``SimCLR.encoder``
    f2, the projector        used only by the loss                -> ``SimCLR.projector``
    f = f2 o f1              the embedding the loss compares      -> ``SimCLR.embed``
    s(e1, e2) = cos / tau    similarity with temperature          -> ``temperature``
(The SimCLR paper calls the projection head g; in this course g makes the views.)

``SimCLR(encoder, projector)(images)`` makes both views on the images' device, embeds the 2N
views in one pass and returns ``{"loss": nt_xent, "pos_acc": ...}``; ``build_model`` makes the
course's version from plain settings. The training run (``sslcourse train simclr``, CIFAR-10 on
GPUs, DDP, LARS, kNN monitor) is the recipe ``sslcourse.recipes.simclr``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.losses.contrastive import nt_xent
from sslcourse.nn import MLP, backbone
from sslcourse.utils import to_float_images
from sslcourse.views import Augment, TwoViews

__all__ = ["SimCLR", "Encoder", "Normalize", "build_model"]


class Normalize(nn.Module):
    """Per-channel standardisation ``(x - mean) / std`` as the encoder's first layer.

    Kept inside f1 so that whoever uses the encoder downstream feeds it plain [0, 1] images.
    """

    def __init__(self, mean: list[float] | tuple[float, ...], std: list[float] | tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float_images(x)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)  # (N, C, H, W)


class Encoder(nn.Sequential):
    """f1 = backbone o Normalize, exposing the backbone's ``out_dim``."""

    def __init__(self, normalize: Normalize, backbone: nn.Module) -> None:
        super().__init__(normalize, backbone)
        self.out_dim = int(backbone.out_dim)


class SimCLR(nn.Module):
    """The SimCLR model: f = projector o encoder, trained with NT-Xent on two views.

    Args:
        encoder: f1, images ``(N, C, H, W)`` -> features ``(N, D)``, with ``.out_dim``.
        projector: f2, ``(N, D)`` -> ``(N, d)`` (SimCLR: 2-layer MLP with BatchNorm, d = 128).
        temperature: tau of the loss (SimCLR CIFAR-10: 0.5).
        views: the pair generator g (default: SimCLR's CIFAR-10 recipe at the input size).
        decoupled: the lecture's loss with the positive left out of the denominator.
        gather: contrast against the embeddings of all processes (set by the recipe under
            torch.distributed).

    ``forward(batch)`` accepts images ``(N, C, H, W)`` (uint8 or float), a tuple
    ``(images, labels)`` (labels ignored), or two ready views ``forward(x1, x2)``; it returns
    ``{"loss": scalar tensor, "pos_acc": scalar tensor}``.
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module, temperature: float = 0.5,
                 views: TwoViews | None = None, decoupled: bool = False, gather: bool = False) -> None:
        super().__init__()
        self.encoder, self.projector = encoder, projector
        self.temperature, self.decoupled, self.gather = temperature, decoupled, gather
        self.views = views
        self.generator: torch.Generator | None = None  # None: the global RNG of the images' device

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) = f2(f1(x)): ``(N, C, H, W)`` -> ``(N, d)``."""
        return self.projector(self.encoder(x))

    def make_views(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two views of every image, on the images' device."""
        views = self.views if self.views is not None else TwoViews(Augment(size=tuple(x.shape[-2:])))
        return views(x, self.generator)

    def forward(self, batch: Any, x2: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if x2 is None:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            with torch.no_grad():
                x1, x2 = self.make_views(x)  # 2 x (N, C, H, W) float in [0, 1]
        else:
            x1 = batch
        n = x1.shape[0]
        x = torch.cat([x1, x2])  # (2N, C, H, W): one pass, BatchNorm sees both views
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        z = self.embed(x)  # (2N, d)
        z1, z2 = z[:n], z[n:]
        loss = nt_xent(z1, z2, self.temperature, decoupled=self.decoupled, gather=self.gather)
        with torch.no_grad():  # top-1 of the contrastive classification, on this process's batch
            zn = F.normalize(z.detach().float(), dim=1)
            sim = zn @ zn.T  # (2N, 2N)
            sim.fill_diagonal_(float("-inf"))
            target = torch.cat([torch.arange(n, 2 * n, device=sim.device), torch.arange(n, device=sim.device)])
            pos_acc = (sim.argmax(dim=1) == target).float().mean()
        return {"loss": loss, "pos_acc": pos_acc}


def build_model(in_channels: int, image_size: tuple[int, int] | list[int], mean: list[float], std: list[float],
                encoder: str = "small", width: int = 32, proj_hidden: int = 512, proj_dim: int = 128,
                temperature: float = 0.5, decoupled: bool = False, crop_scale_min: float = 0.08,
                jitter_strength: float = 0.5, hue: float | None = None) -> SimCLR:
    """The course's SimCLR for images of ``in_channels`` x ``image_size``.

    f1 = backbone ``encoder`` ("small" | "resnet18", see ``sslcourse.nn.backbone``) after a
    per-channel standardisation with the data's ``mean``/``std``; f2 = 2-layer MLP with BatchNorm
    ``D -> proj_hidden -> proj_dim``; views: random resized crop (scale from ``crop_scale_min``),
    flip, colour jitter of strength s = ``jitter_strength`` (0.8s, 0.8s, 0.8s, 0.2s), grayscale;
    ``hue`` replaces the hue jitter 0.2s (0.5 = any hue: on the shapes world colour is a nuisance).
    """
    f1 = Encoder(Normalize(mean, std), backbone(encoder, in_channels=in_channels, width=width))
    f2 = MLP(f1.out_dim, proj_hidden, proj_dim, num_layers=2, batch_norm=True)
    s = jitter_strength
    views = TwoViews(Augment(size=tuple(image_size), scale=(crop_scale_min, 1.0), brightness=0.8 * s,
                             contrast=0.8 * s, saturation=0.8 * s, hue=min(0.2 * s, 0.5) if hue is None else hue))
    return SimCLR(f1, f2, temperature, views=views, decoupled=decoupled)
