"""Does a patch's place in the image give its label away? The shortcut a random grid removes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/patch_shortcut.py

Relative patch placement should be solved from the *pair*: what the centre shows and what the
neighbour shows. If the 3x3 grid always fills the image, the neighbour labelled "above" is always
cut from the top border, and a classifier that sees the neighbour patch ALONE can tell its label
from its content (border rows look different from the middle). Chance is 1/8 = 12.5%.

For each grid (the old one that fills a 32x32 image: patch 8, gap 1, jitter 1; and
``pretext.default_grid`` at 32 and 40 px, which leaves room for the grid to move) this trains a
SmallCNN(width 16) + linear layer on the neighbour patch only, for ``--steps`` steps of 256 fresh
pairs from the upright shapes world's training images, and prints its accuracy on 4,000 pairs cut
from the test images. The result is in docs/benchmarks/pretext.md.
"""
import argparse
import time

import torch
from torch import nn

from sslcourse.nn import SmallCNN
from sslcourse.pretext import ORIENTED_SHAPES, default_grid, load_upright_shapes
from sslcourse.pretext.patches import grid_extent, sample_patch_pairs
from sslcourse.utils import to_float_images

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--steps", type=int, default=600)
args = p.parse_args()
torch.set_num_threads(1)

GRIDS = [("fills the image (old default)", 32, (8, 1, 1)),
         ("default_grid(32)", 32, default_grid(32)),
         ("default_grid(40)", 40, default_grid(40))]

for name, size, (patch, gap, jitter) in GRIDS:
    train = load_upright_shapes("train", image_size=size, classes=ORIENTED_SHAPES).images
    test = load_upright_shapes("test", image_size=size, classes=ORIENTED_SHAPES).images
    torch.manual_seed(0)
    model = nn.Sequential(SmallCNN(3, 16), nn.Linear(64, 8))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for step in range(args.steps):
        idx = torch.randint(0, len(train), (256,), generator=g)
        _, neighbour, labels = sample_patch_pairs(train[idx], patch, gap, jitter, generator=g)
        loss = nn.functional.cross_entropy(model(to_float_images(neighbour)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    g_test = torch.Generator().manual_seed(1)
    idx = torch.randint(0, len(test), (4000,), generator=g_test)
    _, neighbour, labels = sample_patch_pairs(test[idx], patch, gap, jitter, generator=g_test)
    with torch.no_grad():
        acc = (model(to_float_images(neighbour)).argmax(1) == labels).float().mean().item()
    extent = grid_extent(patch, gap, jitter)
    print(f"{name:32s} {size} px, patch {patch}, gap {gap}, jitter {jitter}, grid extent {extent} "
          f"({size - extent + 1} positions per axis): neighbour-only accuracy {acc:.1%} (chance 12.5%), "
          f"{time.perf_counter() - t0:.0f} s")
