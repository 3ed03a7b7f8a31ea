"""Forward + backward time of the joint-embedding losses at B=512, d=128 on the CPU (COURSE.md section 7).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/joint_losses.py [--threads 1] [--repeats 50]

Prints a markdown table (median of ``--repeats`` timed calls after 5 warm-up calls) for
``byol``, ``invariance``, ``vicreg`` and its three terms, copied into docs/benchmarks/joint.md.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from sslcourse.losses.joint import byol, covariance_term, invariance, invariance_term, variance_term, vicreg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(args.batch, args.dim, generator=g)
    b = torch.randn(args.batch, args.dim, generator=g)
    cases = {
        "byol(p, z) (2 - 2 cos)": lambda x, y: byol(x, y),
        "invariance(z1, z2)": lambda x, y: invariance(x, y),
        "vicreg(z1, z2)": lambda x, y: vicreg(x, y),
        "invariance_term(z1, z2)": lambda x, y: invariance_term(x, y),
        "variance_term(z1)": lambda x, y: variance_term(x),
        "covariance_term(z1)": lambda x, y: covariance_term(x),
    }
    print(f"| loss (B={args.batch}, d={args.dim}, {args.threads} thread) | forward+backward, ms (median) |")
    print("|---|---|")
    for name, fn in cases.items():
        times = []
        for i in range(5 + args.repeats):
            x, y = a.clone().requires_grad_(), b.clone().requires_grad_()
            t0 = time.perf_counter()
            fn(x, y).backward()
            if i >= 5:
                times.append(time.perf_counter() - t0)
        print(f"| `{name}` | {1000 * statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
