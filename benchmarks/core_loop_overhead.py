"""Overhead of sslcourse.train.fit over a bare hand-written loop, and evaluation timings, on CPU.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/core_loop_overhead.py

Both loops train the same tiny model (so the step itself costs almost nothing and the
difference is the loop's bookkeeping: autocast context, loss sync + NaN guard, history row,
scheduler, progress bar, data stream). Then: one checkpoint write, kNN and linear probe at a
digits-like and a CIFAR-like size. Single-threaded. The loops are timed in CPU time of this
process (time.process_time, median of 5 alternating repeats after a warm-up), which is robust to
other jobs sharing the machine; the rest is wall time.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from sslcourse.evaluate import knn_accuracy, linear_probe
from sslcourse.train import TensorBatches, fit

torch.set_num_threads(1)
STEPS = 2000


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 1)

    def forward(self, batch):
        x, y = batch
        return ((self.lin(x).squeeze(1) - y) ** 2).mean()


def bare_loop(data: TensorBatches) -> float:
    model = Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    it, t0 = iter(data), time.process_time()
    for _ in range(STEPS):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(data)
            batch = next(it)
        loss = model(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.process_time() - t0) / STEPS


def fit_loop(data: TensorBatches, progress: bool) -> float:
    t0 = time.process_time()
    fit(Tiny(), data, steps=STEPS, lr=1e-3, device="cpu", progress=progress)
    return (time.process_time() - t0) / STEPS


def main() -> None:
    x = torch.randn(4096, 16)
    y = x.sum(1)
    data = lambda: TensorBatches(x, y, batch_size=64, seed=0)  # noqa: E731
    bare_loop(data()), fit_loop(data(), False)  # warm-up: lazy imports inside torch.optim
    times: dict[str, list[float]] = {"bare": [], "quiet": [], "shown": []}
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        for _ in range(5):
            times["bare"].append(bare_loop(data()))
            times["quiet"].append(fit_loop(data(), False))
            times["shown"].append(fit_loop(data(), True))
    bare, quiet, shown = (statistics.median(times[k]) for k in ("bare", "quiet", "shown"))
    print(f"CPU time per step: bare loop {bare * 1e6:.0f} us, fit(progress=False) {quiet * 1e6:.0f} us "
          f"(+{(quiet - bare) * 1e6:.0f} us), fit(progress=True) {shown * 1e6:.0f} us (+{(shown - bare) * 1e6:.0f} us)")

    from torchvision.models import resnet18
    model = resnet18(weights=None)
    with tempfile.TemporaryDirectory() as tmp:
        from sslcourse.utils import atomic_torch_save
        t0 = time.perf_counter()
        atomic_torch_save({"model": model.state_dict()}, Path(tmp) / "ck.pt")
        print(f"atomic checkpoint of a ResNet-18 state_dict (46 MB): {time.perf_counter() - t0:.2f} s")

    g = torch.Generator().manual_seed(0)
    for n_train, n_test, d in [(1437, 360, 128), (10000, 2000, 512)]:
        tr, te = torch.randn(n_train, d, generator=g), torch.randn(n_test, d, generator=g)
        ytr, yte = torch.randint(0, 10, (n_train,), generator=g), torch.randint(0, 10, (n_test,), generator=g)
        t0 = time.perf_counter()
        knn_accuracy(tr, ytr, te, yte, k=200, t=0.1)
        t_knn = time.perf_counter() - t0
        t0 = time.perf_counter()
        linear_probe(tr, ytr, te, yte)
        t_lin = time.perf_counter() - t0
        print(f"train {n_train} x test {n_test}, d={d}: kNN (k=200) {t_knn:.2f} s, "
              f"linear probe (L-BFGS, 100 it) {t_lin:.2f} s")


if __name__ == "__main__":
    main()
