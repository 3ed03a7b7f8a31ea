"""BYOL and SimSiam on the shapes world: the levers tried, in short runs watched for collapse.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py byol --optimizer sgd --lr 0.06 \\
        --weight-decay 5e-4 --steps 1200 --every 400
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py byol --jitter 0.8 --jitter-p 1.0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py byol --projector-layers 3 --dim 512
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py simsiam --data upright-shapes \\
        --optimizer sgd --lr 0.06 --weight-decay 5e-4
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py vicreg --lr 3e-3 --steps 400
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py simsiam --swap nuisances \\
        --steps 800 --factors
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py simsiam --rotate --steps 800 --factors
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py byol --directpred 0.1
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py byol --standardize-input
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py simsiam --hue 0.1 --crop-min 0.2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/noncontrastive_shapes.py simsiam --lr 5e-4 --weight-decay 1e-4 \\
        --predictor-lr 10 --jitter 0.8 --jitter-p 1.0 --steps 1200 --every 300 --pcs simsiam_pcs.png

The model is the joint recipe's (``sslcourse.recipes.joint.build_model``: SmallCNN(32), BYOL/SimSiam/
VICReg heads) and so is the optimizer (``make_optimizer``: no weight decay on biases and BatchNorm);
``fit`` adds its cosine schedule (``--width`` widens the SmallCNN). Data: the first ``--train-size``
(10,000) training and 1,000 test images of ``--data`` (seed 0). Views: crop >= ``--crop-min``, hue
``--hue`` (0.5), brightness/contrast/saturation ``--jitter`` applied with probability ``--jitter-p``,
grayscale 0.2 (``--jitter 0.4 --jitter-p 0.8`` is the recipe's).
``--projector-layers``/``--dim`` build a deeper or wider projector (and predictor) through the method's
config (``projector_layers``, ``hidden_dim``, ``out_dim``). ``--swap`` replaces the photo-style pair by
two renderings of the same shape in the same pose, with the background (or every nuisance) redrawn.
``--rotate`` turns each view by its own random angle, so the views share no direction (of the
background's stripes, of the shape's shading). ``--directpred EPS`` replaces the trained predictor by
DirectPred's (Tian et al. 2021, arXiv:2102.06810): a linear map set, at every step, from the
eigendecomposition of the running correlation of the online embeddings, with a floor ``EPS`` on each
eigenvalue so that weak directions are not shrunk away. ``--standardize-input`` wraps the encoder
(online and target) in ``sslcourse.nn.Standardized``: each image minus its own mean, over its own std,
so the overall brightness and contrast, which rule a random network's features, are gone before the
first layer.

Prints the raw-pixel and random-init kNN first, then one JSON line every ``--every`` steps: loss,
collapse_std, effective rank, kNN of f1 and of z (k=200, t=0.1). With ``--factors`` (shapes world only)
it ends with the kNN (k=20) of f1 and of z on each generating factor (shape, colour, size, background
colour, texture; and the pose: position quadrant, rotation in four bins) of 4,000 / 1,000 images from
``make_captioned_shapes``, beside the same network before training and raw pixels: what training
added to the features, and what it removed; then the held-out R^2 of a ridge regression from the
same features to continuous image statistics (mean luma, luma contrast, saturation, edge energy,
mean R, G, B, the shape's radius), which the discrete factors do not name. ``--pcs PNG`` draws the test
images at both ends of z's top principal components.
What learns: ``--standardize-input`` with ``--lr 5e-4 --weight-decay 1e-4 --predictor-lr 10``, run for thousands
of steps (``sslcourse train byol|simsiam`` takes the same flags). Results: docs/benchmarks/pretrained.md.
"""
import argparse
import copy
import json
import math
import time

import torch
import torch.nn.functional as F

