"""Tests of sslcourse.views: per-image parameter distributions against torchvision's per-image
transforms, each operation against torchvision's functional op, identities and invariances."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.v2.functional as TF
from scipy import stats

from sslcourse import views as V

N = 6_000  # draws for the distribution tests


def _tv_boxes(n: int, height: int, width: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> torch.Tensor:
    torch.manual_seed(123)
    img = torch.empty(3, height, width)
    return torch.tensor([T.RandomResizedCrop.get_params(img, scale, ratio) for _ in range(n)], dtype=torch.float)


def _binomial_ok(hits: torch.Tensor, p: float) -> bool:
    n = hits.numel()
    return abs(hits.float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.mark.parametrize("hw", [(32, 32), (24, 40), (10, 60)])
def test_crop_boxes_match_torchvision_distribution(hw):
    h, w = hw
    ours = V.sample_crop_boxes(N, h, w, generator=torch.Generator().manual_seed(0))
    ref = _tv_boxes(N, h, w)
    assert ours.shape == (N, 4)
    # every box lies inside the image and has integer size
    assert (ours[:, 0] >= 0).all() and (ours[:, 1] >= 0).all()
    assert (ours[:, 0] + ours[:, 2] <= h).all() and (ours[:, 1] + ours[:, 3] <= w).all()
    assert torch.equal(ours, ours.round())
    for name, f in [("area", lambda b: b[:, 2] * b[:, 3] / (h * w)),
                    ("log aspect", lambda b: torch.log(b[:, 3] / b[:, 2])),
                    ("centre y", lambda b: (b[:, 0] + b[:, 2] / 2) / h),
                    ("centre x", lambda b: (b[:, 1] + b[:, 3] / 2) / w)]:
        p = stats.ks_2samp(f(ours).numpy(), f(ref).numpy()).pvalue
        assert p > 1e-4, f"{name} distribution differs from torchvision (KS p={p:.2e})"


def test_crop_fallback_is_torchvision_centre_crop():
    # a 1x1-area scale on a very wide image never fits: always the centred fallback
    ours = V.sample_crop_boxes(50, 10, 60, scale=(1.0, 1.0), generator=torch.Generator().manual_seed(0))
    ref = _tv_boxes(50, 10, 60, scale=(1.0, 1.0))
    assert torch.equal(ours, ref)


def test_bernoulli_rates_and_jitter_factor_ranges():
    aug = V.Augment(V.ViewConfig())
    p = aug.sample_params(N, 32, 32, generator=torch.Generator().manual_seed(1))
    assert _binomial_ok(p["flip"], 0.5)
    assert _binomial_ok(p["jitter"], 0.8)
    assert _binomial_ok(p["grayscale"], 0.2)
    assert not p["blur"].any()  # blur_p = 0 on CIFAR
    on, off = p["jitter"], ~p["jitter"]
    for name, lo, hi in [("brightness", 0.6, 1.4), ("contrast", 0.6, 1.4), ("saturation", 0.6, 1.4),
                         ("hue", -0.1, 0.1)]:
        v = p[name][on]
        assert v.min() >= lo and v.max() <= hi, name
        # uniform over the whole range, as torchvision's ColorJitter
        assert stats.kstest(v.numpy(), "uniform", args=(lo, hi - lo)).pvalue > 1e-4, name
        identity = 0.0 if name == "hue" else 1.0
        assert torch.all(p[name][off] == identity), name
    # independent draws: the flip of an image tells nothing about its grayscale
    both = (p["flip"] & p["grayscale"]).float().mean().item()
    assert abs(both - 0.1) < 5 * math.sqrt(0.1 * 0.9 / N)


def test_colour_jitter_factors_are_distributed_as_torchvisions():
    """Our per-image jitter factors against torchvision's ColorJitter draws (two-sample KS)."""
    aug = V.Augment(V.ViewConfig(jitter_p=1.0, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1))
    ours = aug.sample_params(N, 32, 32, generator=torch.Generator().manual_seed(5))
    cj = T.ColorJitter(0.4, 0.4, 0.4, 0.1)
    torch.manual_seed(0)
    theirs = [cj.get_params(cj.brightness, cj.contrast, cj.saturation, cj.hue)[1:] for _ in range(N)]
    for k, name in enumerate(["brightness", "contrast", "saturation", "hue"]):
        p = stats.ks_2samp(ours[name].numpy(), [float(d[k]) for d in theirs]).pvalue
        assert p > 1e-4, f"{name} factors differ from torchvision's ColorJitter (KS p={p:.2e})"


@pytest.mark.parametrize("op,tv", [
    (V.adjust_brightness, TF.adjust_brightness),
    (V.adjust_contrast, TF.adjust_contrast),
    (V.adjust_saturation, TF.adjust_saturation),
])
def test_colour_ops_match_torchvision(op, tv):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(6, 3, 11, 13, generator=g)
    f = torch.rand(6, generator=g) * 1.5 + 0.2
    ref = torch.stack([tv(x[i], f[i].item()) for i in range(6)])
    assert torch.allclose(op(x, f), ref, atol=3e-4)  # torchvision's gray uses 0.2989 vs our 0.299


