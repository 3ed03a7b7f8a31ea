"""Colorization: g turns the image grey, f predicts the colours back.

Zhang, Isola and Efros, "Colorful Image Colorization", ECCV 2016 (arXiv:1603.08511).

    g: x -> (x_in, x_out) = (gray(x), ab(x))
    gray(x) = 0.299 R + 0.587 G + 0.114 B     (ITU-R BT.601 luma, the standard weights)
    ab(x)   = the two colour channels of CIELAB, quantised into a grid of bins (classes)
    f = head o f1 (a dense head on f1's feature map), loss = per-pixel cross-entropy

Why Lab and why classes (the choice this module makes):

* **Lab** splits lightness L from colour (a: green-red, b: blue-yellow). The input already holds
  the lightness, so the target should be *only* what is missing: the two chroma channels. In RGB
  every channel mixes lightness back in and the network could score well by copying its input.
* **Quantised classes, not regression.** Colour is ambiguous: a car can be red or blue. An L2
  regression of ab predicts the *mean* of the plausible colours, which is a desaturated
  grey-brown. Classifying over ab bins keeps the modes (the network can say "red or blue, not
  grey"), and the decoded image is taken as the annealed mean of the predicted distribution.
  Zhang et al. use 313 in-gamut bins of size 10 and re-weight rare colours; on small CPU images
  we use coarser bins (``bin_size=20``, 11 x 11 = 121 classes over a, b in [-110, 110]) and no
  re-weighting, and we predict ab at a quarter of the resolution (colour varies slowly; the
  full-resolution lightness restores the detail when the image is shown).

Downstream, the encoder is fed grayscale images too (``PixelEncoder(grayscale=True)``): that is
all it has ever seen.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.pretext.base import LUMA_WEIGHTS, PixelEncoder, images_from_batch, to_float_images

__all__ = ["rgb_to_gray", "rgb_to_lab", "lab_to_rgb", "quantize_ab", "ab_bin_centers", "colorization_pair",
           "Colorization", "AB_RANGE"]

AB_RANGE = 110.0  # a and b of sRGB colours lie within about [-86, 98] x [-108, 95]

# sRGB (D65) -> CIE XYZ, and the D65 reference white (the values scikit-image uses).
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
               (0.212671, 0.715160, 0.072169),
               (0.019334, 0.119193, 0.950227))
_WHITE = (0.95047, 1.0, 1.08883)


def rgb_to_gray(images: torch.Tensor) -> torch.Tensor:
    """Luma with the standard weights (0.299, 0.587, 0.114).

    Shape:
        ``(N, 3, H, W)`` uint8 or float in [0, 1] -> ``(N, 1, H, W)`` float in [0, 1].
    """
    x = to_float_images(images)
    if x.shape[1] != 3:
        raise ValueError(f"rgb_to_gray needs RGB images (N, 3, H, W), got {tuple(x.shape)}")
    # ### BEGIN SOLUTION
    w = torch.tensor(LUMA_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)  # (N, 1, H, W)
    # ### END SOLUTION


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIELAB (D65): L in [0, 100], a and b roughly in [-110, 110].

    Shape:
        ``(N, 3, H, W)`` -> ``(N, 3, H, W)`` (channels L, a, b).
    """
    x = to_float_images(images).clamp(0, 1)
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)  # undo the sRGB gamma
    m = torch.tensor(_RGB_TO_XYZ, device=x.device, dtype=x.dtype)
    xyz = torch.einsum("ij,njhw->nihw", m, lin)  # (N, 3, H, W)
    xyz = xyz / torch.tensor(_WHITE, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(1)
    lab = torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)  # (N, 3, H, W)
    return lab


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIELAB (D65) -> sRGB in [0, 1] (out-of-gamut colours are clipped); inverse of ``rgb_to_lab``."""
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=1)  # (N, 3, H, W)
    xyz = torch.where(f > 0.2068966, f ** 3, (f - 16 / 116) / 7.787)
    xyz = xyz * torch.tensor(_WHITE, device=lab.device, dtype=lab.dtype).view(1, 3, 1, 1)
    m_inv = torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, device=lab.device, dtype=torch.float64)).to(lab.dtype)
    lin = torch.einsum("ij,njhw->nihw", m_inv, xyz).clamp_min(0)
    rgb = torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055, 12.92 * lin)
    return rgb.clamp(0, 1)


def num_ab_bins(bin_size: float) -> int:
    """Bins per axis over [-AB_RANGE, AB_RANGE]; the number of classes is its square."""
    return int(torch.tensor(2 * AB_RANGE / bin_size).ceil().item())


def quantize_ab(ab: torch.Tensor, bin_size: float = 20.0) -> torch.Tensor:
    """Colour class of each pixel: the (a, b) bin on a square grid over [-110, 110]^2.

    class = i_a * n + i_b, with i = floor((value + 110) / bin_size) clipped to [0, n - 1] and
    n = ceil(220 / bin_size) bins per axis.

    Shape:
        ``(N, 2, H, W)`` -> ``(N, H, W)`` int64 in [0, n * n).
    """
    n = num_ab_bins(bin_size)
    # ### BEGIN SOLUTION
    idx = ((ab + AB_RANGE) / bin_size).floor().long().clamp(0, n - 1)  # (N, 2, H, W)
    return idx[:, 0] * n + idx[:, 1]  # (N, H, W)
    # ### END SOLUTION


def ab_bin_centers(bin_size: float = 20.0, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(a, b) at the centre of every class of ``quantize_ab``, shape ``(n * n, 2)``."""
    n = num_ab_bins(bin_size)
    c = -AB_RANGE + bin_size * (torch.arange(n, device=device, dtype=dtype) + 0.5)  # (n,)
    return torch.stack(torch.meshgrid(c, c, indexing="ij"), dim=-1).reshape(n * n, 2)


