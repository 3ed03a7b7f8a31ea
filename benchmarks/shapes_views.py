"""Which views let SimCLR learn the shapes world? kNN of f1 during training, for two view settings.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/shapes_views.py --crop-min 0.4 --hue 0.5 --steps 1200
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/shapes_views.py --crop-min 0.08 --hue 0.1 --steps 1200

SmallCNN(width 32), projector 256-64 with BatchNorm, temperature 0.2, AdamW 2e-3 (50 warm-up steps,
cosine), batch 256, the 10,000 training images of the shapes world, kNN (k=200, t=0.1) on the first
1,000 test images every steps/6 steps, beside raw pixels and the random-init encoder. Prints one line
per kNN evaluation: step, loss, kNN, seconds. The results are in docs/benchmarks/pretrained.md.
"""
import argparse
import time

import torch

from sslcourse.data import load_dataset
from sslcourse.evaluate import KNNMonitor, baselines
from sslcourse.methods.simclr import Encoder, Normalize, SimCLR
from sslcourse.nn import MLP, backbone
from sslcourse.train import TensorBatches, fit
from sslcourse.utils import to_float_images
from sslcourse.views import Augment, TwoViews

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--crop-min", type=float, default=0.4, help="smallest crop area")
p.add_argument("--hue", type=float, default=0.5, help="hue jitter (0.5: any hue)")
p.add_argument("--steps", type=int, default=1200)
p.add_argument("--width", type=int, default=32)
args = p.parse_args()

train = load_dataset("shapes", "train", subset=10000)
test = load_dataset("shapes", "test", subset=1000)
xf = to_float_images(train.images[:4096])
mean, std = xf.mean((0, 2, 3)).tolist(), xf.std((0, 2, 3)).tolist()


def encoder():
    return Encoder(Normalize(mean, std), backbone("small", in_channels=3, width=args.width))


torch.manual_seed(0)
f1 = encoder()
views = TwoViews(Augment(size=32, scale=(args.crop_min, 1.0), brightness=0.4, contrast=0.4, saturation=0.4,
                         hue=args.hue))
model = SimCLR(f1, MLP(f1.out_dim, 256, 64, num_layers=2, batch_norm=True), 0.2, views=views)
base = baselines(train.images, train.labels, test.images, test.labels, encoder, k=200, t=0.1)
print(f"crop >= {args.crop_min}, hue {args.hue}: raw pixels {base['raw_pixels']:.3f}, "
      f"random init {base['random_init']:.3f}", flush=True)
monitor = KNNMonitor(model.encoder, train.images, train.labels, test.images, test.labels, every=max(args.steps // 6, 1))
t0 = time.time()
history = fit(model, TensorBatches(train.images, batch_size=256, seed=0), steps=args.steps, lr=2e-3,
              warmup_steps=50, callbacks=[monitor], desc="simclr shapes")
for row in history.rows:
    if "knn" in row:
        print(f"step {row['step']:5d}  loss {row['loss']:.3f}  kNN {row['knn']:.3f}  ({row['train_time_s']:.0f} s)")