def test_hue_matches_torchvision_and_hsv_round_trip():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(6, 3, 9, 9, generator=g)
    shift = torch.rand(6, generator=g) - 0.5
    ref = torch.stack([TF.adjust_hue(x[i], shift[i].item()) for i in range(6)])
    assert torch.allclose(V.adjust_hue(x, shift), ref, atol=1e-5)
    assert torch.allclose(V.hsv_to_rgb(V.rgb_to_hsv(x)), x, atol=1e-5)


def test_grayscale_uses_standard_luma_weights():
    red, green, blue = torch.eye(3).view(3, 3, 1, 1).expand(3, 3, 4, 4)
    gray = V.to_grayscale(torch.stack([red, green, blue]))
    assert torch.allclose(gray[:, 0, 0, 0], torch.tensor([0.299, 0.587, 0.114]))
    x = torch.rand(2, 3, 5, 5)
    assert torch.allclose(V.to_grayscale(x), TF.rgb_to_grayscale(x), atol=3e-4)


def test_blur_matches_torchvision():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(4, 3, 16, 16, generator=g)
    sigma = torch.rand(4, generator=g) * 1.9 + 0.1
    ref = torch.stack([TF.gaussian_blur(x[i], [5, 5], [sigma[i].item()] * 2) for i in range(4)])
    assert torch.allclose(V.gaussian_blur(x, sigma, 5), ref, atol=1e-5)


def _identity_params(aug: V.Augment, b: int, h: int, w: int) -> dict:
    p = aug.sample_params(b, h, w, generator=torch.Generator().manual_seed(0))
    p["box"][:] = torch.tensor([0.0, 0.0, h, w])
    p["flip"][:] = False
    for k in ("brightness", "contrast", "saturation"):
        p[k][:] = 1.0
    p["hue"][:] = 0.0
    p["grayscale"][:] = False
    p["blur"][:] = False
    return p


def test_identity_parameters_give_identity_images():
    aug = V.Augment(size=32, blur_p=0.5)
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    p = _identity_params(aug, 5, 32, 32)
    y = aug.apply(x, p)
    assert y.dtype == torch.float32
    assert torch.equal((y * 255).round().to(torch.uint8), x)
    p["flip"][:] = True
    assert torch.equal((aug.apply(x, p) * 255).round().to(torch.uint8), x.flip(-1))


def test_crop_without_resize_is_slicing_and_grayscale_applies():
    x = torch.rand(3, 3, 32, 32)
    box = torch.tensor([[2.0, 5.0, 16.0, 16.0], [0.0, 0.0, 16.0, 16.0], [16.0, 16.0, 16.0, 16.0]])
    y = V.resized_crop(x, box, 16)
    ref = torch.stack([x[0, :, 2:18, 5:21], x[1, :, :16, :16], x[2, :, 16:, 16:]])
    assert torch.allclose(y, ref, atol=1e-6)
    aug = V.Augment(size=32)
    p = _identity_params(aug, 3, 32, 32)
    p["grayscale"][:] = torch.tensor([True, False, True])
    y = aug.apply(x, p)
    g = V.to_grayscale(x)
    assert torch.allclose(y[0], g[0].expand(3, -1, -1), atol=1e-6)
    assert torch.allclose(y[1], x[1], atol=1e-6)


def test_uint8_and_float_inputs_agree_and_seed_controls_views():
    x8 = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    g = V.simclr_cifar_views()
    a1, a2 = g(x8, torch.Generator().manual_seed(7))
    b1, b2 = g(x8.float() / 255, torch.Generator().manual_seed(7))
    assert torch.allclose(a1, b1, atol=1e-6) and torch.allclose(a2, b2, atol=1e-6)
    c1, _ = g(x8, torch.Generator().manual_seed(8))
    assert not torch.allclose(a1, c1)
    assert not torch.allclose(a1, a2)  # the two views differ
    assert a1.shape == (8, 3, 32, 32) and 0 <= a1.min() and a1.max() <= 1


def test_other_sizes_channels_and_blur():
    x = torch.rand(4, 1, 8, 8)  # digits-like
    y = V.Augment(size=8, blur_p=1.0)(x, torch.Generator().manual_seed(0))
    assert y.shape == (4, 1, 8, 8) and torch.isfinite(y).all()
    x = torch.full((2, 3, 40, 40), 0.3)
    y = V.simclr_imagenet_views(size=24).augment(x, torch.Generator().manual_seed(0))
    assert y.shape == (2, 3, 24, 24)
    # constant images stay constant under crop, flip, blur (up to brightness/contrast factors)
    assert (y.amax(dim=(1, 2, 3)) - y.amin(dim=(1, 2, 3)) < 1e-5).all()


def test_bad_input_raises_clear_error():
    with pytest.raises(ValueError, match="batch of images"):
        V.Augment()(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="probability"):
        V.ViewConfig(flip_p=1.5)
