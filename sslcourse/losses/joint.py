"""Losses of the joint-embedding methods: naive invariance, BYOL, VICReg.

The lecture's joint-embedding objective: for two views (x1, x2) = g(x) of one datapoint, learn
f with f(x1) ~= f(x2). In code the embeddings of the two views are ``z1 = f(x1)`` and
``z2 = f(x2)``, batches of shape ``(N, d)`` (row i of z1 and row i of z2 come from the same x).

Lecture symbol -> code word:
    f(x1), f(x2)          -> ``z1``, ``z2``             (N, d) embeddings of the two views
    q(f1(x1)) (BYOL)      -> ``p``                      the online network's prediction
    f2(x2) (BYOL target)  -> ``z``                      the target network's projection (detached by the caller)

Functions:
    invariance(z1, z2)          the naive objective 2 - 2 cos(z1, z2): minimised by a constant f (collapse)
    byol(p, z)                  BYOL's loss, the same formula between prediction and target projection
    invariance_term(z1, z2)     VICReg's s(Z, Z'): mean squared error
    variance_term(z)            VICReg's v(Z): hinge on the per-dimension standard deviation
    covariance_term(z)          VICReg's c(Z): squared off-diagonal covariances, summed, divided by d
    vicreg(z1, z2)              lambda * s + mu * (v(Z) + v(Z')) / 2 + nu * (c(Z) + c(Z'))

The VICReg functions follow the official code (facebookresearch/vicreg, main_vicreg.py) exactly:
unbiased variance, ``std = sqrt(var + eps)``, each branch's variance hinge halved, the covariance
terms of both branches summed (not halved), coefficients 25 / 25 / 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["invariance", "byol", "invariance_term", "variance_term", "covariance_term", "vicreg_terms", "vicreg"]


def _check_pair(a: torch.Tensor, b: torch.Tensor, name: str) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"{name} expects two embedding batches of the same shape (N, d), got {tuple(a.shape)} and "
            f"{tuple(b.shape)}; flatten the embeddings with .flatten(1) first."
        )


def _check_batch(z: torch.Tensor, name: str) -> None:
    if z.ndim != 2:
        raise ValueError(f"{name} expects an embedding batch (N, d), got shape {tuple(z.shape)}.")
    if z.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 embeddings to estimate (co)variances, got N={z.shape[0]}.")


def invariance(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """The naive joint-embedding objective: make the two views' embeddings point the same way.

    loss = mean_i (2 - 2 cos(z1_i, z2_i)) = mean_i || z1_i/||z1_i|| - z2_i/||z2_i|| ||^2.

    This is f(x1) ~= f(x2) and nothing else, so a constant encoder minimises it (loss 0):
    training with it alone collapses (lecture, "constant f is a trivial encoder that is
    invariant"). It is the BYOL formula without predictor, target network or stop-gradient.

    Args:
        z1: embeddings of the first views.
        z2: embeddings of the second views (row i pairs with row i of z1).

    Returns:
        scalar loss in [0, 4]; symmetric in (z1, z2).

    Shape:
        z1, z2: ``(N, d)`` -> ``()``.
    """
    _check_pair(z1, z2, "invariance")
    return byol(z1, z2)


def byol(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's regression loss between the online prediction and the target projection.

    Grill et al., "Bootstrap Your Own Latent", 2020, https://arxiv.org/abs/2006.07733 (eq. 2):
    loss = mean_i || p_i/||p_i|| - z_i/||z_i|| ||^2 = mean_i (2 - 2 cos(p_i, z_i)).

    The stop-gradient is the caller's job: pass ``z`` computed by the target network under
    ``torch.no_grad()`` (or ``z.detach()``). The symmetric BYOL loss is
    ``byol(p1, z2) + byol(p2, z1)``.

    Args:
        p: predictions q(online(x1)) of the online network.
        z: target projections target(x2) (no gradient should flow into them).

    Returns:
        scalar loss in [0, 4].

    Shape:
        p, z: ``(N, d)`` -> ``()``.
    """
    _check_pair(p, z, "byol")
    # ### BEGIN SOLUTION
    cos = F.cosine_similarity(p, z, dim=-1)  # (N,)
    return (2 - 2 * cos).mean()
    # ### END SOLUTION


def invariance_term(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """VICReg's invariance term s(Z, Z'): the mean squared error between the two views.

    Bardes, Ponce, LeCun, "VICReg", 2022, https://arxiv.org/abs/2105.04906 (eq. 5), as in the
    official code: ``F.mse_loss(z1, z2)``, i.e. averaged over the N * d entries.

    Shape:
        z1, z2: ``(N, d)`` -> ``()``.
    """
    _check_pair(z1, z2, "invariance_term")
    return F.mse_loss(z1, z2)


def variance_term(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """VICReg's variance term v(Z) of one branch: keep every dimension's std above gamma.

    v(Z) = (1/d) sum_j max(0, gamma - sqrt(Var(z_j) + eps)), with the unbiased variance over the
    batch (VICReg eq. 1; the official code uses gamma = 1, eps = 1e-4). It is the term that
    prevents collapse: a constant batch gives v = gamma - sqrt(eps) (0.99 with the defaults).
    ``vicreg`` halves it per branch: (v(Z) + v(Z')) / 2.

    Args:
        z: one branch's embeddings.
        gamma: the target standard deviation.
        eps: numerical floor inside the square root (keeps the gradient finite at std 0).

    Shape:
        z: ``(N, d)`` with N >= 2 -> ``()``.
    """
    _check_batch(z, "variance_term")
    # ### BEGIN SOLUTION
    std = torch.sqrt(z.var(dim=0) + eps)  # (d,) unbiased variance over the batch
    return F.relu(gamma - std).mean()
    # ### END SOLUTION


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """VICReg's covariance term c(Z) of one branch: decorrelate the embedding dimensions.

    C(Z) = (Z - mean)^T (Z - mean) / (N - 1) and c(Z) = (1/d) sum_{i != j} C(Z)_{ij}^2 (VICReg
    eq. 3-4). It spreads information over the dimensions (the lecture: "minimize the covariance
    to reduce information overlap"); it does not by itself prevent collapse.

    Shape:
        z: ``(N, d)`` with N >= 2 -> ``()``.
    """
    _check_batch(z, "covariance_term")
    # ### BEGIN SOLUTION
    n, d = z.shape
    zc = z - z.mean(dim=0)  # (N, d) centred
    cov = zc.T @ zc / (n - 1)  # (d, d)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))  # (d, d) zero diagonal
    return off_diagonal.pow(2).sum() / d
    # ### END SOLUTION


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-4) -> dict[str, torch.Tensor]:
    """VICReg's three terms before weighting, as ``vicreg`` sums them (official convention):

        invariance  s(Z, Z')
        variance    (v(Z) + v(Z')) / 2       each branch halved
        covariance  c(Z) + c(Z')             both branches summed

    Shape:
        z1, z2: ``(N, d)`` with N >= 2 -> three scalars.
    """
    _check_pair(z1, z2, "vicreg_terms")
    # ### BEGIN SOLUTION
    return {"invariance": invariance_term(z1, z2),
            "variance": (variance_term(z1, eps=eps) + variance_term(z2, eps=eps)) / 2,
            "covariance": covariance_term(z1) + covariance_term(z2)}
    # ### END SOLUTION


def vicreg(z1: torch.Tensor, z2: torch.Tensor, sim: float = 25.0, var: float = 25.0, cov: float = 1.0,
           eps: float = 1e-4) -> torch.Tensor:
    """VICReg: Variance-Invariance-Covariance Regularization.

    Bardes, Ponce, LeCun, 2022, https://arxiv.org/abs/2105.04906 (eq. 6), official convention:
        loss = sim * s(Z, Z') + var * (v(Z) + v(Z')) / 2 + cov * (c(Z) + c(Z'))
    with lambda = mu = 25, nu = 1 in the paper. Apply it to the expander's outputs.

    Args:
        z1, z2: the expander outputs of the two views.
        sim, var, cov: the weights lambda, mu, nu of the three terms.
        eps: the floor inside the variance term's square root.

    Returns:
        scalar weighted sum (``vicreg_terms`` gives the three terms, to log them).

    Shape:
        z1, z2: ``(N, d)`` with N >= 2 -> ``()``.
    """
    _check_pair(z1, z2, "vicreg")
    # ### BEGIN SOLUTION
    t = vicreg_terms(z1, z2, eps=eps)
    return sim * t["invariance"] + var * t["variance"] + cov * t["covariance"]
    # ### END SOLUTION
