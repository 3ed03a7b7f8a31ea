"""CLIP's symmetric image-text contrastive loss.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021,
https://arxiv.org/abs/2103.00020 (the pseudo-code of figure 3).

Lecture notation -> code words:
    image x_i, its caption t_i            a positive pair: row i of ``image_emb`` and of ``text_emb``
    s(e1, e2) = cos(e1, e2) / tau          ``logits[i, j] = logit_scale * cos(image_i, text_j)``
    1 / tau                                ``logit_scale`` (CLIP learns t = log(1/tau), starts at
                                           log(1/0.07) and clamps t at log(100): ``methods/clip.py``)

A batch of N pairs gives an N x N similarity matrix whose diagonal holds the true pairs. Each row
is an N-way classification "which caption belongs to this image?" and each column "which image
belongs to this caption?"; the loss is the mean of the two cross-entropies. It is SimCLR's
InfoNCE with the two views taken from two modalities, and without the image-image and text-text
negatives.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["clip_logits", "clip_loss"]


def clip_logits(image_emb: torch.Tensor, text_emb: torch.Tensor,
                logit_scale: float | torch.Tensor) -> torch.Tensor:
    """The scaled cosine-similarity matrix of a batch of pairs.

    Args:
        image_emb: image embeddings ``(N, d)`` (any norm; L2-normalised here).
        text_emb: text embeddings ``(N, d)``.
        logit_scale: the multiplier 1/tau (a float or a 0-dim tensor, e.g. ``model.logit_scale.exp()``).

    Returns:
        ``(N, N)`` logits, row i = image i against every caption.
    """
    image_emb = F.normalize(image_emb, dim=-1)  # (N, d), unit rows
    text_emb = F.normalize(text_emb, dim=-1)  # (N, d)
    return logit_scale * image_emb @ text_emb.T  # (N, N)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: float | torch.Tensor) -> torch.Tensor:
    """Symmetric cross-entropy over the batch similarity matrix (CLIP, arXiv:2103.00020).

    ``L = (CE(logits, arange(N)) + CE(logits^T, arange(N))) / 2`` with
    ``logits = logit_scale * normalize(image_emb) @ normalize(text_emb)^T``: image i must pick
    caption i among the N captions of the batch, and caption i must pick image i.

    Args:
        image_emb: ``(N, d)`` image embeddings, row i paired with row i of ``text_emb``.
        text_emb: ``(N, d)`` text embeddings.
        logit_scale: the multiplier 1/tau > 0 (already exponentiated; a tensor keeps its gradient).

    Returns:
        scalar loss; ``log N`` when all similarities are equal, 0 in the limit of perfect,
        confident matching.

    Shape:
        ``image_emb, text_emb``: ``(N, d)`` -> scalar.
    """
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"clip_loss expects paired embeddings of equal shape (N, d), "
                         f"got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}.")
    if isinstance(logit_scale, torch.Tensor) and logit_scale.numel() != 1:
        raise ValueError(f"logit_scale must be a scalar, got shape {tuple(logit_scale.shape)}.")
    if float(logit_scale.detach() if isinstance(logit_scale, torch.Tensor) else logit_scale) <= 0:
        raise ValueError(f"logit_scale is the multiplier 1/tau and must be positive, got {float(logit_scale)}; "
                         "pass model.logit_scale.exp(), not the log.")
    # ### BEGIN SOLUTION
    logits = clip_logits(image_emb, text_emb, logit_scale)  # (N, N), row = image, column = caption
    target = torch.arange(logits.shape[0], device=logits.device)  # (N,) the diagonal holds the pairs
    loss_images = F.cross_entropy(logits, target)  # each image picks its caption
    loss_texts = F.cross_entropy(logits.T, target)  # each caption picks its image
    return (loss_images + loss_texts) / 2
    # ### END SOLUTION