from sslcourse.collapse import CollapseMonitor, embeddings
from sslcourse.data.shapes import make_captioned_shapes
from sslcourse.evaluate import baselines, extract_features, knn_accuracy
from sslcourse.nn import backbone
from sslcourse.pretext.colorization import rgb_to_gray
from sslcourse.pretext.registry import load_images
from sslcourse.recipes.joint import build_model, make_optimizer
from sslcourse.train import TensorBatches, fit
from sslcourse.utils import to_float_images
from sslcourse.views import Augment, TwoViews

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("method", choices=["byol", "simsiam", "vicreg"])
p.add_argument("--data", default="shapes", choices=["shapes", "upright-shapes", "cifar10"])
p.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--weight-decay", type=float, default=1e-5)
p.add_argument("--predictor-lr", type=float, default=1.0, help="the predictor's lr as a multiple of --lr")
p.add_argument("--steps", type=int, default=600)
p.add_argument("--train-size", type=int, default=10000, help="training images (the kNN uses them too)")
p.add_argument("--width", type=int, default=32, help="SmallCNN width w (channels w, 2w, 4w, 4w)")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--every", type=int, default=200)
p.add_argument("--crop-min", type=float, default=0.4)
p.add_argument("--hue", type=float, default=0.5, help="hue jitter (0.5: any hue; 0.1: CIFAR-10's)")
p.add_argument("--jitter", type=float, default=0.4, help="brightness, contrast and saturation jitter strength")
p.add_argument("--jitter-p", type=float, default=0.8, help="probability of the colour jitter")
p.add_argument("--projector-layers", type=int, default=None, help="a projector this deep (the config field projector_layers)")
p.add_argument("--dim", type=int, default=512, help="hidden and output width of that projector")
p.add_argument("--factors", action="store_true", help="end with the factor probe (shapes world)")
p.add_argument("--pcs", metavar="PNG", default=None,
               help="end by saving a PNG: for each of z's top 6 principal components, the 8 test images lowest "
                    "and the 8 highest on it (what the surviving directions hold)")
p.add_argument("--swap", choices=["background", "nuisances"], default=None,
               help="shapes world: draw each training image twice, one rendering per view, with the same shape and "
                    "pose: 'background' redraws the background (colours and texture; a background swap, Ryali et "
                    "al. 2021, arXiv:2103.12719), 'nuisances' also the shape's colour and size")
p.add_argument("--rotate", action="store_true",
               help="turn each view by its own random angle in [0, 360) (reflection at the border): the two views "
                    "no longer share the direction of the background's stripes and of the shape's shading")
p.add_argument("--directpred", type=float, default=None, metavar="EPS",
               help="BYOL/SimSiam: DirectPred's linear predictor with eigenvalue floor EPS instead of a trained one")
p.add_argument("--standardize-input", action="store_true",
               help="the encoder sees each image standardised by its own mean and std")
args = p.parse_args()
if args.directpred is not None and args.method == "vicreg":
    p.error("--directpred needs byol or simsiam (VICReg has no predictor)")

train = load_images(args.data, "train", args.train_size, image_size=32, seed=0)
test = load_images(args.data, "test", 1000, image_size=32, seed=0)
heads = {}  # the method's config: a deeper/wider projector (and BYOL's predictor) when asked
if args.projector_layers and args.method != "vicreg":
    heads = {"projector_layers": args.projector_layers, "hidden_dim": args.dim, "out_dim": args.dim}
    if args.method == "simsiam":
        heads["predictor_hidden_dim"] = args.dim
config = {"encoder": {"name": "small", "in_channels": 3, "width": args.width, "standardize": args.standardize_input},
          "image_size": 32, "hue": args.hue,
          "crop_scale": args.crop_min, "method": heads}


class DirectPred(torch.nn.Module):
    """DirectPred's predictor q(z) = W z, W = U diag(sqrt(s / s_max) + eps) U^T, where U diag(s) U^T is the
    running correlation F <- rho F + (1 - rho) E[z z^T] of the online embeddings (Tian et al. 2021)."""

    def __init__(self, dim: int, eps: float, rho: float = 0.3) -> None:
        super().__init__()
        self.eps, self.rho = eps, rho
        self.register_buffer("corr", torch.zeros(dim, dim))   # F, (d, d)
        self.register_buffer("weight", torch.eye(dim))        # W, (d, d)

    def forward(self, z: torch.Tensor) -> torch.Tensor:      # (N, d) -> (N, d)
        if self.training:
            with torch.no_grad():
                self.corr.mul_(self.rho).add_((1 - self.rho) * z.T @ z / len(z))
                s, u = torch.linalg.eigh(self.corr)
                s = s.clamp(min=0)
                self.weight.copy_(u @ torch.diag((s / s.max()).sqrt() + self.eps) @ u.T)
        return z @ self.weight


