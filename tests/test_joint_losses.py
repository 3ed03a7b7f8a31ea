"""Joint-embedding losses (topic 04) against independent computations and their properties."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sslcourse.losses.joint import byol, covariance_term, invariance, invariance_term, variance_term, vicreg


def _rand(*shape: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


# --- independent reference: the official facebookresearch/vicreg code (main_vicreg.py, VICReg.forward) ---
def _off_diagonal(x: torch.Tensor) -> torch.Tensor:
    n, m = x.shape
    assert n == m
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def _official_vicreg(x, y, sim_coeff=25.0, std_coeff=25.0, cov_coeff=1.0):
    batch_size, num_features = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (batch_size - 1)
    cov_y = (y.T @ y) / (batch_size - 1)
    cov_loss = _off_diagonal(cov_x).pow_(2).sum().div(num_features) + _off_diagonal(cov_y).pow_(2).sum().div(
        num_features
    )
    loss = sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss
    return loss, repr_loss, std_loss, cov_loss


@pytest.mark.parametrize("n,d,scale", [(8, 4, 1.0), (64, 32, 0.3), (33, 7, 2.0)])
def test_vicreg_matches_official_code(n, d, scale):
    z1, z2 = scale * _rand(n, d, seed=1), scale * _rand(n, d, seed=2)
    loss, repr_loss, std_loss, cov_loss = _official_vicreg(z1, z2)
    torch.testing.assert_close(vicreg(z1, z2), loss)
    torch.testing.assert_close(invariance_term(z1, z2), repr_loss)
    torch.testing.assert_close((variance_term(z1) + variance_term(z2)) / 2, std_loss)
    torch.testing.assert_close(covariance_term(z1) + covariance_term(z2), cov_loss)
    # the weights are the three coefficients
    l2, r2, s2, c2 = _official_vicreg(z1, z2, 1.0, 2.0, 3.0)
    torch.testing.assert_close(vicreg(z1, z2, sim=1.0, var=2.0, cov=3.0), l2)


def test_vicreg_gradients_match_official_code():
    a, b = _rand(16, 8, seed=3).requires_grad_(), _rand(16, 8, seed=4).requires_grad_()
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    vicreg(a, b).backward()
    _official_vicreg(a2, b2)[0].backward()
    torch.testing.assert_close(a.grad, a2.grad)
    torch.testing.assert_close(b.grad, b2.grad)


def test_variance_term_hand_computed():
    # column 0: values (0, 2) -> unbiased var 2 -> std sqrt(2 + eps) > 1 -> hinge 0
    # column 1: values (0, 1) -> unbiased var 0.5 -> std sqrt(0.5) -> hinge 1 - sqrt(0.5)
    z = torch.tensor([[0.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
    expected = (0.0 + (1 - math.sqrt(0.5))) / 2
    assert variance_term(z, eps=0.0).item() == pytest.approx(expected, abs=1e-12)
    assert variance_term(z, gamma=2.0, eps=0.0).item() == pytest.approx(
        ((2 - math.sqrt(2)) + (2 - math.sqrt(0.5))) / 2, abs=1e-12)


def test_covariance_term_hand_computed_and_decorrelated():
    # perfectly correlated columns: cov = [[v, v], [v, v]], off-diagonal squares 2 v^2, / d=2 -> v^2
    x = _rand(10, 1, seed=5)
    z = torch.cat([x, x], dim=1)
    v = x.var()
    torch.testing.assert_close(covariance_term(z), v ** 2)
    # whitened data (identity covariance) -> zero covariance term
    zc = _rand(40, 6, seed=6)
    zc = zc - zc.mean(0)
    chol = torch.linalg.cholesky(zc.T @ zc / (40 - 1))
    z_white = zc @ torch.linalg.inv(chol).T  # (40, 6), covariance exactly I
    assert covariance_term(z_white).item() == pytest.approx(0.0, abs=1e-10)
    assert variance_term(z_white, eps=0.0).item() == pytest.approx(0.0, abs=1e-10)  # std exactly 1


def test_identical_embeddings_give_zero_invariance_and_unit_variance_term():
    row = _rand(1, 16, seed=7)
    z = row.expand(32, 16).clone()  # a collapsed batch: every embedding the same
    assert invariance_term(z, z).item() == 0.0
    assert invariance(z, z).item() == pytest.approx(0.0, abs=1e-12)
    assert byol(z, z).item() == pytest.approx(0.0, abs=1e-12)
    assert variance_term(z, eps=0.0).item() == pytest.approx(1.0, abs=1e-12)
    assert variance_term(z).item() == pytest.approx(1 - math.sqrt(1e-4), abs=1e-9)  # eps floor: 0.99
    assert covariance_term(z).item() == pytest.approx(0.0, abs=1e-12)
    # so VICReg's loss on a collapsed batch is 25 * 0.99 and its gradient is finite
    z_req = z.clone().requires_grad_()
    loss = vicreg(z_req, z_req)
    assert loss.item() == pytest.approx(25 * 0.99, rel=1e-6)
    loss.backward()
    assert torch.isfinite(z_req.grad).all()


def test_byol_matches_normalized_squared_distance():
    p, z = _rand(20, 12, seed=8), _rand(20, 12, seed=9)
    pn, zn = p / p.norm(dim=1, keepdim=True), z / z.norm(dim=1, keepdim=True)
    expected = ((pn - zn) ** 2).sum(dim=1).mean()
    torch.testing.assert_close(byol(p, z), expected)
    # explicit 2 - 2 cos with a hand-written dot product
    cos = (p * z).sum(1) / (p.norm(dim=1) * z.norm(dim=1))
    torch.testing.assert_close(byol(p, z), (2 - 2 * cos).mean())


def test_byol_limits_and_scale_invariance():
    p = _rand(10, 6, seed=10)
    assert byol(p, 3.0 * p).item() == pytest.approx(0.0, abs=1e-12)
    assert byol(p, -p).item() == pytest.approx(4.0, abs=1e-12)
    z = _rand(10, 6, seed=11)
    torch.testing.assert_close(byol(2.5 * p, 0.1 * z), byol(p, z))


@pytest.mark.parametrize("fn", [byol, invariance, invariance_term, vicreg])
def test_symmetry(fn):
    a, b = _rand(24, 10, seed=12), _rand(24, 10, seed=13)
    torch.testing.assert_close(fn(a, b), fn(b, a))


def test_invariance_is_byol_without_predictor():
    a, b = _rand(24, 10, seed=14), _rand(24, 10, seed=15)
    torch.testing.assert_close(invariance(a, b), byol(a, b))


def test_losses_keep_dtype_and_device():
    for dtype in (torch.float32, torch.float64):
        a, b = _rand(8, 4, seed=16, dtype=dtype), _rand(8, 4, seed=17, dtype=dtype)
        for out in (byol(a, b), invariance(a, b), vicreg(a, b), variance_term(a), covariance_term(a)):
            assert out.dtype == dtype and out.ndim == 0 and out.device == a.device


def test_stop_gradient_is_callers_job():
    p = _rand(8, 4, seed=18).requires_grad_()
    z = _rand(8, 4, seed=19).requires_grad_()
    byol(p, z.detach()).backward()
    assert p.grad is not None and z.grad is None


def test_clear_errors_on_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        byol(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        vicreg(torch.zeros(4, 3, 2), torch.zeros(4, 3, 2))
    with pytest.raises(ValueError, match="at least 2"):
        variance_term(torch.zeros(1, 3))
