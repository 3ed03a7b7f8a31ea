"""clip_loss forward+backward time against open_clip's ClipLoss, in one run (CPU, B=512, d=128).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/clip_loss_bench.py [--batch 512] [--dim 128] [--repeats 50]

open_clip is a benchmark-only extra (``pip install open_clip_torch``); without it only our loss is timed.
open_clip's ClipLoss expects unit-norm features; ours normalises inside, so the timed call of
ours includes the two normalisations and open_clip's is given pre-normalised features (timed
with and without the normalisation, for a fair comparison).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from sslcourse.losses.clip import clip_loss


def timeit(fns: dict, repeats: int) -> dict[str, float]:
    """Median milliseconds of each function; calls are interleaved so that a shared, loaded
    machine slows every contender alike."""
    for fn in fns.values():  # warm-up
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: round(statistics.median(v) * 1e3, 3) for name, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    img = torch.randn(args.batch, args.dim, generator=g, requires_grad=True)
    txt = torch.randn(args.batch, args.dim, generator=g, requires_grad=True)
    t = torch.tensor(2.659, requires_grad=True)

    def ours():
        clip_loss(img, txt, t.exp()).backward()

    out = {"batch": args.batch, "dim": args.dim, "threads": args.threads, "torch": torch.__version__,
           "cpu": platform.processor() or platform.machine()}
    try:
        from open_clip.loss import ClipLoss
        import open_clip
    except ImportError:
        out["open_clip"] = "not installed (pip install open_clip_torch)"
        out.update(timeit({"sslcourse_clip_loss_ms": ours}, args.repeats))
    else:
        ref = ClipLoss()

        def theirs_with_norm():
            ref(F.normalize(img, dim=-1), F.normalize(txt, dim=-1), t.exp()).backward()

        ni, nt = F.normalize(img.detach(), dim=-1).requires_grad_(), F.normalize(txt.detach(), dim=-1).requires_grad_()

        def theirs_prenormalised():
            ref(ni, nt, t.exp()).backward()

        with torch.no_grad():
            a = float(clip_loss(img, txt, t.exp()))
            b = float(ref(F.normalize(img, dim=-1), F.normalize(txt, dim=-1), t.exp()))
        out.update({"open_clip_version": open_clip.__version__,
                    "same_value": abs(a - b) < 1e-5, "loss_ours": round(a, 6), "loss_open_clip": round(b, 6)})
        out.update(timeit({"sslcourse_clip_loss_ms": ours,
                           "open_clip_ClipLoss_with_normalisation_ms": theirs_with_norm,
                           "open_clip_ClipLoss_prenormalised_ms": theirs_prenormalised}, args.repeats))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
