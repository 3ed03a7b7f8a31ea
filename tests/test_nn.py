"""Tests for sslcourse.nn: encoder shapes, the CIFAR stem of ResNet-18, MLP heads."""
import pytest
import torch
from torch import nn

from sslcourse.nn import MLP, SmallCNN, resnet18_cifar


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("in_channels,size", [(1, 8), (3, 32), (3, 13)])
def test_small_cnn_shapes(in_channels, size):
    torch.manual_seed(0)
    enc = SmallCNN(in_channels=in_channels, width=8)
    out = enc(torch.randn(5, in_channels, size, size))
    assert out.shape == (5, enc.out_dim) == (5, 32)
    assert torch.isfinite(out).all()


def test_small_cnn_rejects_bad_input():
    enc = SmallCNN(in_channels=3, width=8)
    with pytest.raises(ValueError, match="in_channels=1"):
        enc(torch.randn(2, 1, 16, 16))


def test_resnet18_cifar_stem_and_params():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = resnet18_cifar()
    assert model.out_dim == 512
    x = torch.randn(2, 3, 32, 32)
    # the CIFAR stem keeps the 32x32 resolution after conv1 (and there is no max-pool)
    assert model.conv1(x).shape == (2, 64, 32, 32)
    assert isinstance(model.maxpool, nn.Identity)
    assert model.maxpool(model.relu(model.bn1(model.conv1(x)))).shape == (2, 64, 32, 32)
    assert model(x).shape == (2, 512)
    # parameter count = torchvision's resnet18 - the ImageNet stem (7x7) + the CIFAR stem (3x3) - fc
    ref = torchvision.models.resnet18(weights=None)
    expected = _n_params(ref) - 64 * 3 * 7 * 7 + 64 * 3 * 3 * 3 - (512 * 1000 + 1000)
    assert _n_params(model) == expected == 11_168_832


def test_mlp_shapes_and_structure():
    torch.manual_seed(0)
    head = MLP(16, 32, 8)
    assert head(torch.randn(4, 16)).shape == (4, 8)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(16, 32), (32, 8)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in head.modules()) == 1
    deep = MLP(16, 32, 8, num_layers=3, batch_norm=False, last_bn=True)
    assert [(l.in_features, l.out_features) for l in deep.modules() if isinstance(l, nn.Linear)] == [
        (16, 32), (32, 32), (32, 8)]
    bns = [m for m in deep.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(bns) == 1 and not bns[0].affine  # only the last, affine-free BatchNorm
    assert _n_params(MLP(16, 32, 8, num_layers=1)) == 16 * 8 + 8
    with pytest.raises(ValueError):
        MLP(16, 32, 8, num_layers=0)


def test_backbone_registry_builds_each_named_network_and_rejects_others():
    from sslcourse.nn import BACKBONES, SmallCNN, backbone

    small = backbone("small", in_channels=1, width=8)
    assert isinstance(small, SmallCNN) and small.out_dim == 32
    assert small(torch.zeros(2, 1, 8, 8)).shape == (2, 32)
    assert set(BACKBONES) == {"small", "resnet18"}
    with pytest.raises(ValueError, match="unknown backbone 'cnn'.*resnet18.*small"):
        backbone("cnn")


def test_standardized_sees_each_image_by_its_own_mean_and_std():
    import numpy as np

    from sslcourse.nn import Standardized, backbone

    torch.manual_seed(0)
    inner = SmallCNN(in_channels=3, width=4).eval()
    enc = Standardized(inner, eps=0.0).eval()
    x = torch.rand(6, 3, 16, 16)
    # reference: numpy's mean and sample std of each image over (C, H, W)
    ref = np.stack([(im - im.mean()) / im.std(ddof=1) for im in x.numpy()])
    torch.testing.assert_close(enc(x), inner(torch.from_numpy(ref)), atol=1e-5, rtol=1e-5)
    # so a brightness and contrast change of a whole image (a > 0) leaves its features unchanged ...
    a, b = torch.tensor([0.3, 0.5, 0.7, 0.9, 1.0, 0.4]).view(6, 1, 1, 1), torch.linspace(-0.2, 0.3, 6).view(6, 1, 1, 1)
    torch.testing.assert_close(enc(a * x + b), enc(x), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(inner(a * x + b), inner(x), atol=1e-3)  # ... where the bare encoder's features change
    # uint8 images are read as [0, 255] pixels; a flat image gives finite features (eps)
    pixels = (x * 255).round()
    torch.testing.assert_close(enc(pixels.to(torch.uint8)), enc(pixels / 255), atol=1e-5, rtol=1e-5)
    assert torch.isfinite(Standardized(inner)(torch.full((2, 3, 16, 16), 0.5))).all()
    wrapped = backbone("small", width=4, standardize=True)
    assert isinstance(wrapped, Standardized) and isinstance(wrapped.encoder, SmallCNN) and wrapped.out_dim == 16