def colorization_pair(images: torch.Tensor, bin_size: float = 20.0) -> tuple[torch.Tensor, torch.Tensor]:
    """g for colorization: the grayscale input and the per-pixel colour class.

    Returns:
        ``x_in``: luma ``(N, 1, H, W)`` in [0, 1]; ``x_out``: ab classes ``(N, H, W)`` int64.
    """
    lab = rgb_to_lab(images)  # (N, 3, H, W)
    return rgb_to_gray(images), quantize_ab(lab[:, 1:], bin_size)


class Colorization(nn.Module):
    """f1 (on grayscale) + a dense head that classifies the ab bin of every pixel.

    The head reads f1's last feature map (stride s: 8 for SmallCNN), upsamples it twice and
    predicts at stride ``s / 2``; the target ab is average-pooled to the same resolution before
    it is quantised. ``forward(batch)`` returns ``{"loss", "acc"}`` (acc: pixels whose bin is right).

    A shortcut to close: where every shape has its own colour (the world colorization assumes),
    the grey level of a pixel alone nearly names its colour (the eight colours fall into six distinct grey levels),
    and f1 can score without looking at the shape. ``input_jitter = j`` changes the brightness and
    contrast of the input while training, ``x_in = clip(a x + b)`` with a ~ U(1 - j, 1 + j) and
    b ~ U(-j/2, j/2) per image, while the target stays the colours of the untouched x: then only
    the content says which colour it is (docs/benchmarks/pretext.md: 45.9% -> 53.5% linear probe).

    Args:
        encoder: f1, a ``PixelEncoder`` built with ``grayscale=True``.
        bin_size: ab bin width (Zhang et al.: 10; here 20 for 121 classes).
        hidden_dim: channels of the head.
        input_jitter: j above, in [0, 1); 0 (default) feeds the image as it is. Training only.
    """

    def __init__(self, encoder: PixelEncoder, bin_size: float = 20.0, hidden_dim: int = 64,
                 input_jitter: float = 0.0) -> None:
        super().__init__()
        if not encoder.grayscale:
            raise ValueError("colorization needs a grayscale encoder: build it with PixelEncoder(..., grayscale=True)")
        if not 0.0 <= input_jitter < 1.0:
            raise ValueError(f"input_jitter must be in [0, 1), got {input_jitter}")
        self.encoder = encoder
        self.bin_size = bin_size
        self.input_jitter = input_jitter
        self.num_classes = num_ab_bins(bin_size) ** 2
        d = self._map_channels(encoder)
        self.head = nn.Sequential(
            nn.Conv2d(d, hidden_dim, 3, padding=1, bias=False), nn.BatchNorm2d(hidden_dim), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, bias=False), nn.BatchNorm2d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_dim, self.num_classes, 1),
        )

    @staticmethod
    def _map_channels(encoder: PixelEncoder) -> int:
        with torch.no_grad():
            was = encoder.training
            encoder.eval()
            d = encoder.feature_map(torch.zeros(1, 3, 32, 32, device=next(encoder.parameters()).device)).shape[1]
            encoder.train(was)
        return d

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores at half the feature-map stride, ``(N, Q, H', W')``."""
        return self.head(self.encoder.feature_map(images))

    def _jittered(self, images: torch.Tensor) -> torch.Tensor:
        """``clip(a x + b)`` per image in training (``input_jitter``), else the images as they are."""
        j = self.input_jitter
        if not (self.training and j > 0):
            return images
        x = to_float_images(images)                                                  # (N, 3, H, W) in [0, 1]
        a = 1 + j * (2 * torch.rand(x.shape[0], 1, 1, 1, device=x.device) - 1)      # contrast
        b = j / 2 * (2 * torch.rand(x.shape[0], 1, 1, 1, device=x.device) - 1)      # brightness
        return (a * x + b).clamp(0, 1)

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        images = images_from_batch(batch)
        logits = self.logits(self._jittered(images))  # (N, Q, H', W'); the target below: the untouched colours
        lab = rgb_to_lab(images)
        ab = F.adaptive_avg_pool2d(lab[:, 1:], logits.shape[-2:])  # (N, 2, H', W')
        target = quantize_ab(ab, self.bin_size)  # (N, H', W')
        loss = F.cross_entropy(logits, target)
        acc = (logits.argmax(1) == target).float().mean().detach()
        return {"loss": loss, "acc": acc}

    @torch.no_grad()
    def colorize(self, images: torch.Tensor, temperature: float = 0.38) -> torch.Tensor:
        """Colour the grayscale version of ``images``: lightness from the input, ab predicted.

        The ab of each pixel is the annealed mean of the predicted distribution (Zhang et al.:
        softmax with temperature 0.38, between the mean (1) and the mode (-> 0)).

        Shape:
            ``(N, 3, H, W)`` (or ``(N, 1, H, W)`` gray) -> RGB ``(N, 3, H, W)`` in [0, 1].
        """
        x = to_float_images(images)
        gray = rgb_to_gray(x) if x.shape[1] == 3 else x  # (N, 1, H, W)
        probs = (self.logits(gray) / temperature).softmax(1)  # (N, Q, H', W')
        centers = ab_bin_centers(self.bin_size, device=x.device, dtype=x.dtype)  # (Q, 2)
        ab = torch.einsum("nqhw,qc->nchw", probs, centers)  # (N, 2, H', W')
        ab = F.interpolate(ab, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (N, 2, H, W)
        lightness = rgb_to_lab(gray.expand(-1, 3, -1, -1))[:, :1]  # (N, 1, H, W)
        return lab_to_rgb(torch.cat([lightness, ab], dim=1))
