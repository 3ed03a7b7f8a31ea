"""Raw-pixel and random-init kNN (k=200, t=0.1) on the shapes world, shape classification.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/clip_shapes_baselines.py [--n-train 10000] [--n-test 2000]

The numbers every topic that uses the shapes world stands its SSL accuracies beside.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from sslcourse.data.shapes import load_shapes
from sslcourse.evaluate import baselines, knn_accuracy
from sslcourse.nn import SmallCNN


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=2_000)
    p.add_argument("--seeds", type=int, default=3, help="random-init encoders to average")
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tr, te = load_shapes("train", n=args.n_train), load_shapes("test", n=args.n_test)
    held = load_shapes("heldout", n=args.n_test)
    gen_s = time.perf_counter() - t0
    norm = lambda x: (x - 0.5) / 0.25  # noqa: E731
    out = {"generate_seconds": round(gen_s, 1), "n_train": args.n_train, "n_test": args.n_test}
    for w in (16, 32):
        accs = [baselines(tr.images, tr.labels, te.images, te.labels, lambda: SmallCNN(3, w), transform=norm, seed=s)
                for s in range(args.seeds)]
        out["raw_pixels"] = accs[0]["raw_pixels"]
        out[f"random_init_smallcnn_w{w}"] = [a["random_init"] for a in accs]
    flat = lambda d: d.images.float().div(255).flatten(1)  # noqa: E731
    out["raw_pixels_heldout_pairs"] = knn_accuracy(flat(tr), tr.labels, flat(held), held.labels)
    out["chance"] = 1 / 8
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
