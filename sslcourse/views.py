"""Views: batched, per-sample random augmentations on any device.

Lecture notation -> code words:
    g : x -> (x1, x2)   the random transformation that makes two views  -> ``TwoViews``
    one random draw of g's augmentations (one view)                      -> ``Augment``

Every image in a batch gets its *own* random parameters (crop box, flip, colour-jitter
factors, grayscale, blur sigma), exactly as a per-image torchvision pipeline inside a
DataLoader would, but the whole batch is transformed at once with tensor operations
(``affine_grid`` + ``grid_sample`` for crop, resize and flip; vectorised colour maths; a
grouped convolution for the blur). The same code runs on CPU and GPU, so a training loop
can keep the dataset on the GPU as ``uint8`` and never leave it.

The augmentations follow SimCLR (Chen et al., "A Simple Framework for Contrastive Learning
of Visual Representations", 2020, arXiv:2002.05709, appendix A) and torchvision's
definitions of each operation:

* random resized crop: area fraction ``s ~ U(scale)``, log aspect ratio ``~ U(log ratio)``,
  up to 10 attempts then a centre-crop fallback, integer crop size, uniform position
  (torchvision's ``RandomResizedCrop.get_params``), then a bilinear resize to ``size``;
* horizontal flip with probability ``flip_p``;
* colour jitter with probability ``jitter_p``: brightness ``b ~ U(1-0.4, 1+0.4)``, contrast,
  saturation (same form) and hue shift ``~ U(-0.1, 0.1)``. torchvision applies the four in a
  random order per call; here the order is **fixed** (brightness, contrast, saturation,
  hue), as in most GPU augmentation libraries, so the distribution of views differs slightly;
* random grayscale with probability ``grayscale_p`` (ITU-R 601 luma weights 0.299, 0.587,
  0.114 as in torchvision);
* Gaussian blur with probability ``blur_p`` (SimCLR uses it on ImageNet, not on CIFAR-10),
  sigma ``~ U(0.1, 2.0)``, kernel size about 10% of the image side, reflect padding.

Differences from torchvision worth knowing: the resize is a plain bilinear interpolation
(no antialiasing, which only matters when a crop is *shrunk*; on CIFAR-10 crops are
enlarged), and pixels at the crop border interpolate with their neighbours just outside
the crop instead of being clamped. Inputs may be ``uint8`` in [0, 255] or float in [0, 1];
outputs are float in [0, 1] (``float32`` for ``uint8`` input).

Randomness goes through an optional ``torch.Generator``: parameters are drawn on the
generator's device (the CPU by default) and moved to the images' device, so a seeded CPU
generator gives the same views on CPU and GPU.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from sslcourse.utils import to_float_images

__all__ = [
    "Augment", "TwoViews", "ViewConfig", "simclr_cifar_views", "simclr_imagenet_views",
    "sample_crop_boxes", "resized_crop", "adjust_brightness", "adjust_contrast",
    "adjust_saturation", "adjust_hue", "to_grayscale", "gaussian_blur", "rgb_to_hsv",
    "hsv_to_rgb", "LUMA_WEIGHTS", "Views", "views_of_batch",
]

#: ITU-R 601-2 luma weights used by torchvision's ``rgb_to_grayscale`` (and PIL's "L" mode).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


# ----------------------------------------------------------------------------- helpers
def _to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] images ``(B, C, H, W)`` -> float [0, 1]."""
    if x.ndim != 4:
        raise ValueError(f"views expect a batch of images (B, C, H, W), got shape {tuple(x.shape)}; "
                         "add a batch dimension with x[None] for a single image.")
    return to_float_images(x)


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None,
             device: torch.device) -> torch.Tensor:
    """``n`` draws of U(low, high) as float32 on ``device`` (the generator's device)."""
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def _bernoulli(n: int, p: float, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``n`` boolean draws that are True with probability ``p``."""
    return torch.rand(n, generator=generator, device=device) < p


def _per_sample(v: torch.Tensor) -> torch.Tensor:
    """``(B,)`` -> ``(B, 1, 1, 1)`` for broadcasting over images."""
    return v.view(-1, 1, 1, 1)


# ----------------------------------------------------------------------------- geometry
def sample_crop_boxes(n: int, height: int, width: int, scale: tuple[float, float] = (0.08, 1.0),
                      ratio: tuple[float, float] = (3 / 4, 4 / 3), *,
                      generator: torch.Generator | None = None,
                      device: torch.device | str | None = None, attempts: int = 10) -> torch.Tensor:
    """Random resized crop boxes, one per image, distributed as torchvision's ``get_params``.

    For every image, ``attempts`` candidate boxes are drawn at once (area fraction
    ``U(scale)``, log aspect ratio ``U(log ratio)``, integer width and height); the first one
    that fits inside the image wins; images where none fits get torchvision's fallback (the
    largest centred box whose aspect ratio is clamped into ``ratio``). The top-left corner is
    then uniform over the valid integer positions.

    Args:
        n: number of boxes B.
        height, width: image size H, W in pixels.
        scale: range of the crop area as a fraction of ``H * W``.
        ratio: range of the aspect ratio width / height (sampled log-uniformly).
        generator: optional random generator; its device is where the draws happen.
        device: where to draw when no generator is given (default: CPU).
        attempts: candidate boxes per image (torchvision: 10).

    Returns:
        ``(B, 4)`` float tensor of boxes ``(top i, left j, h, w)`` in pixels (integer-valued).
    """
    if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"need 0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1], got {scale}, {ratio}.")
    dev = generator.device if generator is not None else torch.device(device or "cpu")
    area = float(height * width)
    target = area * _uniform(n * attempts, scale[0], scale[1], generator, dev).view(n, attempts)
    log_r = _uniform(n * attempts, math.log(ratio[0]), math.log(ratio[1]), generator, dev)
    aspect = torch.exp(log_r).view(n, attempts)
    w = torch.round(torch.sqrt(target * aspect))  # (B, attempts)
    h = torch.round(torch.sqrt(target / aspect))  # (B, attempts)
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)  # (B, attempts)
    first = torch.argmax(ok.int(), dim=1, keepdim=True)  # index of the first valid attempt
    w = w.gather(1, first).squeeze(1)  # (B,)
    h = h.gather(1, first).squeeze(1)  # (B,)
    # torchvision's fallback: a centred crop with the aspect ratio clamped into `ratio`
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(height * ratio[1]), height
    else:
        fw, fh = width, height
    none_ok = ~ok.any(dim=1)
    w = torch.where(none_ok, torch.full_like(w, fw), w)
    h = torch.where(none_ok, torch.full_like(h, fh), h)
    # uniform integer position (fallback boxes are centred)
    u = torch.rand(n, 2, generator=generator, device=dev)
    i = torch.floor(u[:, 0] * (height - h + 1)).clamp_max(height - h)
    j = torch.floor(u[:, 1] * (width - w + 1)).clamp_max(width - w)
    i = torch.where(none_ok, torch.div(height - h, 2, rounding_mode="floor"), i)
    j = torch.where(none_ok, torch.div(width - w, 2, rounding_mode="floor"), j)
    return torch.stack([i, j, h, w], dim=1)  # (B, 4)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: int | tuple[int, int],
                 flip: torch.Tensor | None = None) -> torch.Tensor:
    """Crop a box out of every image, resize it to ``size`` and optionally mirror it, in one pass.

    One ``affine_grid`` + bilinear ``grid_sample`` over the batch: output pixel centres are
    mapped into each image's box (``align_corners=False`` conventions, as
    ``F.interpolate``), so an identity box with ``size == (H, W)`` returns the image itself.

    Args:
        x: images ``(B, C, H, W)``, uint8 or float.
        boxes: ``(B, 4)`` boxes ``(top, left, height, width)`` in pixels.
        size: output side (int) or ``(height, width)``.
        flip: optional ``(B,)`` bool; True mirrors that view left-right.

    Returns:
        float images ``(B, C, size_h, size_w)`` in [0, 1].
    """
    x = _to_float(x)
    b, c, height, width = x.shape
    oh, ow = (size, size) if isinstance(size, int) else size
    boxes = boxes.to(device=x.device, dtype=torch.float32)
    i, j, h, w = boxes.unbind(1)  # each (B,)
    sx = w / width  # half-width of the box in normalised [-1, 1] coordinates
    sy = h / height
    cx = (2 * j + w) / width - 1  # box centre in normalised coordinates
    cy = (2 * i + h) / height - 1
    if flip is not None:
        sx = torch.where(flip.to(x.device), -sx, sx)  # mirror: read the box right-to-left
    zero = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, sy, cy], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), [b, c, oh, ow], align_corners=False)  # (B, oh, ow, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)  # (B, C, oh, ow)


# ----------------------------------------------------------------------------- colour
def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma ``0.299 R + 0.587 G + 0.114 B`` of float images ``(B, 3, H, W)`` -> ``(B, 1, H, W)``."""
    wts = torch.tensor(LUMA_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * wts).sum(dim=1, keepdim=True)  # (B, 1, H, W)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * a + (1 - factor) * b`` clamped to [0, 1]; ``factor`` is ``(B,)``."""
    f = _per_sample(factor).to(a.dtype)
    return (f * a + (1 - f) * b).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Multiply each image by its factor ``(B,)``: 0 gives black, 1 the original."""
    return (x * _per_sample(factor).to(x.dtype)).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with the mean of its grayscale version (torchvision's definition)."""
    gray = to_grayscale(x) if x.shape[1] == 3 else x
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return _blend(x, mean, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each RGB image with its grayscale version: 0 gives gray, 1 the original."""
    if x.shape[1] != 3:
        return x
    return _blend(x, to_grayscale(x), factor)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` in [0, 1] -> HSV with hue in [0, 1) (torchvision's conventions)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(dim=1)  # (B, H, W)
    minc, _ = x.min(dim=1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(maxc == r, (g - b) / safe,  # the sector of the largest channel (ties: r, then g)
                    torch.where(maxc == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h = torch.where(delta > 0, torch.remainder(h / 6.0, 1.0), torch.zeros_like(h))
    s = delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    return torch.stack([h, s, maxc], dim=1)  # (B, 3, H, W)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """HSV ``(B, 3, H, W)`` (hue in [0, 1)) -> RGB in [0, 1].

    The closed form ``c_n = v - v s clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + 6h) mod 6`` and
    n = 5, 3, 1 for R, G, B: elementwise only (no per-sector lookup), so it is fast on any device.
    """
    h, s, v = x.unbind(1)
    h6 = (h * 6.0).unsqueeze(1)  # (B, 1, H, W)
    n = torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    k = torch.remainder(n + h6, 6.0)  # (B, 3, H, W)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    vs = (v * s).unsqueeze(1)
    return (v.unsqueeze(1) - vs * ramp).clamp_(0.0, 1.0)  # (B, 3, H, W)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each RGB image by ``shift`` ``(B,)`` (in turns, within [-0.5, 0.5])."""
    if x.shape[1] != 3:
        return x
    hsv = rgb_to_hsv(x)
    h = torch.remainder(hsv[:, 0] + shift.to(x.dtype).view(-1, 1, 1), 1.0)
    return hsv_to_rgb(torch.stack([h, hsv[:, 1], hsv[:, 2]], dim=1))


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Blur each image with its own Gaussian ``sigma`` ``(B,)``; separable, reflect padding.

    A grouped convolution runs all B*C channels at once, each with its image's kernel.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
    b, c, height, width = x.shape
    half = kernel_size // 2
    pos = torch.arange(kernel_size, device=x.device, dtype=x.dtype) - half  # (K,)
    k = torch.exp(-0.5 * (pos[None] / sigma.to(x)[:, None]) ** 2)  # (B, K)
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (B*C, K)
    y = x.reshape(1, b * c, height, width)
    y = F.pad(y, (half, half, half, half), mode="reflect")
    y = F.conv2d(y, k.view(b * c, 1, 1, kernel_size), groups=b * c)  # horizontal pass
    y = F.conv2d(y, k.view(b * c, 1, kernel_size, 1), groups=b * c)  # vertical pass
    return y.view(b, c, height, width)


