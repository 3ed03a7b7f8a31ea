"""kNN and linear-probe accuracy of BYOL, VICReg and SimSiam after a fixed CPU budget (topic 04).

Each run is ``sslcourse train METHOD ...`` (``sslcourse.recipes.joint.main``) with the same
budget: a SmallCNN, a fixed number of optimizer steps, the same views; it reports kNN (k=200,
t=0.1) and a linear probe on frozen encoder features, beside raw-pixel and random-init kNN
measured the same way, plus the final collapse_std and effective rank.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/joint_methods.py --data shapes cifar10 --steps 400

Results go to ``build/benchmarks/joint/<data>_<method>.json`` and a markdown table is printed
(copied into docs/benchmarks/joint.md). CIFAR-10 runs are skipped when no local copy exists.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from sslcourse.recipes.joint import main as train_cli


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["shapes", "cifar10"])
    p.add_argument("--methods", nargs="+", default=["byol", "vicreg", "simsiam"])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--train-size", type=int, default=4000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="build/benchmarks/joint")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows = []
    for data in args.data:
        for method in args.methods:
            path = out / f"{data}_{method}.json"
            t0 = time.perf_counter()
            code = train_cli(method, ["--data", data, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
                                      "--width", str(args.width), "--train-size", str(args.train_size),
                                      "--test-size", str(args.test_size), "--lr", str(args.lr),
                                      "--eval-every", str(max(args.steps // 4, 1)), "--device", "cpu",
                                      "--out", str(path)])
            if code != 0:  # e.g. no local CIFAR-10 copy (the CLI says so)
                break
            r = json.loads(path.read_text())
            r["wall_s"] = time.perf_counter() - t0
            path.write_text(json.dumps(r, indent=1))
            rows.append(r)
    print("\n| data | method | steps | kNN | linear | raw-pixel kNN | random-init kNN | collapse_std (1/sqrt(d)) | eff. rank | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['method']} | {r['steps']} | {r['knn']:.3f} | {r['linear']:.3f} | {r['raw_pixels']:.3f} | "
              f"{r['random_init']:.3f} | {r['collapse_std']:.3f} ({r['healthy_std']:.3f}) | {r['effective_rank']:.1f} | "
              f"{r['wall_s']:.0f} |")


if __name__ == "__main__":
    main()
