"""The generated *captioned shapes world*: coloured shapes on textured backgrounds, with captions.

The embedded default image data of the course (topics 01, 04, 05) and the image-text data of
topic 06 (CLIP). Every image shows one shape; the **class is the shape**. Everything else is a
*nuisance* that an invariant encoder has to ignore:

    nuisance        values
    colour          8 named colours, jittered per image           (also said in most captions)
    size            "small" / "large", continuous radius inside   (said in some captions)
    position        centre anywhere in the middle half of the image (the shape always fits)
    rotation        any angle in [-45, 45] degrees
    background      a named base colour with a texture: noise, stripes, gradient or clouds,
                    blended with a second random colour            (said in some captions)

It is built so that **raw pixels fail**: two images of the same shape rarely share colours,
position or background, so a k-nearest-neighbour classifier on raw pixels is far from perfect,
while an encoder that learned colour-, position- and rotation-invariant features does much
better (measured numbers are in docs/benchmarks/clip.md).

Held-out compositions: the colour-shape pairs in ``HELDOUT_COMBOS`` (one colour per shape, each
colour once) never appear in the ``"train"`` or ``"test"`` split, in their images or in their
captions; the ``"heldout"`` split holds only them. A CLIP model that names a "yellow circle"
correctly although it never saw one tests compositional zero-shot transfer.

Generation is vectorised numpy (10,000 images of 32x32 in 1.5-5 s on one shared core) and
deterministic: the
same ``(split, seed, n, image_size)`` always gives the same bytes.

    >>> world = make_captioned_shapes(4, seed=0)
    >>> world.images.shape, world.captions[0]     # doctest: +SKIP
    (torch.Size([4, 3, 32, 32]), 'a large cyan star on a red background')
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch

from sslcourse.data.images import ImageDataset

__all__ = [
    "SHAPES", "COLOURS", "COLOUR_RGB", "SIZES", "TEXTURES", "HELDOUT_COMBOS", "CAPTION_TEMPLATES",
    "CaptionedShapes", "make_captioned_shapes", "make_captions", "load_shapes", "is_heldout",
]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart", "ring", "moon")
COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "white")
COLOUR_RGB: np.ndarray = np.array(
    [
        [220, 40, 40],    # red
        [245, 140, 20],   # orange
        [235, 220, 40],   # yellow
        [40, 165, 60],    # green
        [50, 205, 215],   # cyan
        [40, 70, 215],    # blue
        [140, 50, 190],   # purple
        [240, 240, 240],  # white
    ],
    dtype=np.float32,
)
SIZES: tuple[str, ...] = ("small", "large")
TEXTURES: tuple[str, ...] = ("noise", "stripes", "gradient", "clouds")

# Held-out colour-shape pairs (shape index, colour index): a Latin pattern, one per shape and colour.
HELDOUT_COMBOS: tuple[tuple[int, int], ...] = tuple((s, (3 * s + 2) % len(COLOURS)) for s in range(len(SHAPES)))

# Caption templates; fields: {size} {colour} {shape} {background}. Some templates leave out the
# colour or the shape so that the text tower also sees each word on its own.
CAPTION_TEMPLATES: tuple[str, ...] = (
    "a {size} {colour} {shape} on a {background} background",
    "a photo of a {colour} {shape}",
    "a {colour} {shape}",
    "a picture of a {size} {shape} that is {colour}",
    "a {shape} in {colour} on {background}",
    "a photo of a {shape}",
    "a {size} {shape} on a {background} background",
    "something {colour} on a {background} background",
    "a drawing of a {colour} {shape}",
    "a {colour} {shape} , {size}",
    "a {colour} shape on a {background} background",
    "a photo of a {colour} object",
)

_SPLIT_ID = {"train": 0, "test": 1, "heldout": 2}
_DEFAULT_N = {"train": 10_000, "test": 2_000, "heldout": 2_000}
_CENTRE_LO = 0.25
_ALPHA = (0.15, 0.35)  # strength of the background texture
_SMALL = (0.22, 0.28)  # radius / image size of a small shape
_LARGE = (0.32, 0.42)
_ROTATION = 45.0  # degrees: angles are uniform in [-_ROTATION, _ROTATION]
_BLOCK = 512  # images per generator block (see make_captioned_shapes)
_REDRAW_STREAM = 99  # seeds the generator of redrawn factors (make_captioned_shapes(redraw=...))
# what each name of ``redraw`` draws again: the background is its colour, its texture and the texture's colour
_REDRAWN = {"background": ("background", "second", "texture"), "colour": ("colour",), "size": ("size",)}
_SUPERSAMPLE = 2  # the shape mask is drawn at 2x resolution and averaged: anti-aliased edges


@dataclass
class CaptionedShapes:
    """Images of the shapes world with their captions and every generating factor.

    Attributes:
        images: ``(N, 3, H, W)`` uint8 tensor.
        captions: N strings, one per image.
        shape: ``(N,)`` int64, index into ``shape_names`` (the class label).
        colour: ``(N,)`` int64, index into ``colour_names``.
        size: ``(N,)`` int64, index into ``size_names``.
        background: ``(N,)`` int64, index into ``colour_names`` (the background's base colour).
        texture: ``(N,)`` int64, index into ``texture_names``.
        shape_names, colour_names, size_names, texture_names: the vocabularies.
        extra: ``split``, ``seed`` and ``geometry`` ``(N, 4)`` float64: centre x, centre y,
            radius in pixels, rotation angle in radians.
    """

    images: torch.Tensor
    captions: list[str]
    shape: torch.Tensor
    colour: torch.Tensor
    size: torch.Tensor
    background: torch.Tensor
    texture: torch.Tensor
    shape_names: tuple[str, ...] = SHAPES
    colour_names: tuple[str, ...] = COLOURS
    size_names: tuple[str, ...] = SIZES
    texture_names: tuple[str, ...] = TEXTURES
    extra: dict = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names (the shapes)."""
        return self.shape_names

    @property
    def labels(self) -> torch.Tensor:
        """The class labels (= ``shape``)."""
        return self.shape

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, idx) -> "CaptionedShapes":
        """Index or slice every field together (an int index keeps a batch of one)."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        if isinstance(idx, slice):
            caps = self.captions[idx]
        else:
            idx = torch.as_tensor(idx)
            caps = [self.captions[i] for i in idx.tolist()]
        return CaptionedShapes(
            self.images[idx], caps, self.shape[idx], self.colour[idx], self.size[idx],
            self.background[idx], self.texture[idx], self.shape_names, self.colour_names,
            self.size_names, self.texture_names,
            {k: (v[idx] if isinstance(v, torch.Tensor) else v) for k, v in self.extra.items()},
        )


def is_heldout(shape: torch.Tensor | np.ndarray, colour: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Boolean mask: which (shape, colour) pairs are held-out compositions. Shape: ``(N,)``."""
    shape = torch.as_tensor(np.asarray(shape))
    colour = torch.as_tensor(np.asarray(colour))
    out = torch.zeros(shape.shape, dtype=torch.bool)
    for s, c in HELDOUT_COMBOS:
        out |= (shape == s) & (colour == c)
    return out


