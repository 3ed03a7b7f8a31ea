"""Relative patch placement: g cuts a centre patch and one of its 8 neighbours, f says which one.

Doersch, Gupta and Efros, "Unsupervised Visual Representation Learning by Context Prediction",
ICCV 2015 (arXiv:1505.05192).

    g: x -> (x_in, x_out) = ((centre patch, neighbour patch), position of the neighbour in 0..7)
    f = head(concat(f1(centre), f1(neighbour))),   loss = cross-entropy over the 8 positions

The 3x3 grid and its labels (reading order, the centre has no label)::

    0 1 2
    3 . 4
    5 6 7

"Where does this patch go?" can be answered the lazy way: continue a straight line or a texture
across the border between two touching patches. Two measures take these low-level shortcuts away
(Doersch et al. used a gap of half a patch and a jitter of up to 7 pixels on 96-pixel patches):

* a **gap** between neighbouring patches, so that no edge continues from one patch into the next;
* a random **jitter** of every patch, so that the exact alignment of the grid gives nothing away.

Here the gap is a guarantee: the grid's cells are ``stride = patch + gap + 2 * jitter`` apart and
each patch moves by at most ``jitter`` pixels, so two neighbours are always at least ``gap``
pixels apart (at most ``gap + 4 * jitter``). The whole grid is placed at a random position.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.nn import MLP
from sslcourse.pretext.base import PixelEncoder, images_from_batch

__all__ = ["NEIGHBOURS", "grid_extent", "patch_pair_positions", "crop_patches", "sample_patch_pairs",
           "RelativePatchPlacement"]

# (row offset, column offset) of the neighbour for labels 0..7, in reading order.
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def grid_extent(patch_size: int, gap: int, jitter: int) -> int:
    """Pixels that a 3x3 grid with this patch, gap and jitter needs along each side."""
    stride = patch_size + gap + 2 * jitter
    return 2 * stride + patch_size + 2 * jitter


def patch_pair_positions(n: int, height: int, width: int, patch_size: int, gap: int, jitter: int,
                         generator: torch.Generator | None = None,
                         device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-left corners of a centre patch and of a random neighbour, with gap and jitter.

    Args:
        n: number of pairs.
        height, width: image size.
        patch_size: side p of the square patches.
        gap: guaranteed minimum number of pixels between the two patches.
        jitter: every patch moves independently by an integer in [-jitter, jitter] along each axis.
        generator: a CPU ``torch.Generator`` for reproducible draws.
        device: where the returned tensors live.

    Returns:
        ``centre_yx`` ``(n, 2)``, ``neighbour_yx`` ``(n, 2)`` (row, column of the top-left pixel) and
        ``labels`` ``(n,)`` in 0..7 (see ``NEIGHBOURS``); all int64.
    """
    extent = grid_extent(patch_size, gap, jitter)
    if extent > min(height, width):
        raise ValueError(f"a 3x3 grid of {patch_size}px patches with gap {gap} and jitter {jitter} needs "
                         f"{extent}x{extent} pixels but the images are {height}x{width}; use smaller values")
    # ### BEGIN SOLUTION
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter  # smallest top-left corner of the centre cell that keeps the grid inside

    def randint(low: int, high: int, size: tuple[int, ...]) -> torch.Tensor:  # uniform in [low, high]
        return torch.randint(low, high + 1, size, generator=generator)

    origin = torch.stack([randint(lo, height - patch_size - lo, (n,)),
                          randint(lo, width - patch_size - lo, (n,))], dim=1)  # (n, 2) centre cell
    labels = randint(0, 7, (n,))  # (n,)
    offsets = torch.tensor(NEIGHBOURS)[labels] * stride  # (n, 2)
    centre = origin + randint(-jitter, jitter, (n, 2))
    neighbour = origin + offsets + randint(-jitter, jitter, (n, 2))
    return centre.to(device), neighbour.to(device), labels.to(device)
    # ### END SOLUTION


def crop_patches(images: torch.Tensor, yx: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut one square patch per image at the given top-left corners (one batched gather).

    Shape:
        images ``(N, C, H, W)``, yx ``(N, 2)`` -> ``(N, C, p, p)``.
    """
    n = images.shape[0]
    ar = torch.arange(patch_size, device=images.device)
    rows = (yx[:, 0:1].to(images.device) + ar)  # (N, p)
    cols = (yx[:, 1:2].to(images.device) + ar)  # (N, p)
    batch = torch.arange(n, device=images.device)[:, None, None]  # (N, 1, 1)
    patches = images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, p, p, C)
    return patches.permute(0, 3, 1, 2).contiguous()  # (N, C, p, p)


def sample_patch_pairs(images: torch.Tensor, patch_size: int = 8, gap: int = 1, jitter: int = 1,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g for relative patch placement: (centre patches, neighbour patches, labels 0..7).

    Shape:
        ``(N, C, H, W)`` -> ``(N, C, p, p)``, ``(N, C, p, p)``, ``(N,)``.
    """
    n, _, h, w = images.shape
    centre_yx, neighbour_yx, labels = patch_pair_positions(n, h, w, patch_size, gap, jitter, generator,
                                                           device=images.device)
    return crop_patches(images, centre_yx, patch_size), crop_patches(images, neighbour_yx, patch_size), labels


class RelativePatchPlacement(nn.Module):
    """f1 applied to both patches (shared weights), features concatenated, an MLP picks 1 of 8.

    Args:
        encoder: f1, a ``PixelEncoder``; it sees patches during pretraining and whole images
            downstream (the encoders of ``sslcourse.nn`` pool globally, so any size >= 8 works).
        patch_size, gap, jitter: see ``patch_pair_positions``. The defaults fit 32x32 images
            (grid extent 32); Doersch et al.: 96, 48, 7 on ImageNet photos.
        hidden_dim: width of the head.
    """

    num_classes = 8

    def __init__(self, encoder: PixelEncoder, patch_size: int = 8, gap: int = 1, jitter: int = 1,
                 hidden_dim: int = 256) -> None:
        super().__init__()
        self.encoder = encoder
        self.patch_size, self.gap, self.jitter = patch_size, gap, jitter
        self.head = MLP(2 * encoder.out_dim, hidden_dim, self.num_classes, num_layers=2)

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        images = images_from_batch(batch)
        centre, neighbour, labels = sample_patch_pairs(images, self.patch_size, self.gap, self.jitter)
        n = images.shape[0]
        feats = self.encoder(torch.cat([centre, neighbour]))  # (2N, D), one pass with shared weights
        logits = self.head(torch.cat([feats[:n], feats[n:]], dim=1))  # (N, 8)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean().detach()
        return {"loss": loss, "acc": acc}
