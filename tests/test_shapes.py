"""The generated captioned shapes world: determinism, label/caption consistency, held-out pairs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sslcourse.data.shapes import (
    COLOUR_RGB, COLOURS, HELDOUT_COMBOS, SHAPES, SIZES, is_heldout, load_shapes, make_captioned_shapes,
)


@pytest.fixture(scope="module")
def world():
    return make_captioned_shapes(1500, seed=3)


def test_shapes_and_dtypes(world):
    assert world.images.shape == (1500, 3, 32, 32) and world.images.dtype == torch.uint8
    assert len(world.captions) == 1500
    for a in (world.shape, world.colour, world.size, world.background, world.texture):
        assert a.shape == (1500,) and a.dtype == torch.int64
    assert set(world.shape.tolist()) == set(range(len(SHAPES)))
    assert set(world.colour.tolist()) == set(range(len(COLOURS)))
    assert (world.background != world.colour).all()  # the shape never vanishes into its background
    big = make_captioned_shapes(8, seed=0, image_size=48)
    assert big.images.shape == (8, 3, 48, 48)


def test_deterministic_per_seed_and_split():
    a, b = make_captioned_shapes(64, seed=5), make_captioned_shapes(64, seed=5)
    assert torch.equal(a.images, b.images) and a.captions == b.captions and torch.equal(a.shape, b.shape)
    c = make_captioned_shapes(64, seed=6)
    assert not torch.equal(a.images, c.images)
    d = make_captioned_shapes(64, seed=5, split="test")
    assert not torch.equal(a.images, d.images)
    # a smaller request is a prefix of a larger one (across generator blocks too)
    e = make_captioned_shapes(700, seed=5)
    assert torch.equal(a.images, e.images[:64]) and a.captions == e.captions[:64]
    f = make_captioned_shapes(600, seed=5)
    assert torch.equal(f.images, e.images[:600]) and torch.equal(f.colour, e.colour[:600])
    assert len(make_captioned_shapes(0, seed=5)) == 0


def test_captions_name_the_true_factors(world):
    for i, cap in enumerate(world.captions):
        words = cap.split()
        shapes_said = {w for w in words if w in SHAPES}
        colours_said = {w for w in words if w in COLOURS}
        sizes_said = {w for w in words if w in SIZES}
        assert shapes_said <= {SHAPES[world.shape[i]]}, cap
        assert colours_said <= {COLOURS[world.colour[i]], COLOURS[world.background[i]]}, cap
        assert sizes_said <= {SIZES[world.size[i]]}, cap
        assert shapes_said or colours_said, cap  # every caption says something about the object
    # most captions name the shape, many name its colour right before it
    named = np.mean([SHAPES[s] in c for s, c in zip(world.shape.tolist(), world.captions)])
    assert named > 0.6
    # several templates are in use
    assert len({c.split()[0:2][1] for c in world.captions}) >= 4


def test_pixels_agree_with_the_label(world):
    """At the centre of a filled shape the pixel has the shape's colour, not the background's."""
    geo = world.extra["geometry"]
    filled = [SHAPES.index(s) for s in ("circle", "square", "star", "cross", "heart")]
    hits, total = 0, 0
    for i in range(len(world)):
        if int(world.shape[i]) not in filled:
            continue
        x, y = int(geo[i, 0]), int(geo[i, 1])
        px = world.images[i, :, y, x].float().numpy()
        d_fg = np.linalg.norm(px - COLOUR_RGB[world.colour[i]])
        d_bg = np.linalg.norm(px - COLOUR_RGB[world.background[i]])
        hits += d_fg < d_bg
        total += 1
    assert total > 500 and hits / total > 0.95
    # large shapes cover more pixels than small ones: the image differs more from its median colour
    dev = (world.images.float() - world.images.float().median(dim=3, keepdim=True).values.median(dim=2, keepdim=True).values)
    cover = (dev.abs().sum(1) > 60).float().mean((1, 2))
    assert cover[world.size == 1].mean() > 1.5 * cover[world.size == 0].mean()


def test_heldout_combos_never_in_train_or_test():
    assert len(HELDOUT_COMBOS) == len(SHAPES)
    assert len({c for _, c in HELDOUT_COMBOS}) == len(COLOURS)  # every colour held out once
    for split in ("train", "test"):
        w = make_captioned_shapes(2000, seed=0, split=split)
        assert not is_heldout(w.shape, w.colour).any()
        phrases = {f"{COLOURS[c]} {SHAPES[s]}" for s, c in HELDOUT_COMBOS}
        assert not any(p in cap for cap in w.captions for p in phrases)
    h = make_captioned_shapes(500, seed=0, split="heldout")
    assert is_heldout(h.shape, h.colour).all()
    assert set(zip(h.shape.tolist(), h.colour.tolist())) == set(HELDOUT_COMBOS)


def test_colours_follow_shape_is_the_same_world_with_one_colour_per_shape():
    plain = make_captioned_shapes(600, seed=2)
    coloured = make_captioned_shapes(600, seed=2, colours_follow_shape=True)
    assert torch.equal(coloured.colour, (coloured.shape + 1) % len(COLOURS))  # shape s in colour s + 1
    assert not is_heldout(coloured.shape, coloured.colour).any()
    assert torch.equal(coloured.shape, plain.shape)  # same draws for everything else
    assert len(set(zip(plain.shape.tolist(), plain.colour.tolist()))) > 4 * len(SHAPES)  # the default: a nuisance
    assert (coloured.background != coloured.colour).all()
    with pytest.raises(ValueError, match="held-out"):
        make_captioned_shapes(4, split="heldout", colours_follow_shape=True)


def test_redraw_keeps_the_shape_and_its_pose_and_draws_the_rest_again():
    base = make_captioned_shapes(700, seed=4)
    swap = make_captioned_shapes(700, seed=4, redraw=("background",))
    geo, geo_swap = base.extra["geometry"], swap.extra["geometry"]
    for k in ("shape", "colour", "size"):
        assert torch.equal(getattr(swap, k), getattr(base, k)), k
    assert torch.equal(geo_swap, geo)                                   # same centre, radius and angle
    assert (swap.background != base.background).float().mean() > 0.75  # 1/7 of them redraw the same colour
    assert (swap.texture != base.texture).float().mean() > 0.6 and (swap.background != swap.colour).all()
    # inside a circle the pixels agree (same colour jitter and shading), the image border does not
    ys, xs = torch.meshgrid(torch.arange(32.0) + 0.5, torch.arange(32.0) + 0.5, indexing="ij")
    circles = (base.shape == SHAPES.index("circle")).nonzero().flatten()
    for i in circles.tolist():
        inside = ((xs - geo[i, 0]) ** 2 + (ys - geo[i, 1]) ** 2) < (0.6 * geo[i, 2]) ** 2
        a, b = base.images[i].float()[:, inside].mean(1), swap.images[i].float()[:, inside].mean(1)
        assert (a - b).abs().max() < 4, (i, a, b)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:-2, 2:-2] = False
    moved = (base.images.float()[:, :, border].mean(2) - swap.images.float()[:, :, border].mean(2)).abs().amax(1)
    assert (moved > 20).float().mean() > 0.6
    assert torch.equal(make_captioned_shapes(700, seed=4, redraw=()).images, base.images)

    more = make_captioned_shapes(700, seed=4, redraw=("background", "colour", "size"))
    assert torch.equal(more.shape, base.shape) and torch.equal(more.extra["geometry"][:, 3], geo[:, 3])  # angle
    assert (more.colour != base.colour).float().mean() > 0.6 and (more.size != base.size).float().mean() > 0.3
    assert not is_heldout(more.shape, more.colour).any() and (more.background != more.colour).all()
    for bad in [("colour",), ("shade",)]:
        with pytest.raises(ValueError, match="redraw takes"):
            make_captioned_shapes(4, redraw=bad)


def test_load_shapes_api():
    ds = load_shapes("test", subset=100)
    assert ds.images.shape == (100, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and list(ds.classes) == list(SHAPES)
    assert torch.equal(ds.images, load_shapes("test", n=100).images)
    with pytest.raises(ValueError, match="split"):
        load_shapes("validation")
    with pytest.raises(ValueError, match="image_size"):
        make_captioned_shapes(4, image_size=8)


def test_raw_pixels_are_far_from_perfect():
    """The world is built so that nearest neighbours in pixel space do not find the shape."""
    tr, te = load_shapes("train", n=2000, seed=1), load_shapes("test", n=400, seed=1)
    a = torch.nn.functional.normalize(tr.images.flatten(1).float(), dim=1)
    b = torch.nn.functional.normalize(te.images.flatten(1).float(), dim=1)
    pred = tr.labels[(b @ a.T).argmax(1)]
    acc = (pred == te.labels).float().mean().item()
    assert acc < 0.45, acc
