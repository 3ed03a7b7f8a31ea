"""What every pretext task shares: images as floats, the pixel-level encoder f1, the batch format.

Lecture notation -> code words:
    x                       -> ``images``: a batch ``(N, C, H, W)``, uint8 in [0, 255] or float in [0, 1]
    f1 (the encoder)        -> ``PixelEncoder``: input scaling + a backbone from ``sslcourse.nn``
    g: x -> (x_in, x_out)   -> one function per task (``rotation_pairs``, ``colorization_pair``, ...)
    f: x_in -> x_out        -> f1 followed by a small task head (``RotationPrediction.head``, ...)

Only f1 is kept for downstream tasks; the head is thrown away, exactly like the projector f2 of
the joint-embedding methods later in the course.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sslcourse.nn import backbone
from sslcourse.utils import to_float_images as _to_float

__all__ = ["to_float_images", "images_from_batch", "PixelEncoder", "feature_map", "build_backbone"]

# ITU-R BT.601 luma weights: Y = 0.299 R + 0.587 G + 0.114 B (the classic "convert to grayscale").
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [0, 1]; float images are returned unchanged.

    Shape:
        ``(N, C, H, W)`` -> ``(N, C, H, W)``.
    """
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (N, C, H, W), got shape {tuple(images.shape)}")
    return _to_float(images)


def images_from_batch(batch: Any) -> torch.Tensor:
    """Take the images out of whatever a data loader yields and ignore labels (we are self-supervised).

    Accepts an image tensor, an ``(images, labels, ...)`` tuple/list, or a dict with key ``"images"``.
    """
    if isinstance(batch, torch.Tensor):
        images = batch
    elif isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        images = batch[0]
    elif isinstance(batch, dict) and "images" in batch:
        images = batch["images"]
    else:
        raise TypeError("a batch must be an image tensor, an (images, labels) pair or a dict with 'images'; "
                        f"got {type(batch).__name__}")
    return to_float_images(images)


def build_backbone(name: str = "small", width: int = 32, in_channels: int = 3) -> nn.Module:
    """The encoder architecture: ``"small"`` -> ``SmallCNN(width)``, ``"resnet18"`` -> ``resnet18_cifar()``.

    The names are those of the one registry, ``sslcourse.nn.BACKBONES``.
    """
    return backbone(name, in_channels=in_channels, width=width)


class PixelEncoder(nn.Module):
    """f1 as downstream code sees it: raw images in, one feature vector per image out.

    It scales pixels from [0, 1] to [-1, 1] and runs the backbone. With ``grayscale=True`` it first
    converts RGB to luma and repeats it on three channels: the colorization encoder only ever sees
    grayscale images, so it must see them downstream too (the backbone stays a 3-channel network,
    the same architecture as for every other task).

    Args:
        backbone: an encoder from ``sslcourse.nn`` with ``.out_dim``.
        grayscale: feed the luma image (3 identical channels) instead of colour.

    Shape:
        ``(N, 3, H, W)`` uint8 or float in [0, 1] -> ``(N, out_dim)``.
    """

    def __init__(self, backbone: nn.Module, grayscale: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.grayscale = grayscale
        self.out_dim: int = backbone.out_dim

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Pixels as the backbone sees them: (gray) and scaled to [-1, 1]."""
        x = to_float_images(images)
        if self.grayscale:
            if x.shape[1] == 3:
                w = torch.tensor(LUMA_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
                x = (x * w).sum(1, keepdim=True)  # (N, 1, H, W)
            x = x.expand(-1, 3, -1, -1)  # (N, 3, H, W), three equal channels
        return x * 2.0 - 1.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.prepare(images))  # (N, out_dim)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """The backbone's last spatial feature map (before global pooling), for dense heads."""
        return feature_map(self.backbone, self.prepare(images))


def feature_map(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``backbone`` up to (not including) its global pooling.

    Works for ``SmallCNN`` (``.features``) and torchvision ResNets (``conv1 ... layer4``).

    Shape:
        ``(N, C, H, W)`` -> ``(N, D, H', W')``.
    """
    if hasattr(backbone, "features") and isinstance(backbone.features, nn.Module):
        return backbone.features(x)
    if hasattr(backbone, "layer4"):
        b = backbone
        h = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        return b.layer4(b.layer3(b.layer2(b.layer1(h))))
    raise TypeError(f"cannot take a spatial feature map from {type(backbone).__name__}; "
                    "use SmallCNN or a torchvision ResNet")