print(json.dumps({"data": args.data, "n_train": len(train), "n_test": len(test),
                  **baselines(train.images, train.labels, test.images, test.labels,
                              lambda: backbone(**config["encoder"]))}), flush=True)

torch.manual_seed(0)
model = build_model(args.method, config)
if args.directpred is not None:
    model.predictor = DirectPred(model.projector.out_dim, args.directpred)
initial = copy.deepcopy(model).eval()  # the factor probe's reference: the same network before training
model.views = TwoViews(Augment(size=32, scale=(args.crop_min, 1.0), hue=args.hue, brightness=args.jitter,
                               contrast=args.jitter, saturation=args.jitter, jitter_p=args.jitter_p))
if args.swap:
    if args.data != "shapes":
        p.error("--swap needs --data shapes")
    redraw = ("background",) if args.swap == "background" else ("background", "colour", "size")
    # the same scenes drawn again with those factors redrawn: same shape, position, rotation and shading
    second = make_captioned_shapes(len(train), seed=0, redraw=redraw).images
    pair = torch.cat([train.images, second], 1)                                  # (N, 6, 32, 32)
    assert torch.equal(make_captioned_shapes(512, seed=0).images, train.images[:512]), "redrawn from another world"
    augment = model.views.augment
    model.views = lambda x, generator=None: (augment(x[:, :3], generator), augment(x[:, 3:], generator))
    train_images = pair  # (N, 6, 32, 32): the two renderings side by side in the channels
else:
    train_images = train.images
if args.rotate:
    def _turned(x: torch.Tensor, generator=None) -> torch.Tensor:
        """Each view (B, C, H, W) turned about its centre by its own uniform random angle."""
        a = torch.rand(x.shape[0], generator=generator, device=x.device) * 2 * math.pi
        c, s_ = torch.cos(a), torch.sin(a)
        theta = torch.stack([torch.stack([c, -s_, torch.zeros_like(a)], 1),
                             torch.stack([s_, c, torch.zeros_like(a)], 1)], 1)          # (B, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)

    unturned = model.views
    model.views = lambda x, generator=None: tuple(_turned(v, generator) for v in unturned(x, generator))
optimizer = make_optimizer(model, args.optimizer, args.lr, args.weight_decay, args.predictor_lr)
monitor = CollapseMonitor(test.images[:512], train.images, train.labels, test.images, test.labels, every=args.every)
t0 = time.time()


def log(step, model, history):
    row = history.rows[-1]
    keys = ("loss", "collapse_std", "effective_rank", "knn", "knn_embedding")
    print(json.dumps({"step": step, "s": round(time.time() - t0), **{k: round(row[k], 4) for k in keys if k in row}}),
          flush=True)


log.every = args.every
fit(model, TensorBatches(train_images, train.labels, batch_size=args.batch_size, seed=0), steps=args.steps,
    optimizer=optimizer, device="cpu", callbacks=[monitor, log], progress=False)

if args.pcs:
    import matplotlib

    matplotlib.use("Agg")  # a script, not a notebook: no display
    import matplotlib.pyplot as plt

    z = embeddings(model, test.images)                                      # (M, d)
    z = z - z.mean(0)
    _, sv, vh = torch.linalg.svd(z, full_matrices=False)
    share = sv / sv.sum()
    scores = z @ vh[:6].T                                                   # (M, 6)
    fig, axes = plt.subplots(6, 16, figsize=(16, 6.6))
    for k in range(6):
        order = scores[:, k].argsort()
        for j, i in enumerate(torch.cat([order[:8], order[-8:]])):
            axes[k, j].imshow(test.images[i].permute(1, 2, 0))
            axes[k, j].axis("off")
        axes[k, 0].set_title(f"PC{k + 1} ({share[k]:.0%} of the singular values): lowest", fontsize=8, loc="left")
        axes[k, 8].set_title("highest", fontsize=8, loc="left")
    fig.suptitle(f"{args.method}, {args.steps} steps: test images at both ends of z's principal components")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.01, wspace=0.05, hspace=0.35)
    fig.savefig(args.pcs, dpi=70)
    print(json.dumps({"pcs": args.pcs, "singular_value_share": [round(float(v), 3) for v in share[:10]]}))

