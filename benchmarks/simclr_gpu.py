"""SimCLR on CIFAR-10 on one GPU: a throughput smoke, then a run timed against wall-clock.

Called by ``benchmarks/simclr_gpu.sh`` (see there for usage). Steps, all in one process:

1. decode CIFAR-10 from the JPEG archives once (cached as .npz under $SSLCOURSE_CACHE);
2. smoke: train ``--smoke-epochs`` epochs (at most ``--smoke-s`` seconds; with torch.compile,
   falling back to eager if compiling fails) and measure steady-state images/s (epochs 2+);
3. timed run: the number of epochs whose cosine schedule ends inside ``--budget-min`` of
   training wall-clock at the measured speed (compile time included), kNN (k=200, t=0.1)
   on the full test set about every ``--knn-minutes`` of training, final linear probe;
4. a summary: images/s, kNN against training wall-clock, ``summary.json`` beside the
   ``metrics.json`` of each run.

Only torch, torchvision and numpy are needed (tqdm and matplotlib are optional).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _tqdm_shim() -> None:
    """A silent tqdm where the GPU image has none (the CIFAR loader imports it)."""
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:
        class _Bar:
            def __init__(self, iterable=None, **_):
                self.iterable = iterable

            def __iter__(self):
                return iter(self.iterable)

            def __enter__(self):
                return self

            def __exit__(self, *_):
                return False

            def update(self, *_): ...
            def set_postfix(self, *_, **__): ...
            def close(self): ...
            def write(self, s): print(s, file=sys.stderr)

        mod = types.ModuleType("tqdm")
        mod.tqdm = _Bar
        auto = types.ModuleType("tqdm.auto")
        auto.tqdm = _Bar
        mod.auto = auto
        sys.modules["tqdm"], sys.modules["tqdm.auto"] = mod, auto


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with the CIFAR-10 archives (or pickles)")
    p.add_argument("--out", default="runs/simclr_gpu")
    p.add_argument("--budget-min", type=float, default=7.5,
                   help="training wall-clock of the timed run (7.5: inside the 8-minute target and a 10-minute call)")
    p.add_argument("--smoke-epochs", type=int, default=3, help="epochs of the throughput smoke (the first compiles)")
    p.add_argument("--smoke-s", type=float, default=60.0, help="cut the smoke after this many training seconds")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--lr", type=float, default=None, help="default: SimCLRConfig's rule for the optimizer")
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--knn-minutes", type=float, default=1.5, help="kNN about this often (training minutes)")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="check the script on a CPU: small encoder, CIFAR subsets, seconds-long budgets")
    args = p.parse_args()

    _tqdm_shim()
    import torch

    from sslcourse.data import load_dataset
    from sslcourse.recipes.simclr import SimCLRConfig, train

    dry = args.cpu_dry_run
    if not torch.cuda.is_available() and not dry:
        print("no CUDA GPU visible: this benchmark needs one (--cpu-dry-run checks the script on a CPU)",
              file=sys.stderr)
        return 2
    device_name = "cpu (dry run)" if dry else torch.cuda.get_device_name()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n_train = len(load_dataset("cifar10", "train", root=args.data, progress=False))
    load_dataset("cifar10", "test", root=args.data, progress=False)
    print(f"[{time.perf_counter() - t0:6.1f}s] CIFAR-10 decoded ({n_train} train images) on "
          f"{device_name} with torch {torch.__version__}", flush=True)

    common = dict(dataset="cifar10", data_root=args.data, encoder="resnet18", batch_size=args.batch_size,
                  optimizer=args.optimizer, lr=args.lr, temperature=args.temperature, proj_hidden=512,
                  proj_dim=128, device="cuda", resume=False, progress=False)
    if dry:
        n_train = 1024
        common.update(encoder="small", width=8, batch_size=128, device="cpu", train_subset=n_train,
                      test_subset=256)
        args.no_compile = True
        # seconds, not the GPU's minutes: a 2-epoch smoke and a 20-second timed run
        args.smoke_epochs, args.smoke_s, args.budget_min, args.knn_minutes = 2, 10.0, 20 / 60, 5 / 60

    # -- 1. throughput smoke --------------------------------------------------------------
    compile_ok = not args.no_compile
    smoke = None
    for attempt in ([True, False] if compile_ok else [False]):
        try:
            smoke = train(SimCLRConfig(**common, epochs=args.smoke_epochs, compile=attempt, warmup_epochs=1,
                                       time_limit_min=args.smoke_s / 60, knn_every=0, probe=False,
                                       baselines=False, checkpoint_every=0, out_dir=str(out / "smoke")))
            compile_ok = attempt
            break
        except Exception as err:  # compile problems: measure eager instead
            print(f"smoke with compile={attempt} failed: {type(err).__name__}: {err}", file=sys.stderr)
    if smoke is None:
        return 1
    hist = smoke["history"]
    steady = [r["images_per_s"] for r in hist[1:]] or [hist[0]["images_per_s"]]
    ips = sorted(steady)[len(steady) // 2]
    overhead = max(0.0, hist[0]["train_time_s"] - n_train / ips)  # compile + cudnn autotuning
    print(f"[{time.perf_counter() - t0:6.1f}s] smoke: {ips:,.0f} images/s steady (compile={compile_ok}), "
          f"first-epoch overhead {overhead:.1f}s", flush=True)

    # -- 2. the timed run -----------------------------------------------------------------
    budget_s = 60 * args.budget_min
    epochs = max(1, int((budget_s - 0.5 * overhead) * ips / n_train * 0.97))
    epoch_s = n_train / ips
    knn_every = max(1, round(60 * args.knn_minutes / epoch_s))
    print(f"[{time.perf_counter() - t0:6.1f}s] timed run: {epochs} epochs planned for {args.budget_min} min, "
          f"kNN every {knn_every} epochs", flush=True)
    m = train(SimCLRConfig(**common, epochs=epochs, compile=compile_ok, warmup_epochs=min(10, epochs / 20),
                           time_limit_min=args.budget_min + 0.25, knn_every=knn_every, probe=True,
                           checkpoint_every=0, out_dir=str(out / "timed")))
    summary = {
        "device": device_name, "torch": torch.__version__, "compile": compile_ok,
        "batch_size": args.batch_size, "optimizer": args.optimizer, "temperature": args.temperature,
        "smoke_images_per_s": ips, "timed_images_per_s": m["images_per_s"], "epochs": m["epochs_done"],
        "train_time_s": m["train_time_s"], "final_knn": m["final_knn"], "linear_probe": m["linear_probe"],
        "baselines": m["baselines"], "knn_curve": m["knn"], "total_wall_s": time.perf_counter() - t0,
        "config": m["config"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print("\ntraining min     epoch   kNN top-1")
    for r in m["knn"]:
        print(f"{r['train_time_s'] / 60:12.2f}   {r['epoch']:>7}   {100 * r['knn']:6.2f}%")
    at = lambda minutes: max((r["knn"] for r in m["knn"] if r["train_time_s"] <= 60 * minutes), default=math.nan)
    print(f"\nimages/s {m['images_per_s']:,.0f}; kNN {100 * m['final_knn']:.2f}% after "
          f"{m['train_time_s'] / 60:.2f} min of training ({m['epochs_done']} epochs); best kNN within 5 min "
          f"{100 * at(5):.2f}%, within 8 min {100 * at(8):.2f}%; linear probe {100 * (m['linear_probe'] or 0):.2f}%; "
          f"total wall {summary['total_wall_s'] / 60:.1f} min; wrote {out / 'summary.json'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