# ----------------------------------------------------------------------------- factors


def shape_palette() -> np.ndarray:
    """``(S, C)`` bool: the colour each shape has when colours follow the shape.

    Shape s is drawn in colour s + 1 (mod 8), never a held-out pair (``HELDOUT_COMBOS`` has
    c = 3s + 2, of the other parity); its colour jitter and the background stay random.
    """
    n_shapes, n_colours = len(SHAPES), len(COLOURS)
    palette = np.zeros((n_shapes, n_colours), dtype=bool)
    palette[np.arange(n_shapes), (np.arange(n_shapes) + 1) % n_colours] = True
    return palette


def _sample_factors(n: int, split: str, rng: np.random.Generator, colours_follow_shape: bool = False,
                    shape: np.ndarray | None = None, colour: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Draw shape, colour, size, background colour and texture for n images (``shape`` and ``colour``,
    when given, are kept and the other factors drawn around them)."""
    n_shapes, n_colours = len(SHAPES), len(COLOURS)
    held = np.zeros((n_shapes, n_colours), dtype=bool)
    for s, c in HELDOUT_COMBOS:
        held[s, c] = True
    allowed = held if split == "heldout" else ~held                       # (S, C)
    if colours_follow_shape:
        allowed = allowed & shape_palette()
    if shape is None:
        shape = rng.integers(0, n_shapes, n)
    if colour is None:  # uniform over the colours allowed for this shape in this split
        probs = allowed[shape].astype(np.float64)                           # (n, C)
        probs /= probs.sum(1, keepdims=True)
        colour = (probs.cumsum(1) < rng.random((n, 1))).sum(1)
        colour = np.minimum(colour, n_colours - 1)
    size = rng.integers(0, len(SIZES), n)
    # background base colour and the texture's second colour: both differ from the shape colour
    background = (colour + rng.integers(1, n_colours, n)) % n_colours
    second = (colour + rng.integers(1, n_colours, n)) % n_colours
    texture = rng.integers(0, len(TEXTURES), n)
    return dict(shape=shape, colour=colour, size=size, background=background, second=second, texture=texture)


def make_captions(
    shape: np.ndarray | torch.Tensor,
    colour: np.ndarray | torch.Tensor,
    size: np.ndarray | torch.Tensor,
    background: np.ndarray | torch.Tensor,
    seed: int = 0,
    templates: tuple[str, ...] = CAPTION_TEMPLATES,
) -> list[str]:
    """One caption per image from a random template (seeded). Call again with another seed for fresh captions.

    Args:
        shape, colour, size, background: ``(N,)`` integer factors (see ``CaptionedShapes``).
        seed: picks the templates.
        templates: format strings with the fields {size} {colour} {shape} {background}.

    Returns:
        N lowercase captions, e.g. ``"a small red circle on a blue background"``.
    """
    shape, colour, size, background = (np.asarray(a) for a in (shape, colour, size, background))
    rng = np.random.default_rng([seed, 7])
    which = rng.integers(0, len(templates), len(shape))
    return [
        _caption(templates[t], s, c, z, b)
        for t, s, c, z, b in zip(which.tolist(), shape.tolist(), colour.tolist(), size.tolist(), background.tolist())
    ]


def _caption(template: str, shape: int, colour: int, size: int, background: int) -> str:
    """Fill one template; "a orange" becomes "an orange"."""
    text = template.format(size=SIZES[size], colour=COLOURS[colour], shape=SHAPES[shape], background=COLOURS[background])
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


# ----------------------------------------------------------------------------- rendering


def _shape_masks(u: np.ndarray, v: np.ndarray, shape_id: int) -> np.ndarray:
    """Inside-test of one shape in its local frame (u right, v down; the shape fits the unit disc)."""
    r2 = u * u + v * v
    if SHAPES[shape_id] == "circle":
        return r2 <= 0.85**2
    if SHAPES[shape_id] == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.68
    if SHAPES[shape_id] == "triangle":  # equilateral, circumradius 1, pointing up
        inside = np.ones(u.shape, dtype=bool)
        for k in range(3):
            a = np.pi / 2 + 2 * np.pi * k / 3 + np.pi / 3  # edge normals
            inside &= u * np.cos(a) - v * np.sin(a) <= 0.5
        return inside
    if SHAPES[shape_id] == "star":  # five points: radius zig-zags between 0.42 and 1.0 with the angle
        phi = np.arctan2(u, -v)  # 0 at the top
        frac = np.abs(((phi / (2 * np.pi / 5)) % 1.0) - 0.5) * 2  # 1 at a tip, 0 between tips
        return np.sqrt(r2) <= 0.42 + 0.58 * frac**1.5
    if SHAPES[shape_id] == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.28) & (av <= 0.9)) | ((av <= 0.28) & (au <= 0.9))
    if SHAPES[shape_id] == "heart":  # (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up
        x, y = 1.25 * u, -1.25 * v + 0.25
        return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0
    if SHAPES[shape_id] == "ring":
        return (r2 <= 0.92**2) & (r2 >= 0.52**2)
    if SHAPES[shape_id] == "moon":
        return (r2 <= 0.9**2) & ((u - 0.45) ** 2 + (v + 0.2) ** 2 >= 0.72**2)
    raise ValueError(f"unknown shape id {shape_id}")


def _render(f: dict[str, np.ndarray], image_size: int, rng: np.random.Generator,
            max_rotation: float = _ROTATION) -> tuple[np.ndarray, np.ndarray]:
    """Draw the images of a chunk: textured background, then the anti-aliased shape rotated uniformly
    within [-max_rotation, max_rotation] degrees.

    Returns:
        images ``(n, 3, H, W)`` uint8 and the geometry ``(n, 4)``: centre x, centre y, radius (pixels), angle.
    """
    n, H = len(f["shape"]), image_size
    # --- continuous nuisances -----------------------------------------------------------
    radius = np.where(f["size"] == 0, rng.uniform(*_SMALL, n), rng.uniform(*_LARGE, n)) * H  # pixels
    lo = np.maximum(radius, _CENTRE_LO * H)
    cx = rng.uniform(lo, H - lo)
    cy = rng.uniform(lo, H - lo)
    theta = rng.uniform(-max_rotation, max_rotation, n) * np.pi / 180
    f32 = np.float32
    fg = (COLOUR_RGB[f["colour"]] * rng.uniform(0.85, 1.1, (n, 1)) + rng.normal(0, 12, (n, 3))).astype(f32)  # (n, 3)
    base = (COLOUR_RGB[f["background"]] * rng.uniform(0.7, 1.0, (n, 1))).astype(f32)                     # (n, 3)
    second = (COLOUR_RGB[f["second"]] * rng.uniform(0.6, 1.0, (n, 1))).astype(f32)                        # (n, 3)

    # --- background texture t in [0, 1] (n, H, W) ----------------------------------------
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float32) / H, np.arange(H, dtype=np.float32) / H, indexing="ij")
    ang = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    proj = xs * np.cos(ang) + ys * np.sin(ang)                                 # (n, H, W)
    t = np.empty((n, H, H), dtype=np.float32)
    tex = f["texture"]
    k = tex == 0  # noise
    t[k] = rng.random((int(k.sum()), H, H), dtype=np.float32)
    k = tex == 1  # stripes
    freq = rng.uniform(2.5, 6.0, (int(k.sum()), 1, 1)).astype(f32)
    phase = rng.uniform(0, 2 * np.pi, (int(k.sum()), 1, 1)).astype(f32)
    t[k] = 0.5 + 0.5 * np.sin(f32(2 * np.pi) * freq * proj[k] + phase)
    k = tex == 2  # gradient
    t[k] = (proj[k] - proj[k].min(axis=(1, 2), keepdims=True)) / (np.ptp(proj[k], axis=(1, 2), keepdims=True) + 1e-6)
    k = tex == 3  # clouds: three random low-frequency waves
    m = int(k.sum())
    acc = np.zeros((m, H, H), dtype=np.float32)
    for _ in range(3):
        a = rng.uniform(0, 2 * np.pi, (m, 1, 1)).astype(f32)
        fr = rng.uniform(1.0, 3.0, (m, 1, 1)).astype(f32)
        ph = rng.uniform(0, 2 * np.pi, (m, 1, 1)).astype(f32)
        acc += np.sin(f32(2 * np.pi) * fr * (xs * np.cos(a) + ys * np.sin(a)) + ph)
    t[k] = (acc + 3) / 6
    alpha = rng.uniform(*_ALPHA, (n, 1, 1)).astype(np.float32)
    at = (alpha * t)[:, None]                                                   # (n, 1, H, W)
    img = base[:, :, None, None] * (1 - at) + second[:, :, None, None] * at      # (n, 3, H, W)

    # --- shape mask, supersampled for anti-aliasing ----------------------------------------
    S = H * _SUPERSAMPLE
    g = (np.arange(S, dtype=np.float32) + 0.5) / _SUPERSAMPLE                   # pixel coordinates
    gy, gx = np.meshgrid(g, g, indexing="ij")
    dx = (gx - cx[:, None, None].astype(np.float32)) / radius[:, None, None].astype(np.float32)   # (n, S, S)
    dy = (gy - cy[:, None, None].astype(np.float32)) / radius[:, None, None].astype(np.float32)
    c, s = np.cos(theta)[:, None, None].astype(np.float32), np.sin(theta)[:, None, None].astype(np.float32)
    u, v = c * dx + s * dy, -s * dx + c * dy                                    # rotate into the shape's frame
    mask = np.zeros((n, S, S), dtype=bool)
    for sid in np.unique(f["shape"]):
        k = f["shape"] == sid
        mask[k] = _shape_masks(u[k], v[k], int(sid))
    sub = [mask[:, i::_SUPERSAMPLE, j::_SUPERSAMPLE] for i in range(_SUPERSAMPLE) for j in range(_SUPERSAMPLE)]
    mask = (sum(m.view(np.uint8) for m in sub).astype(f32) / f32(len(sub)))[:, None]  # (n, 1, H, W) coverage
    shade = f32(1.0) + f32(0.15) * (xs * np.cos(ang) + ys * np.sin(ang) - 0.5)[:, None]  # soft light on the shape
    img = img * (1 - mask) + fg[:, :, None, None] * shade * mask
    img += 6.0 * rng.standard_normal(img.shape, dtype=f32)                      # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8), np.stack([cx, cy, radius, theta], 1)


def make_captioned_shapes(
    n: int,
    seed: int = 0,
    image_size: int = 32,
    split: str = "train",
    max_rotation: float = _ROTATION,
    colours_follow_shape: bool = False,
    redraw: tuple[str, ...] = (),
) -> CaptionedShapes:
    """Generate n captioned images of the shapes world, deterministically.

    Images come in blocks of ``_BLOCK`` (512), each drawn from its own generator seeded with
    ``(seed, split, image_size, block)``; so the first m images of any larger request are the same
    m images (a smaller ``n`` is a prefix), whatever else was asked for before.

    Args:
        n: number of images.
        seed: world seed; different seeds and different splits give independent images.
        image_size: H = W in pixels (>= 16; 32 by default, like CIFAR-10).
        split: ``"train"`` or ``"test"`` (every colour-shape pair except ``HELDOUT_COMBOS``) or
            ``"heldout"`` (only the held-out pairs).
        max_rotation: shapes are rotated uniformly within [-max_rotation, max_rotation] degrees
            (small values give the upright world of ``sslcourse.pretext.upright``).
        colours_follow_shape: draw each shape in its own colour (``shape_palette``), as
            grass is green and skies are blue: the world colorization assumes (lecture 01).
            Not for ``split="heldout"``.
        redraw: factors to draw again, from a generator of their own: any of ``"background"`` (its
            colour, texture and the texture's colour), ``"colour"`` (the shape's; needs
            ``"background"`` too, so the two stay different) and ``"size"``. Everything else is as
            without it: the same shapes, with the same position, rotation, shading and colour jitter
            (a new size moves the centre a little to keep the shape inside). So
            ``make_captioned_shapes(n)`` and ``make_captioned_shapes(n, redraw=("background",))`` are
            two views of each image that share only the shape and its pose: a background swap
            (Ryali et al. 2021), used by ``benchmarks/noncontrastive_shapes.py --swap``.

    Returns:
        ``CaptionedShapes`` with uint8 images ``(n, 3, image_size, image_size)`` and one caption each.
    """
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be one of {tuple(_SPLIT_ID)}, got {split!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16 pixels for the shapes to be recognisable, got {image_size}")
    if colours_follow_shape and split == "heldout":
        raise ValueError("colours_follow_shape gives no held-out pairs: use split='train' or 'test'")
    redraw = tuple(redraw)
    unknown = set(redraw) - set(_REDRAWN)
    if unknown or ("colour" in redraw and "background" not in redraw):
        raise ValueError(f"redraw takes {tuple(_REDRAWN)} (with 'colour' only together with 'background', "
                         f"which must differ from it), got {redraw!r}")
    blocks: list[tuple[dict, np.ndarray, np.ndarray, list[str]]] = []
    for b in range(-(-n // _BLOCK)):
        rng = np.random.default_rng([seed, _SPLIT_ID[split], image_size, b])
        f = _sample_factors(_BLOCK, split, rng, colours_follow_shape)
        if redraw:  # from another generator: ``rng`` renders the same pose as without redraw
            other = np.random.default_rng([seed, _SPLIT_ID[split], image_size, b, _REDRAW_STREAM])
            kept = {"shape": f["shape"]} if "colour" in redraw else {"shape": f["shape"], "colour": f["colour"]}
            g = _sample_factors(_BLOCK, split, other, colours_follow_shape, **kept)
            f = {**f, **{k: g[k] for name in redraw for k in _REDRAWN[name]}}
        images, geometry = _render(f, image_size, rng, max_rotation)
        which = rng.integers(0, len(CAPTION_TEMPLATES), _BLOCK)
        caps = [_caption(CAPTION_TEMPLATES[t], s, c, z, g)
                for t, s, c, z, g in zip(which, f["shape"], f["colour"], f["size"], f["background"])]
        blocks.append((f, images, geometry, caps))
    cat = lambda i: np.concatenate([blk[i] for blk in blocks])[:n] if blocks else None  # noqa: E731
    H = image_size
    images = cat(1) if n else np.zeros((0, 3, H, H), np.uint8)
    geometry = cat(2) if n else np.zeros((0, 4))
    captions = [c for blk in blocks for c in blk[3]][:n]
    fac = lambda k: torch.from_numpy(  # noqa: E731
        np.concatenate([blk[0][k] for blk in blocks])[:n].astype(np.int64) if n else np.zeros(0, np.int64))
    return CaptionedShapes(
        images=torch.from_numpy(np.ascontiguousarray(images)), captions=captions, shape=fac("shape"),
        colour=fac("colour"), size=fac("size"), background=fac("background"), texture=fac("texture"),
        extra={"split": split, "seed": seed, "geometry": torch.from_numpy(np.ascontiguousarray(geometry))},
    )


def load_shapes(
    split: str = "train",
    n: int | None = None,
    subset: int | None = None,
    seed: int = 0,
    image_size: int = 32,
    max_rotation: float = _ROTATION,
    colours_follow_shape: bool = False,
):
    """The shapes world as a labelled image dataset (class = shape), like every other dataset of the course.

    Args:
        split: ``"train"`` (10,000 images by default), ``"test"`` (2,000) or ``"heldout"`` (2,000,
            only the held-out colour-shape pairs).
        n: number of images to generate (default per split, see above).
        subset: keep only the first ``subset`` images (they are in random order, and a prefix of
            the full split: ``subset=100`` gives the first 100 images of the default split).
        seed: world seed.
        image_size: H = W in pixels.
        max_rotation: the shapes' rotation range in degrees (see ``make_captioned_shapes``).
        colours_follow_shape: each shape in its own colour (see ``make_captioned_shapes``).

    Returns:
        ``sslcourse.data.images.ImageDataset(images uint8 (N, 3, H, W), labels int64 (N,), classes)``.
    """
    if split not in _SPLIT_ID:
        raise ValueError(f"split must be one of {tuple(_SPLIT_ID)}, got {split!r}")
    n = _DEFAULT_N[split] if n is None else int(n)
    if subset is not None:
        n = min(n, int(subset))
    world = make_captioned_shapes(n, seed=seed, image_size=image_size, split=split, max_rotation=max_rotation,
                                  colours_follow_shape=colours_follow_shape)
    return _image_dataset(world.images, world.shape, list(SHAPES))


def _image_dataset(images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> ImageDataset:
    """The course's ImageDataset of generated images."""
    return ImageDataset(images=images, labels=labels, classes=classes)