# ----------------------------------------------------------------------------- pipeline
@dataclass
class ViewConfig:
    """Parameters of one augmentation pipeline (defaults: SimCLR's CIFAR-10 recipe).

    Attributes:
        size: output side in pixels (SimCLR CIFAR-10: 32; ImageNet: 224).
        scale: random-resized-crop area range (SimCLR: (0.08, 1.0)).
        ratio: random-resized-crop aspect-ratio range (SimCLR: (3/4, 4/3)).
        flip_p: probability of a horizontal flip (0.5).
        jitter_p: probability of applying colour jitter (SimCLR: 0.8).
        brightness, contrast, saturation, hue: jitter strengths (SimCLR, s=0.5 on CIFAR-10:
            0.4, 0.4, 0.4, 0.1; the paper's ImageNet strength s=1 gives 0.8, 0.8, 0.8, 0.2).
        grayscale_p: probability of converting to grayscale (0.2).
        blur_p: probability of a Gaussian blur (ImageNet 0.5; CIFAR-10 0, no blur).
        blur_sigma: sigma range of the blur ((0.1, 2.0)).
        blur_kernel_frac: kernel size as a fraction of the output side (0.1, rounded to odd).
    """

    size: int | tuple[int, int] = 32
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_frac: float = 0.1

    def __post_init__(self) -> None:
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability and must lie in [0, 1], got {p}.")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must lie in [0, 0.5], got {self.hue}.")