if args.factors:
    tr, te = make_captioned_shapes(4000, seed=0, split="train"), make_captioned_shapes(1000, seed=0, split="test")
    def pose(world):  # the two factors a re-rendered pair still shares: position (quadrant) and rotation (4 bins)
        cx, cy, _, angle = world.extra["geometry"].T
        quadrant = (cx > 16).long() * 2 + (cy > 16).long()
        return {"position": quadrant, "rotation": ((angle + torch.pi / 4) / (torch.pi / 8)).long().clamp(0, 3)}

    factors = ("shape", "colour", "size", "background", "texture", "position", "rotation")
    labels = {"train": {**{f: getattr(tr, f) for f in factors[:5]}, **pose(tr)},
              "test": {**{f: getattr(te, f) for f in factors[:5]}, **pose(te)}}
    spaces = {}
    for when, net in (("at init", initial), ("trained", model.eval())):
        spaces[f"f1 {when}"] = (extract_features(net.encoder, tr.images), extract_features(net.encoder, te.images))
        spaces[f"z {when}"] = (embeddings(net, tr.images), embeddings(net, te.images))
    spaces["raw pixels"] = (tr.images.float().flatten(1), te.images.float().flatten(1))
    for space, (a, b) in spaces.items():
        accuracy = {f: knn_accuracy(a, labels["train"][f], b, labels["test"][f], k=20) for f in factors}
        print(json.dumps({"space": space, **{f: round(v, 3) for f, v in accuracy.items()}}))

    def image_stats(world) -> dict[str, torch.Tensor]:
        """Continuous statistics of each image (N,): what the discrete factors do not name."""
        x = to_float_images(world.images)                                              # (N, 3, H, W)
        luma = rgb_to_gray(x)[:, 0]                                                     # (N, H, W)
        lap = luma[:, 1:-1, 1:-1] * 4 - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1] - luma[:, 1:-1, :-2] - luma[:, 1:-1, 2:]
        saturation = x.amax(1) - x.amin(1)                                        # (N, H, W)
        return {"mean luma": luma.mean((1, 2)), "luma contrast": luma.std((1, 2)),
                "saturation": saturation.mean((1, 2)), "edge energy": lap.abs().mean((1, 2)),
                "red": x[:, 0].mean((1, 2)), "green": x[:, 1].mean((1, 2)), "blue": x[:, 2].mean((1, 2)),
                "radius": world.extra["geometry"][:, 2].float()}

    def r2(a: torch.Tensor, y: torch.Tensor, b: torch.Tensor, y_test: torch.Tensor, ridge: float = 1e-2) -> float:
        """Held-out R^2 of a ridge regression from standardised features to y."""
        mu, sd = a.mean(0), a.std(0) + 1e-6
        A, B = (a - mu) / sd, (b - mu) / sd
        A1 = torch.cat([A, torch.ones(len(A), 1)], 1)
        w = torch.linalg.solve(A1.T @ A1 + ridge * len(A) * torch.eye(A1.shape[1]), A1.T @ y)
        pred = torch.cat([B, torch.ones(len(B), 1)], 1) @ w
        return float(1 - ((pred - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum())

    stats_train, stats_test = image_stats(tr), image_stats(te)
    for space, (a, b) in spaces.items():
        fit_r2 = {k: r2(a.double(), stats_train[k].double(), b.double(), stats_test[k].double()) for k in stats_train}
        print(json.dumps({"space": space, "R2": {k: round(v, 3) for k, v in fit_r2.items()}}))
