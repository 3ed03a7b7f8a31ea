"""Neural-network building blocks shared by every method: encoders and MLP heads.

Lecture notation -> code words:
    f1 (the encoder, kept for downstream tasks)  -> ``SmallCNN`` / ``resnet18_cifar()``
    f2 (the projector, thrown away afterwards)   -> ``MLP(...)``
    q  (BYOL's predictor)                        -> ``MLP(...)`` as well

Every encoder maps images ``(N, C, H, W)`` to features ``(N, out_dim)`` and exposes
``.out_dim`` so that heads can be sized without running a forward pass. ``Standardized(encoder)``
(``backbone(..., standardize=True)``) gives an encoder each image standardised by its own mean and std.
"""
from __future__ import annotations

import torch
from torch import nn

from sslcourse.utils import to_float_images

__all__ = ["SmallCNN", "resnet18_cifar", "Standardized", "MLP", "BACKBONES", "backbone"]


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution -> BatchNorm -> ReLU (the bias is redundant before BatchNorm)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A small convolutional encoder that trains in seconds on a CPU.

    Four conv-BN-ReLU blocks (widths w, 2w, 4w, 4w; the last three with stride 2) and a
    global average pool. Works on any image size (the 8x8 digits become 1x1 after the three
    stride-2 blocks, 32x32 CIFAR images 4x4).

    Args:
        in_channels: image channels C (3 for RGB, 1 for grayscale).
        width: w, the channel count of the first block.

    Shape:
        input ``(N, C, H, W)`` -> output ``(N, out_dim)`` with ``out_dim = 4 * width``.
    """

    def __init__(self, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn_relu(in_channels, w),
            _conv_bn_relu(w, 2 * w, stride=2),
            _conv_bn_relu(2 * w, 4 * w, stride=2),
            _conv_bn_relu(4 * w, 4 * w, stride=2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.in_channels = in_channels
        self.out_dim = 4 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SmallCNN expects images (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}; "
                f"build it with SmallCNN(in_channels={x.shape[1] if x.ndim == 4 else '?'})."
            )
        h = self.features(x)  # (N, 4w, H/8, W/8)
        return self.pool(h).flatten(1)  # (N, 4w)


class Standardized(nn.Module):
    """An encoder that sees each image minus its own mean, divided by its own std (over C, H, W).

    f1(x) = encoder((x - mean(x)) / (std(x) + eps)): the image's overall brightness and contrast
    are gone before the first layer, so f1(a x + b) = f1(x) for any a > 0 and b.
    Why: BYOL and SimSiam bootstrap from what their random target already sees, and a random
    network's features are ruled by such global statistics; on the shapes world, without this,
    they settle on how light the background is and never find the shape
    (docs/benchmarks/pretrained.md). TensorFlow calls it ``per_image_standardization``.

    Args:
        encoder: any encoder with ``.out_dim``; its input is the standardised image.
        eps: added to the std, so that a flat image maps to zeros.

    Shape:
        images ``(N, C, H, W)``, uint8 or float -> features ``(N, out_dim)``.
    """

    def __init__(self, encoder: nn.Module, eps: float = 1e-3) -> None:
        super().__init__()
        self.encoder, self.eps = encoder, eps
        self.out_dim = encoder.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float_images(x)                                                  # (N, C, H, W) in [0, 1]
        mean, std = x.mean((1, 2, 3), keepdim=True), x.std((1, 2, 3), keepdim=True)  # (N, 1, 1, 1) each
        return self.encoder((x - mean) / (std + self.eps))                      # (N, out_dim)


def resnet18_cifar(in_channels: int = 3) -> nn.Module:
    """ResNet-18 with the CIFAR stem, as used for SimCLR on 32x32 images.

    He et al., "Deep Residual Learning for Image Recognition", 2016 (arXiv:1512.03385).
    The CIFAR stem follows SimCLR (Chen et al. 2020, arXiv:2002.05709, appendix B.9): the
    7x7 stride-2 first convolution becomes 3x3 stride 1 and the max-pool is removed, so a
    32x32 image keeps its resolution through the stem. The classifier ``fc`` is replaced by
    the identity: the model returns the 512-d pooled features (``.out_dim = 512``).

    Shape:
        input ``(N, in_channels, H, W)`` -> output ``(N, 512)``.
    """
    import torchvision  # imported lazily: the small CPU demos never need it

    model = torchvision.models.resnet18(weights=None)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    model.fc = nn.Identity()
    model.out_dim = 512
    return model


class MLP(nn.Module):
    """A multi-layer perceptron head: the projector f2 or BYOL's predictor q.

    ``num_layers`` linear layers; every hidden layer is Linear -> (BatchNorm1d) -> ReLU, the
    last one is a plain Linear, optionally followed by a BatchNorm1d without affine
    parameters (``last_bn=True``, as in SimSiam's projector). SimCLR: 2 layers, hidden 2048,
    out 128 on ResNet-50 (hidden 512 for ResNet-18 in common reproductions).

    Args:
        in_dim: input features (the encoder's ``out_dim``).
        hidden_dim: width of the hidden layers.
        out_dim: output features (the embedding z).
        num_layers: number of Linear layers (>= 1; 1 means a single Linear).
        batch_norm: BatchNorm1d after each hidden Linear.
        last_bn: BatchNorm1d (affine=False) after the last Linear.

    Shape:
        ``(N, in_dim)`` -> ``(N, out_dim)``.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2,
                 batch_norm: bool = True, last_bn: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MLP needs num_layers >= 1, got {num_layers}.")
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(d, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            d = hidden_dim
        layers.append(nn.Linear(d, out_dim))
        if last_bn:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, out_dim)


# One name per network: every command, recipe and checkpoint config says "small" or "resnet18".
BACKBONES = {"small": "SmallCNN(in_channels, width): four conv blocks, out_dim = 4 * width",
             "resnet18": "resnet18_cifar(in_channels): ResNet-18 with the CIFAR stem, out_dim = 512"}


def backbone(name: str, in_channels: int = 3, width: int = 32, standardize: bool = False) -> nn.Module:
    """The encoder network called ``name`` (see ``BACKBONES``); ``width`` sizes SmallCNN only;
    ``standardize`` wraps it in ``Standardized`` (each image by its own mean and std).

    Shape:
        images ``(N, in_channels, H, W)`` -> features ``(N, out_dim)``.
    """
    if name == "small":
        encoder = SmallCNN(in_channels=in_channels, width=width)
    elif name == "resnet18":
        encoder = resnet18_cifar(in_channels=in_channels)
    else:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}.")
    return Standardized(encoder) if standardize else encoder
