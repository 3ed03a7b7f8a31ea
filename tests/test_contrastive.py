"""Tests of sslcourse.losses.contrastive against independent computations and known limits."""
from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from sslcourse.losses.contrastive import (cosine_similarity_matrix, nt_xent, nt_xent_loop,
                                          positive_accuracy)


def _emb(n=8, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


def _reference_ce(z1, z2, t):
    """Independent NT-Xent: pairwise F.cosine_similarity, -inf diagonal, F.cross_entropy."""
    z = torch.cat([z1, z2])
    n2 = z.shape[0]
    sim = F.cosine_similarity(z[:, None, :], z[None, :, :], dim=-1) / t  # (2N, 2N)
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    labels = torch.cat([torch.arange(n2 // 2, n2), torch.arange(0, n2 // 2)])
    return F.cross_entropy(sim, labels)


def _reference_decoupled(z1, z2, t):
    """The lecture's formula in float64 numpy: positive left out of the denominator."""
    z = torch.cat([z1, z2]).double().numpy()
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    s = z @ z.T / t
    total = 0.0
    for k in range(n2):
        pos = (k + n2 // 2) % n2
        neg = [s[k, j] for j in range(n2) if j not in (k, pos)]
        total += -(s[k, pos] - np.log(np.sum(np.exp(neg))))
    return total / n2


@pytest.mark.parametrize("t", [0.1, 0.5, 2.0])
def test_nt_xent_matches_cross_entropy_reference(t):
    z1, z2 = _emb()
    assert torch.allclose(nt_xent(z1, z2, t).double(), _reference_ce(z1, z2, t), atol=1e-5)


def test_decoupled_matches_lecture_formula():
    z1, z2 = _emb(n=6, d=4, seed=1)
    for t in (0.2, 1.0):
        assert abs(nt_xent(z1, z2, t, decoupled=True).item() - _reference_decoupled(z1, z2, t)) < 1e-5
    # leaving the positive out can only lower the loss
    assert nt_xent(z1, z2, 0.5, decoupled=True) < nt_xent(z1, z2, 0.5)


@pytest.mark.parametrize("decoupled", [False, True])
def test_loop_equals_vectorised_values_and_gradients(decoupled):
    z1, z2 = _emb(n=7, d=6, seed=2, dtype=torch.float32)
    a1, a2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    b1, b2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    la = nt_xent_loop(a1, a2, 0.3, decoupled=decoupled)
    lb = nt_xent(b1, b2, 0.3, decoupled=decoupled)
    assert torch.allclose(la, lb, atol=1e-5)
    la.backward()
    lb.backward()
    assert torch.allclose(a1.grad, b1.grad, atol=1e-5) and torch.allclose(a2.grad, b2.grad, atol=1e-5)


def test_invariant_to_swapping_views_and_to_scaling():
    z1, z2 = _emb(seed=3)
    assert torch.allclose(nt_xent(z1, z2), nt_xent(z2, z1), atol=1e-6)
    assert torch.allclose(nt_xent(z1, z2, decoupled=True), nt_xent(z2, z1, decoupled=True), atol=1e-6)
    assert torch.allclose(nt_xent(z1, z2), nt_xent(3.0 * z1, 0.5 * z2), atol=1e-6)  # cosine: scale-free
    # permuting the images (both views alike) changes nothing
    perm = torch.randperm(z1.shape[0], generator=torch.Generator().manual_seed(0))
    assert torch.allclose(nt_xent(z1, z2), nt_xent(z1[perm], z2[perm]), atol=1e-6)


def test_high_temperature_limit_is_log_2n_minus_1():
    n = 64
    z1, z2 = _emb(n=n, d=32, seed=4)
    assert abs(nt_xent(z1, z2, temperature=1e4).item() - math.log(2 * n - 1)) < 1e-3
    assert abs(nt_xent(z1, z2, 1e4, decoupled=True).item() - math.log(2 * n - 2)) < 1e-3


def test_perfect_alignment_at_low_temperature_gives_zero_loss():
    z1 = torch.eye(8)  # orthogonal images, identical views
    assert nt_xent(z1, z1.clone(), temperature=0.05).item() < 1e-6
    assert positive_accuracy(z1, z1.clone()) == 1.0


@pytest.mark.parametrize("t", [1e-3, 1e-2])
def test_stable_at_small_temperature(t):
    z1, z2 = _emb(n=32, d=16, seed=5, dtype=torch.float32)
    z1.requires_grad_()
    for decoupled in (False, True):
        loss = nt_xent(z1, z2, t, decoupled=decoupled)
        (g,) = torch.autograd.grad(loss, z1)
        assert torch.isfinite(loss) and torch.isfinite(g).all()
    # float64 agrees with float32 at tiny temperature (no overflow, no cancellation)
    assert torch.allclose(nt_xent(z1.double(), z2.double(), t).float(), nt_xent(z1, z2, t), rtol=1e-4)


def test_stable_under_bf16_autocast_on_cpu():
    z1, z2 = _emb(n=32, d=16, seed=6, dtype=torch.float32)
    w = torch.randn(16, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
    ref = nt_xent(z1 @ w, z2 @ w, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        e1, e2 = z1 @ w, z2 @ w  # bf16 activations, as a model under autocast produces
        assert e1.dtype == torch.bfloat16
        loss = nt_xent(e1, e2, 0.1)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert abs(loss.item() - ref.item()) < 0.05 * ref.item()  # only the bf16 embeddings differ
    loss.backward()
    assert torch.isfinite(w.grad).all()


def test_cosine_similarity_matrix_matches_torch():
    a, b = _emb(n=5, d=3, seed=7)
    ref = F.cosine_similarity(a[:, None], b[None], dim=-1) / 0.25
    assert torch.allclose(cosine_similarity_matrix(a, b, 0.25), ref, atol=1e-6)
    s = cosine_similarity_matrix(a)
    assert torch.allclose(s, s.T) and torch.allclose(s.diagonal(), torch.ones(5, dtype=s.dtype))


def test_positive_accuracy_hand_case_and_chance():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    z2 = torch.tensor([[0.9, 0.1], [-0.9, 0.1], [-1.0, 0.1]])  # image 1's second view points the wrong way
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = z @ z.T
    s.fill_diagonal_(-float("inf"))
    expected = (s.argmax(1) == torch.tensor([3, 4, 5, 0, 1, 2])).float().mean().item()
    assert positive_accuracy(z1, z2) == pytest.approx(expected)
    assert expected < 1.0
    big1, big2 = _emb(n=500, d=64, seed=8)
    assert positive_accuracy(big1, big2) < 0.02  # chance is 1/999


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="equal shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(4, 3), torch.randn(4, 3), temperature=0.0)


# ------------------------------------------------------------------ distributed: 2 gloo processes
def _worker(rank: int, world: int, tmp: str, z1: torch.Tensor, z2: torch.Tensor) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/init", rank=rank, world_size=world)
    try:
        n = z1.shape[0] // world
        a1 = z1[rank * n:(rank + 1) * n].clone().requires_grad_()
        a2 = z2[rank * n:(rank + 1) * n].clone().requires_grad_()
        loss = nt_xent(a1, a2, 0.2, gather=True)
        loss.backward()
        acc = positive_accuracy(a1, a2, gather=True)
        torch.save((loss.detach(), a1.grad, a2.grad, acc), f"{tmp}/out{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process_on_global_batch():
    z1, z2 = _emb(n=8, d=6, seed=9, dtype=torch.float32)
    z2 = z2 + 2 * z1  # some alignment so that accuracy is not trivial
    g1, g2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    ref = nt_xent(g1, g2, 0.2)
    ref.backward()
    ref_acc = positive_accuracy(z1, z2)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        # fork: the children inherit the imported modules (spawn would re-import torch: ~10 s)
        mp.start_processes(_worker, args=(2, tmp, z1, z2), nprocs=2, join=True, start_method="fork")
        res = {r: torch.load(os.path.join(tmp, f"out{r}.pt")) for r in range(2)}
    losses = torch.stack([res[r][0] for r in range(2)])
    assert torch.allclose(losses.mean(), ref, atol=1e-6)  # mean of the per-process losses = global loss
    # each process's gradient on its own rows, averaged over processes as DDP does = global gradient
    grad1 = torch.cat([res[r][1] for r in range(2)]) / 2
    grad2 = torch.cat([res[r][2] for r in range(2)]) / 2
    assert torch.allclose(grad1, g1.grad, atol=1e-6) and torch.allclose(grad2, g2.grad, atol=1e-6)
    assert res[0][3] == pytest.approx(ref_acc) and res[1][3] == pytest.approx(ref_acc)