class Augment:
    """One random view per image: crop+resize+flip, colour jitter, grayscale, blur.

    Call it on a batch ``(B, C, H, W)`` (uint8 or float, any device); it returns float
    views ``(B, C, size, size)`` in [0, 1]. ``sample_params`` and ``apply`` split the two
    halves (draw the per-image parameters, then transform), which is handy for tests
    and figures.

    Args:
        config: a ``ViewConfig``; keyword arguments override its fields.

    Example:
        >>> aug = Augment(size=32)
        >>> v = aug(torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8))
        >>> v.shape
        torch.Size([8, 3, 32, 32])
    """

    def __init__(self, config: ViewConfig | None = None, **overrides) -> None:
        base = asdict(config) if config is not None else {}
        self.config = ViewConfig(**{**base, **overrides})

    def __repr__(self) -> str:
        return f"Augment({self.config})"

    def sample_params(self, n: int, height: int, width: int, *,
                      generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """Draw every image's parameters (on the generator's device, else ``device``).

        Returns a dict of ``(B,)`` tensors (``box`` is ``(B, 4)``): ``box``, ``flip``,
        ``jitter`` (was jitter applied), ``brightness``, ``contrast``, ``saturation``, ``hue``
        (identity values where jitter is off), ``grayscale``, ``blur``, ``sigma``.
        """
        cfg = self.config
        dev = generator.device if generator is not None else torch.device(device or "cpu")
        box = sample_crop_boxes(n, height, width, cfg.scale, cfg.ratio, generator=generator, device=dev)
        flip = _bernoulli(n, cfg.flip_p, generator, dev)
        jitter = _bernoulli(n, cfg.jitter_p, generator, dev)
        one = torch.ones(n, device=dev)

        def factor(strength: float) -> torch.Tensor:
            f = _uniform(n, max(0.0, 1 - strength), 1 + strength, generator, dev)
            return torch.where(jitter, f, one)

        brightness, contrast, saturation = factor(cfg.brightness), factor(cfg.contrast), factor(cfg.saturation)
        hue = torch.where(jitter, _uniform(n, -cfg.hue, cfg.hue, generator, dev), 0 * one)
        grayscale = _bernoulli(n, cfg.grayscale_p, generator, dev)
        blur = _bernoulli(n, cfg.blur_p, generator, dev)
        sigma = _uniform(n, cfg.blur_sigma[0], cfg.blur_sigma[1], generator, dev)
        return dict(box=box, flip=flip, jitter=jitter, brightness=brightness, contrast=contrast,
                    saturation=saturation, hue=hue, grayscale=grayscale, blur=blur, sigma=sigma)

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Transform images ``(B, C, H, W)`` with given per-image ``params`` -> float views."""
        # ### BEGIN SOLUTION
        cfg = self.config
        p = {k: v.to(x.device) for k, v in params.items()}
        y = resized_crop(x, p["box"], cfg.size, flip=p["flip"])  # (B, C, s, s), float in [0, 1]
        if cfg.jitter_p > 0:
            # fixed order: brightness, contrast, saturation, hue (torchvision: random order)
            y = adjust_brightness(y, p["brightness"])
            y = adjust_contrast(y, p["contrast"])
            y = adjust_saturation(y, p["saturation"])
            if cfg.hue > 0 and y.shape[1] == 3:
                y = torch.where(_per_sample(p["jitter"]), adjust_hue(y, p["hue"]), y)
        if cfg.grayscale_p > 0 and y.shape[1] == 3:
            y = torch.where(_per_sample(p["grayscale"]), to_grayscale(y).expand_as(y), y)
        if cfg.blur_p > 0:
            side = min(y.shape[-2:])
            k = max(3, int(round(cfg.blur_kernel_frac * side)) // 2 * 2 + 1)
            k = min(k, (side - 1) // 2 * 2 + 1)  # reflect padding needs k // 2 < side
            y = torch.where(_per_sample(p["blur"]), gaussian_blur(y, p["sigma"], k), y)
        return y
        # ### END SOLUTION

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One random view of every image in ``x`` ``(B, C, H, W)`` -> ``(B, C, size, size)``."""
        x = _to_float(x)
        params = self.sample_params(x.shape[0], x.shape[-2], x.shape[-1], generator=generator,
                                    device=x.device if generator is None else None)
        return self.apply(x, params)


class TwoViews:
    """The lecture's g: x -> (x1, x2): two independent random views of every image.

    Args:
        augment: the pipeline of the first view.
        augment2: the pipeline of the second view (default: the same as the first; BYOL
            uses two different ones, e.g. blur p=1.0 vs 0.1).

    Shape:
        ``(B, C, H, W)`` uint8/float -> two float tensors ``(B, C, size, size)``.
    """

    def __init__(self, augment: Augment | None = None, augment2: Augment | None = None) -> None:
        self.augment = augment if augment is not None else Augment()
        self.augment2 = augment2 if augment2 is not None else self.augment

    def __repr__(self) -> str:
        return f"TwoViews({self.augment!r}, {self.augment2!r})"

    def __call__(self, x: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # ### BEGIN SOLUTION
        return self.augment(x, generator), self.augment2(x, generator)
        # ### END SOLUTION


def simclr_cifar_views(size: int = 32, scale: tuple[float, float] = (0.08, 1.0)) -> TwoViews:
    """SimCLR's CIFAR-10 views: crop (0.08-1), flip, jitter 0.4/0.4/0.4/0.1 p=0.8, gray p=0.2, no blur."""
    return TwoViews(Augment(size=size, scale=scale, jitter_p=0.8, brightness=0.4, contrast=0.4,
                            saturation=0.4, hue=0.1, grayscale_p=0.2, blur_p=0.0))


def simclr_imagenet_views(size: int = 224) -> TwoViews:
    """SimCLR's ImageNet views: as CIFAR-10 with jitter strength 1 (0.8/0.8/0.8/0.2) and blur p=0.5."""
    return TwoViews(Augment(size=size, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2,
                            blur_p=0.5))


#: g: images -> (x1, x2), e.g. a ``TwoViews``
Views = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]


def views_of_batch(batch: Any, views: Views | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two views (x1, x2) of a batch, for every joint-embedding method (BYOL, SimSiam, VICReg, ...).

    A dict with keys ``"x1"`` and ``"x2"`` holds ready-made views and is used as it is. Otherwise,
    with ``views`` (g): the images are ``batch`` itself or ``batch[0]`` of an ``(images, labels)``
    pair, and g makes the two views; without ``views``, ``batch`` must be the pair ``(x1, x2)``.

    Shape:
        images ``(N, C, H, W)`` -> x1, x2 ``(N, C, H, W)`` floats.
    """
    if isinstance(batch, dict):
        if "x1" in batch and "x2" in batch:  # views made elsewhere (e.g. in a DataLoader)
            return batch["x1"], batch["x2"]
        images = batch.get("images", batch.get("x"))
        if images is None:
            raise ValueError(f"batch dict needs 'x1'/'x2' or 'images', got keys {sorted(batch)}.")
    elif isinstance(batch, (tuple, list)):
        if views is None:
            if len(batch) >= 2 and torch.is_tensor(batch[1]) and batch[1].shape == batch[0].shape:
                return batch[0], batch[1]
            raise ValueError(
                "without views the batch must be a pair of views (x1, x2); pass views=... "
                "(e.g. sslcourse.views) to make them from an (images, labels) batch."
            )
        images = batch[0]
    else:
        images = batch
    if views is None:
        raise ValueError("got a batch of images but no views; pass views=... (g: x -> (x1, x2)).")
    x1, x2 = views(images)
    return x1, x2
