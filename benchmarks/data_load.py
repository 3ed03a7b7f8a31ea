"""Time CIFAR-10 loading: the first load (decode + write the cache) and a cached load.

Usage (from the repository root):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_load.py [--root PATH] [--splits test train] [--decoder auto|pil]

The cache goes to a fresh temporary folder (deleted at the end), so the first load is always a
cold one; the data is found like ``load_dataset`` finds it (``--root``, ``$SSLCOURSE_DATA``,
``../shared/data/cifar10-jpeg``). Prints wall-clock and CPU seconds of this process, and the
load average, since the machines it runs on are often shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, help="CIFAR-10 location (default: as load_dataset finds it)")
    parser.add_argument("--splits", nargs="+", default=["test", "train"], choices=["train", "test"])
    parser.add_argument("--decoder", choices=["auto", "pil"], default="auto",
                        help="auto: torchvision's libjpeg-turbo for JPEGs (the default); pil: PIL only")
    parser.add_argument("--repeats", type=int, default=3, help="cached loads per split (the median is shown)")
    args = parser.parse_args()

    cache = tempfile.mkdtemp(prefix="sslcourse-bench-cache-")
    os.environ["SSLCOURSE_CACHE"] = cache
    import torch

    torch.set_num_threads(1)
    t = time.perf_counter()
    import torchvision.io  # noqa: F401  (the JPEG decoder; imported once per process)

    print(f"import torchvision.io: {time.perf_counter() - t:.2f} s wall")
    from sslcourse.data import cifar10_cache_path, load_dataset

    if args.decoder == "pil":
        import sslcourse.data.cifar as cifar

        cifar._fast_jpeg = lambda: None  # every image through PIL

    def timed(split: str):
        wall, cpu = time.perf_counter(), time.process_time()
        dataset = load_dataset("cifar10", split, root=args.root, progress=False)
        return dataset, time.perf_counter() - wall, time.process_time() - cpu

    try:
        print(f"source: {args.root or 'found by load_dataset'}; decoder {args.decoder}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print("| split | images | first load (decode + cache): wall / CPU | cached load: wall / CPU | cache size |")
        print("|---|---|---|---|---|")
        for split in args.splits:
            dataset, first_wall, first_cpu = timed(split)
            runs = sorted((timed(split)[1:] for _ in range(args.repeats)), key=lambda r: r[0])
            wall, cpu = runs[len(runs) // 2]
            size = cifar10_cache_path(split, args.root).stat().st_size / 2**20
            print(f"| {split} | {len(dataset):,} | {first_wall:.1f} s / {first_cpu:.1f} s | "
                  f"{wall:.2f} s / {cpu:.2f} s | {size:.0f} MiB |", flush=True)
        print(f"load average afterwards {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
