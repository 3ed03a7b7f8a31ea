"""mini-CLIP on the shapes world: training time and every evaluation, for both text towers.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/clip_train.py [--steps 300] [--towers transformer bow] [--threads 1]

Each run = ``train_clip(CLIPRunConfig(n_train=4000, steps=STEPS, batch_size=64, seed=0), text_tower=TOWER)`` (the
lecture's CPU run) followed by ``zeroshot.evaluate`` on 1,000 test and 1,000 held-out images
(few-shot pool: 2,000 train-split images of another seed). Prints one JSON object per run.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from sslcourse import zeroshot
from sslcourse.recipes.clip import CLIPRunConfig, train_clip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--towers", nargs="+", default=["transformer", "bow"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for tower in args.towers:
        cfg = CLIPRunConfig(n_train=args.n_train, steps=args.steps, batch_size=64, seed=args.seed, progress=False,
                            device="cpu")
        run = train_clip(cfg, text_tower=tower)
        t = time.perf_counter()
        metrics = zeroshot.evaluate(run.model, run.tokenizer, n_test=1000, n_fewshot_pool=2000, seed=args.seed)
        metrics.update(text_tower=tower, steps=args.steps, n_train=args.n_train, threads=args.threads,
                       train_seconds=round(run.seconds, 1), eval_seconds=round(time.perf_counter() - t, 1),
                       final_loss=round(run.history.rows[-1]["loss"], 3), final_tau=round(run.history.rows[-1]["tau"], 4))
        print(json.dumps(metrics), flush=True)


if __name__ == "__main__":
    main()
