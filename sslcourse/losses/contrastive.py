"""Contrastive losses: NT-Xent (SimCLR's normalized temperature-scaled cross-entropy, InfoNCE).

Lecture notation -> code words:
    f(x), f(x+)          the embeddings of the two views of one image  -> ``z1[i]``, ``z2[i]``
    s(e1, e2)            cosine similarity divided by the temperature  -> ``cosine_similarity_matrix``
    tau                  the temperature                               -> ``temperature``
    x_i^-                negatives: every other view in the batch      -> the other 2N - 2 rows

The lecture's objective,

    L(x) = -E[ log  exp(s(f(x), f(x+))) / sum_i exp(s(f(x), f(x_i^-))) ],

is a classification problem: among the 2N - 1 other views in a batch of N images (2N views),
pick the one that comes from the same image. SimCLR (Chen et al., "A Simple Framework for
Contrastive Learning of Visual Representations", 2020, arXiv:2002.05709, eq. 1) puts the
positive *in* the denominator (a softmax cross-entropy over the 2N - 1 candidates); the
lecture's form leaves it out, which is the decoupled contrastive loss (Yeh et al.,
"Decoupled Contrastive Learning", 2021, arXiv:2110.06848): ``nt_xent(..., decoupled=True)``.

The functions are pure: embeddings in, scalar out. Under ``torchrun`` the training command
passes ``gather=True`` so that every view is contrasted against the embeddings of all
processes (gathered *with* gradients), as SimCLR trains on the global batch.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

__all__ = ["cosine_similarity_matrix", "nt_xent", "nt_xent_loop", "positive_accuracy",
           "all_gather_with_grad"]


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor | None = None,
                             temperature: float = 1.0) -> torch.Tensor:
    """All pairwise ``s(a_i, b_j) = cos(a_i, b_j) / temperature``.

    Args:
        a: embeddings ``(N, d)``.
        b: embeddings ``(M, d)``; default ``a`` (the batch against itself).
        temperature: tau > 0.

    Returns:
        ``(N, M)`` similarity matrix.
    """
    # ### BEGIN SOLUTION
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    b = a if b is None else b
    a = F.normalize(a, dim=1)  # (N, d), unit rows
    b = F.normalize(b, dim=1)  # (M, d)
    return a @ b.T / temperature  # (N, M)
    # ### END SOLUTION


def _check(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> None:
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"nt_xent expects two views' embeddings of equal shape (N, d), "
                         f"got {tuple(z1.shape)} and {tuple(z2.shape)}.")
    if z1.shape[0] < 2:
        raise ValueError("nt_xent needs at least 2 images per batch (otherwise there is no negative).")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")


def nt_xent_loop(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5,
                 decoupled: bool = False) -> torch.Tensor:
    """NT-Xent written as the lecture writes it: one anchor at a time (slow; for teaching).

    For every anchor view k among the 2N views, its positive is the other view of the same
    image; the loss of the anchor is ``-s(k, pos) + log sum_{j != k} exp(s(k, j))`` (with
    ``decoupled=True`` the positive is also left out of the sum). The result is the mean over
    the 2N anchors. Equal to ``nt_xent``.

    Shape:
        ``z1, z2``: ``(N, d)`` -> scalar.
    """
    _check(z1, z2, temperature)
    # ### BEGIN SOLUTION
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)  # (2N, d): rows 0..N-1 view 1, N..2N-1 view 2
    losses = []
    for k in range(2 * n):
        pos = (k + n) % (2 * n)  # the other view of the same image
        s = z[k] @ z.T / temperature  # (2N,) similarities of anchor k with every view
        keep = torch.ones(2 * n, dtype=torch.bool, device=z.device)
        keep[k] = False  # never compare a view with itself
        if decoupled:
            keep[pos] = False  # the lecture's form: the positive is not in the denominator
        losses.append(-s[pos] + torch.logsumexp(s[keep], dim=0))
    return torch.stack(losses).mean()
    # ### END SOLUTION


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward hands every process the summed gradient of its own slice.

    (The pattern of SimCLR's and lightly's ``GatherLayer``; PyTorch's
    ``torch.distributed.nn.all_gather`` does the same but is deprecated in recent versions.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x)
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        g = torch.stack(grads)  # (world, n, d): d(local loss)/d(every process's slice)
        dist.all_reduce(g)  # sum over the processes' losses
        return g[dist.get_rank()]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` ``(n, d)`` from every process along dim 0 -> ``(world * n, d)``.

    Gradients flow back to each process's own slice, summed over the losses of all processes.
    Without an initialised process group (or with one process) returns ``x`` unchanged.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return torch.cat(_GatherWithGrad.apply(x.contiguous()), dim=0)


def _logits_and_targets(z1: torch.Tensor, z2: torch.Tensor, temperature: float, gather: bool):
    """Similarities of the local anchors with all candidates, the self mask and the positives."""
    n = z1.shape[0]
    rank, world = 0, 1
    if gather and dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    z1 = F.normalize(z1.float(), dim=1)  # (n, d)
    z2 = F.normalize(z2.float(), dim=1)  # (n, d)
    anchors = torch.cat([z1, z2])  # (2n, d): this process's anchors
    if world > 1:
        z1_all, z2_all = all_gather_with_grad(z1), all_gather_with_grad(z2)  # (N, d) each, N = world * n
    else:
        z1_all, z2_all = z1, z2
    big_n = z1_all.shape[0]
    candidates = torch.cat([z1_all, z2_all])  # (2N, d)
    logits = anchors @ candidates.T / temperature  # (2n, 2N)
    local = torch.arange(n, device=z1.device) + rank * n  # global index of local image i
    self_idx = torch.cat([local, local + big_n])  # (2n,) column of each anchor itself
    pos_idx = torch.cat([local + big_n, local])  # (2n,) column of its positive
    return logits, self_idx, pos_idx


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, decoupled: bool = False,
            *, gather: bool = False) -> torch.Tensor:
    """SimCLR's NT-Xent loss over the 2N views of a batch, vectorised.

    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
    2020, arXiv:2002.05709 (eq. 1). Each of the 2N views is an anchor; its positive is the other
    view of the same image, its negatives the 2N - 2 views of the other images; the
    self-similarity is excluded. The loss is the softmax cross-entropy of picking the positive
    among the 2N - 1 candidates, averaged over all 2N anchors. With ``decoupled=True`` the
    positive is dropped from the denominator (the lecture's form; DCL, Yeh et al. 2021,
    arXiv:2110.06848).

    Computed in float32 with autocast disabled (a bf16 similarity at tau = 0.1 would be off
    by ~0.1 in the logits), and through ``logsumexp``, so small temperatures are stable.

    Args:
        z1: embeddings of the first views ``(N, d)`` (need not be normalised).
        z2: embeddings of the second views ``(N, d)``; row i of both come from image i.
        temperature: tau (SimCLR CIFAR-10: 0.5; ImageNet with large batches: 0.1).
        decoupled: leave the positive out of the denominator.
        gather: under ``torch.distributed``, contrast the local anchors with the embeddings of
            *all* processes (all-gathered with gradients). The loss is then the mean over this
            process's anchors; DistributedDataParallel's gradient averaging turns it into the
            gradient of the global-batch loss.

    Returns:
        scalar loss (float32). For random embeddings and large tau it approaches log(2N - 1)
        (log(2N - 2) when decoupled).

    Shape:
        ``z1, z2``: ``(N, d)`` -> ``()``.
    """
    _check(z1, z2, temperature)
    # ### BEGIN SOLUTION
    with torch.autocast(device_type=z1.device.type, enabled=False):
        logits, self_idx, pos_idx = _logits_and_targets(z1, z2, temperature, gather)  # (2n, 2N)
        rows = torch.arange(logits.shape[0], device=logits.device)
        mask = torch.zeros_like(logits, dtype=torch.bool)
        mask[rows, self_idx] = True  # a view is never its own candidate
        if not decoupled:
            return F.cross_entropy(logits.masked_fill(mask, float("-inf")), pos_idx)
        pos = logits[rows, pos_idx]  # (2n,)
        mask[rows, pos_idx] = True  # decoupled: negatives only in the denominator
        return (torch.logsumexp(logits.masked_fill(mask, float("-inf")), dim=1) - pos).mean()
    # ### END SOLUTION


@torch.no_grad()
def positive_accuracy(z1: torch.Tensor, z2: torch.Tensor, *, gather: bool = False) -> float:
    """Top-1 accuracy of the contrastive classification: how often is the most similar of the
    2N - 1 other views the positive? A training metric (1/(2N - 1) at chance).

    Shape:
        ``z1, z2``: ``(N, d)`` -> float in [0, 1].
    """
    _check(z1, z2, 1.0)
    with torch.autocast(device_type=z1.device.type, enabled=False):
        logits, self_idx, pos_idx = _logits_and_targets(z1.detach(), z2.detach(), 1.0, gather)
        rows = torch.arange(logits.shape[0], device=logits.device)
        logits[rows, self_idx] = float("-inf")
        acc = (logits.argmax(dim=1) == pos_idx).float().mean()
    if gather and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(acc)
        acc /= dist.get_world_size()
    return acc.item()
