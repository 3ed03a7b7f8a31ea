"""CPU benchmarks of topic 05: NT-Xent, batched views, a SimCLR training step, kNN after a budget.

    .venv/bin/python benchmarks/simclr_cpu.py [--threads 2] [--only loss,views,step,knn] [--budget-min 3]

* ``loss``: ``nt_xent`` forward+backward at B=512, d=128, beside lightly's ``NTXentLoss``
  (``pip install lightly``; skipped with a note when it is missing) and our loop version;
* ``views``: images/s of ``simclr_cifar_views`` (two views, batched, this process) against
  torchvision's per-image transforms of the same recipe in a DataLoader with 2 worker processes;
* ``step``: images/s of one SimCLR training step (views + SmallCNN width 32 + projector + loss +
  LARS) at batch 256 on 32x32 images;
* ``knn``: kNN top-1 (k=200, t=0.1) on a CIFAR-10 subset after a fixed training wall-clock budget,
  beside raw pixels and the random-init encoder (needs a CIFAR-10 copy).

Prints one Markdown table row per measurement (copied into docs/benchmarks/simclr.md).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _time(fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_loss(repeats: int) -> None:
    from sslcourse.losses.contrastive import nt_xent, nt_xent_loop

    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(512, 128, generator=g), torch.randn(512, 128, generator=g)

    def run(fn):
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()

        def step():
            loss = fn(a, b)
            loss.backward()
            return loss
        return step

    ours = nt_xent(z1, z2, 0.5)
    rows = [("sslcourse nt_xent", run(lambda a, b: nt_xent(a, b, 0.5)), repeats),
            ("sslcourse nt_xent decoupled", run(lambda a, b: nt_xent(a, b, 0.5, decoupled=True)), repeats),
            ("sslcourse nt_xent_loop (teaching)", run(lambda a, b: nt_xent_loop(a, b, 0.5)), 1)]
    try:
        from lightly.loss import NTXentLoss

        lightly_loss = NTXentLoss(temperature=0.5)
        diff = abs(lightly_loss(z1, z2).item() - ours.item())
        rows.insert(1, (f"lightly NTXentLoss (|diff| {diff:.1e})", run(lambda a, b: lightly_loss(a, b)), repeats))
    except ImportError:
        print("| lightly NTXentLoss | not installed (pip install lightly) | |")
    # interleaved rounds, so that the load of a shared machine hits every contender alike
    fast = [r for r in rows if r[2] > 3]
    walls: dict[str, list[float]] = {r[0]: [] for r in fast}
    cpus: dict[str, list[float]] = {r[0]: [] for r in fast}
    for name, fn, _ in fast:
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn, _ in fast:
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls[name].append(time.perf_counter() - w0)
            cpus[name].append(time.process_time() - c0)
    for name in walls:
        print(f"| {name} | B=512, d=128, forward+backward, median of {repeats} interleaved "
              f"| {1000 * statistics.median(walls[name]):.1f} ms wall, {1000 * statistics.median(cpus[name]):.1f} ms CPU |",
              flush=True)
    for name, fn, n in rows:
        if n <= 3:
            c0 = time.process_time()
            t = _time(fn, n, warmup=0)
            print(f"| {name} | B=512, d=128, forward+backward | {1000 * t:.0f} ms wall, "
                  f"{1000 * (time.process_time() - c0) / n:.0f} ms CPU |", flush=True)


class _TorchvisionPairs(torch.utils.data.Dataset):
    """Per-image torchvision transforms of the SimCLR CIFAR-10 recipe (as most SSL code does)."""

    def __init__(self, images: torch.Tensor) -> None:
        import torchvision.transforms.v2 as T

        self.images = images
        self.t = T.Compose([T.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=True), T.RandomHorizontalFlip(),
                            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(0.2),
                            T.ToDtype(torch.float32, scale=True)])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i]
        return self.t(x), self.t(x)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def bench_views(n: int) -> None:
    from sslcourse.views import simclr_cifar_views

    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    g = simclr_cifar_views()
    gen = torch.Generator().manual_seed(0)

    def batched():
        for i in range(0, n, 256):
            g(images[i:i + 256], gen)

    t = _time(batched, 3, warmup=1)
    print(f"| sslcourse.views (batched, in process, {torch.get_num_threads()} threads) | {n} images, 2 views "
          f"| {n / t:,.0f} images/s |", flush=True)
    loader = torch.utils.data.DataLoader(_TorchvisionPairs(images), batch_size=256, num_workers=2,
                                         worker_init_fn=_worker_init, persistent_workers=True)

    def per_image():
        for _ in loader:
            pass

    t = _time(per_image, 3, warmup=1)
    print(f"| torchvision v2 per-image transforms, DataLoader 2 workers | {n} images, 2 views "
          f"| {n / t:,.0f} images/s |", flush=True)


def bench_step(steps: int) -> None:
    from sslcourse.lars import LARS, lars_param_groups
    from sslcourse.methods.simclr import Encoder, Normalize, SimCLR
    from sslcourse.nn import MLP, SmallCNN
    from sslcourse.views import simclr_cifar_views

    torch.manual_seed(0)
    enc = Encoder(Normalize([0.5] * 3, [0.25] * 3), SmallCNN(3, width=32))
    model = SimCLR(enc, MLP(enc.out_dim, 512, 128), 0.5, views=simclr_cifar_views())
    model.generator = torch.Generator().manual_seed(0)
    opt = LARS(lars_param_groups(model, 1e-6), lr=0.3)
    x = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)

    def step():
        out = model(x)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()

    t = _time(step, steps)
    with torch.no_grad():
        x1, x2 = model.make_views(x)

    def step_no_views():
        out = model(x1, x2)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()

    t2 = _time(step_no_views, steps)
    print(f"| SimCLR step, SmallCNN(width 32) + MLP 512-128, views included | B=256, 32x32 | {256 / t:,.0f} images/s |")
    print(f"| same step, views made beforehand | B=256, 32x32 | {256 / t2:,.0f} images/s |", flush=True)


def bench_knn(budget_min: float, subset: int) -> None:
    from sslcourse.recipes.simclr import train

    try:
        m = train(dataset="cifar10", train_subset=subset, test_subset=2000, encoder="small", width=16, epochs=1000,
                  time_limit_min=budget_min, batch_size=256, optimizer="lars", lr=1.0, crop_scale_min=0.2,
                  warmup_epochs=1, knn_every=0, probe=True, progress=False, out_dir="runs/bench_simclr_cpu",
                  resume=False, checkpoint_every=0)
    except FileNotFoundError as err:
        print(f"| kNN after {budget_min} min | CIFAR-10 not found: {err} | |")
        return
    b = m["baselines"]
    print(f"| SimCLR SmallCNN(16), CIFAR-10 {subset} train / 2000 test, {budget_min} min of training "
          f"({m['epochs_done']} epochs, {m['images_per_s']:.0f} img/s; lr schedule cut by the budget) "
          f"| kNN k=200 | SimCLR {m['final_knn']:.1%}, raw pixels {b['raw_pixels']:.1%}, random init "
          f"{b['random_init']:.1%}; linear probe {m['linear_probe']:.1%} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", default="loss,views,step,knn")
    p.add_argument("--budget-min", type=float, default=3.0)
    p.add_argument("--subset", type=int, default=10000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    print("| what | setting | result |\n|---|---|---|")
    parts = args.only.split(",")
    if "loss" in parts:
        bench_loss(20)
    if "views" in parts:
        bench_views(4096)
    if "step" in parts:
        bench_step(10)
    if "knn" in parts:
        bench_knn(args.budget_min, args.subset)


if __name__ == "__main__":
    main()
