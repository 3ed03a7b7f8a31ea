"""Jigsaw puzzles (an extra): g shuffles the 9 tiles of a 3x3 grid, f says which shuffle it was.

Noroozi and Favaro, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles", ECCV 2016 (arXiv:1603.09246).

    g: x -> (x_in, x_out) = (the 9 tiles in the order of permutation P_c, c)
    f = head(concat(f1(tile_1), ..., f1(tile_9))),   loss = cross-entropy over the permutation set

Predicting all 9! orders is neither needed nor learnable, so the task uses a *fixed* set of
permutations chosen far apart: greedily, each new permutation (from a seeded pool of random
candidates) maximises its minimum Hamming distance to those already chosen. The paper maximises
the average distance and uses 1000 permutations; here 64 by default on a CPU. Tiles are cut from
a grid with a gap and jitter, as in ``patches``, for the same reason: no shortcut through
continuing edges.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.nn import MLP
from sslcourse.pretext.base import PixelEncoder, images_from_batch
from sslcourse.pretext.patches import crop_patches

__all__ = ["permutation_set", "jigsaw_tiles", "Jigsaw"]


@functools.lru_cache(maxsize=32)
def _permutation_set(num: int, seed: int, candidates: int = 20000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # candidates: random permutations (all 9! = 362,880 would do too, 20x slower; same spread in practice)
    perms = np.unique(rng.permuted(np.tile(np.arange(9, dtype=np.int8), (candidates, 1)), axis=1), axis=0)
    chosen = [int(rng.integers(len(perms)))]
    min_dist = (perms != perms[chosen[0]]).sum(1)  # (9!,) Hamming distance to the chosen set
    for _ in range(num - 1):
        j = int(np.argmax(min_dist))  # farthest from everything chosen so far (first on ties)
        chosen.append(j)
        min_dist = np.minimum(min_dist, (perms != perms[j]).sum(1))
    return perms[chosen].astype(np.int64)


def permutation_set(num: int = 64, seed: int = 0) -> torch.Tensor:
    """A fixed set of ``num`` permutations of 9 tiles, far apart in Hamming distance.

    Returns:
        ``(num, 9)`` int64; row c lists which original tile goes to each of the 9 slots.
    """
    if not 2 <= num <= 5000:
        raise ValueError(f"num must be between 2 and 5000 (the paper's largest set had 1000), got {num}")
    return torch.from_numpy(_permutation_set(num, seed).copy())


def jigsaw_tiles(images: torch.Tensor, perms: torch.Tensor, tile_size: int = 8, gap: int = 1, jitter: int = 1,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """g for jigsaw: 9 jittered tiles per image, shuffled by a random permutation of the set.

    Returns:
        tiles ``(N, 9, C, p, p)`` in shuffled order (slot s holds original tile ``perms[c, s]``,
        tiles numbered in reading order) and the permutation index c ``(N,)``.
    """
    n, _, h, w = images.shape
    stride = tile_size + gap + 2 * jitter
    extent = 2 * stride + tile_size + 2 * jitter
    if extent > min(h, w):
        raise ValueError(f"a 3x3 grid of {tile_size}px tiles with gap {gap} and jitter {jitter} needs "
                         f"{extent}x{extent} pixels but the images are {h}x{w}; use smaller values")
    g = generator
    origin = torch.stack([torch.randint(jitter, h - extent + jitter + 1, (n,), generator=g),
                          torch.randint(jitter, w - extent + jitter + 1, (n,), generator=g)], 1)  # (N, 2)
    cells = torch.tensor([(r, c) for r in range(3) for c in range(3)]) * stride  # (9, 2)
    yx = origin[:, None] + cells + torch.randint(-jitter, jitter + 1, (n, 9, 2), generator=g)  # (N, 9, 2)
    tiles = crop_patches(images.repeat_interleave(9, 0), yx.reshape(-1, 2), tile_size)  # (9N, C, p, p)
    tiles = tiles.view(n, 9, *tiles.shape[1:])  # (N, 9, C, p, p) in reading order
    labels = torch.randint(0, len(perms), (n,), generator=g)  # (N,)
    order = perms[labels].to(images.device)  # (N, 9)
    shuffled = tiles[torch.arange(n, device=images.device)[:, None], order]  # (N, 9, C, p, p)
    return shuffled, labels.to(images.device)


class Jigsaw(nn.Module):
    """f1 on each of the 9 tiles (shared weights), features concatenated in slot order, MLP -> c.

    Args:
        encoder: f1, a ``PixelEncoder``.
        num_permutations: size of the fixed permutation set (paper: 1000).
        tile_size, gap, jitter: grid geometry (defaults fit 32x32 images).
        hidden_dim: width of the head.
    """

    def __init__(self, encoder: PixelEncoder, num_permutations: int = 64, tile_size: int = 8, gap: int = 1,
                 jitter: int = 1, hidden_dim: int = 512, seed: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("perms", permutation_set(num_permutations, seed), persistent=True)
        self.tile_size, self.gap, self.jitter = tile_size, gap, jitter
        self.head = MLP(9 * encoder.out_dim, hidden_dim, num_permutations, num_layers=2)

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        images = images_from_batch(batch)
        tiles, labels = jigsaw_tiles(images, self.perms.cpu(), self.tile_size, self.gap, self.jitter)
        n = tiles.shape[0]
        feats = self.encoder(tiles.flatten(0, 1))  # (9N, D)
        logits = self.head(feats.view(n, -1))  # (N, P)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean().detach()
        return {"loss": loss, "acc": acc}
