"""Rotation prediction: g rotates the image by a multiple of 90 degrees, f predicts which one.

Gidaris, Singh and Komodakis, "Unsupervised Representation Learning by Predicting Image
Rotations", ICLR 2018 (arXiv:1803.07728).

    g: x -> (x_in, x_out) = (rot(x, k * 90 degrees), k),    k in {0, 1, 2, 3}
    f = head o f1,   loss = cross-entropy(f(x_in), k)

To tell an upright photo from an upside-down one, f1 has to recognise *what* is in the image
(skies are up, faces have eyes above the mouth) — that is the knowledge we want to transfer.
Following the paper, every image enters the batch in all four rotations at once (the four
copies share everything except the label, which makes the task unambiguous per image).

Convention: label k means ``torch.rot90(x, k, dims=(-2, -1))``, a counter-clockwise rotation
by k * 90 degrees as the image is displayed (row 0 at the top).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.nn import MLP
from sslcourse.pretext.base import PixelEncoder, images_from_batch

__all__ = ["rotate_batch", "rotation_pairs", "RotationPrediction"]


def rotate_batch(images: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
    """Rotate each image by its own multiple of 90 degrees (counter-clockwise).

    Args:
        images: square images ``(N, C, H, H)``.
        k: one int for the whole batch, or ``(N,)`` integers (any integer; taken modulo 4).

    Returns:
        ``out[i] = torch.rot90(images[i], k[i], dims=(-2, -1))``, shape ``(N, C, H, H)``.
    """
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotation needs square images (N, C, H, H), got {tuple(images.shape)}; crop them first")
    if isinstance(k, int):
        return torch.rot90(images, k % 4, dims=(-2, -1))
    k = k.to(images.device).long() % 4
    if k.shape != images.shape[:1]:
        raise ValueError(f"k must have one entry per image, shape ({images.shape[0]},), got {tuple(k.shape)}")
    # ### BEGIN SOLUTION
    out = images.clone()
    for r in (1, 2, 3):  # four groups, each rotated with one call: no Python loop over images
        idx = (k == r).nonzero(as_tuple=True)[0]
        if idx.numel():
            out[idx] = torch.rot90(images[idx], r, dims=(-2, -1))
    return out  # (N, C, H, H)
    # ### END SOLUTION


def rotation_pairs(images: torch.Tensor, all_four: bool = True,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """g for rotation prediction: rotated images and their labels.

    Args:
        images: ``(N, C, H, H)``.
        all_four: True -> every image in all four rotations (the paper's recipe, 4N outputs,
            ordered rotation-major: the first N are unrotated); False -> one random rotation each.
        generator: for the random rotations when ``all_four=False``.

    Returns:
        ``x_in`` ``(M, C, H, H)`` and ``x_out`` = k ``(M,)`` int64, with M = 4N or N.
    """
    n = images.shape[0]
    if all_four:
        k = torch.arange(4, device=images.device).repeat_interleave(n)  # (4N,) 0..0 1..1 2..2 3..3
        return rotate_batch(images.repeat(4, 1, 1, 1), k), k
    k = torch.randint(0, 4, (n,), generator=generator, device="cpu").to(images.device)
    return rotate_batch(images, k), k


class RotationPrediction(nn.Module):
    """f1 + a 4-way classification head, trained on ``rotation_pairs``.

    Args:
        encoder: f1, a ``PixelEncoder`` (raw images -> ``(N, out_dim)``).
        hidden_dim: width of the head's hidden layer (the paper uses conv blocks + a linear layer;
            a 2-layer MLP keeps the last encoder features from over-specialising to rotations).
        all_four: passed to ``rotation_pairs`` (every image in all four rotations).
        pairs: a function ``images -> (rotated images, labels k)`` used instead of
            ``rotation_pairs``, e.g. exercise 01's own ``rotation_batch``.

    ``forward(batch)`` returns ``{"loss": cross-entropy, "acc": fraction of rotations guessed}``.
    """

    num_classes = 4

    def __init__(self, encoder: PixelEncoder, hidden_dim: int = 256, all_four: bool = True,
                 pairs: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = MLP(encoder.out_dim, hidden_dim, self.num_classes, num_layers=2)
        self.all_four = all_four
        self.pairs = pairs  # g: images -> (rotated images, k); None = rotation_pairs (exercise 01 passes its own)

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        images = images_from_batch(batch)
        x_in, k = self.pairs(images) if self.pairs else rotation_pairs(images, all_four=self.all_four)
        logits = self.head(self.encoder(x_in))  # (4N, 4)
        loss = F.cross_entropy(logits, k)
        acc = (logits.argmax(1) == k).float().mean().detach()
        return {"loss": loss, "acc": acc}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities of the four rotations for each image, ``(N, 4)``."""
        return self.head(self.encoder(images)).softmax(-1)
