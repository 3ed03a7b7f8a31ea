"""``sslcourse pretrain NAME``: the encoders the package ships, each made by one fixed recipe run.

The lectures train live for a few seconds (the loss falls, the curve is drawn) and then evaluate
an encoder that was trained for longer, by this command, on the same data. Each shipped encoder
is two files in ``sslcourse/checkpoints/``:

    NAME.pt     the model in the course's checkpoint format (``sslcourse.checkpoint``), weights only
    NAME.json   how it was made and what it measured: the recipe and its exact flags, the data,
                seed, steps, wall time, the machine, and the final kNN / linear-probe accuracy
                beside the raw-pixel and random-init baselines of the same run

``sslcourse pretrain NAME`` reruns the recipe (``sslcourse train RECIPE FLAGS``) in a temporary
folder and replaces both files only when it finished (atomic renames); ``sslcourse pretrain --all``
makes every one (``make checkpoints``), ``sslcourse pretrain --list`` shows them. A rerun with the
same torch build and thread count reproduces the numbers within noise (the recipes are seeded;
CPU kernels are not bitwise deterministic across machines).

Load one with ``load_pretrained(NAME)`` (the model, in eval mode; ``.encoder`` is f1) and read its
record with ``pretrained_info(NAME)``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslcourse import checkpoint as ckpt_format
from sslcourse.data import load_dataset
from sslcourse.evaluate import baselines, extract_features, knn_accuracy
from sslcourse.recipes import CHECKPOINT_DIR, load_model, recipe
from sslcourse.utils import atomic_write

__all__ = ["CHECKPOINT_DIR", "Pretrained", "PRETRAINED", "pretrain", "load_pretrained", "pretrained_info",
           "random_twin", "evaluate_pretrained", "main"]


@dataclass(frozen=True)
class Pretrained:
    """One shipped encoder: the recipe run that makes it.

    Attributes:
        name: file stem in ``sslcourse/checkpoints``.
        recipe: the ``sslcourse train`` name (``simclr``, ``vicreg``, ...).
        argv: its flags, exactly as on the command line (output paths are added by ``pretrain``).
        data: the dataset the flags train on (``"shapes"`` or ``"cifar10"``).
        lecture: the lecture that loads it.
        what: one line for ``--list``.
        train_subset, test_subset: the images the recipe's kNN used (first N of each split, seed 0);
            ``evaluate_pretrained`` measures on the same ones.
        margin: how far its kNN must stay above raw pixels (and, on the shapes world, above its
            random-init twin) on those images; ``tests/test_pretrained.py`` holds it to that.
    """

    name: str
    recipe: str
    argv: tuple[str, ...]
    data: str
    lecture: str
    what: str
    train_subset: int | None = None
    test_subset: int | None = 1000
    margin: float = 0.10


# The shipped encoders. SmallCNN(width=32) everywhere: 0.24 M parameters (about 1 MB per file).
PRETRAINED: dict[str, Pretrained] = {p.name: p for p in [
    # On the shapes world colour is a nuisance (hue jitter of half a turn) and a crop must keep most
    # of the shape (area >= 40%): with SimCLR's CIFAR views (8%, hue 0.1) the same run reached kNN
    # 0.30 instead of 0.46 (docs/benchmarks/pretrained.md).
    Pretrained("simclr_shapes", "simclr",
               ("--dataset", "shapes", "--encoder", "small", "--width", "32", "--epochs", "24",
                "--batch-size", "256", "--optimizer", "adamw", "--temperature", "0.2",
                "--crop-scale-min", "0.4", "--hue", "0.5", "--proj-hidden", "256", "--proj-dim", "64",
                "--knn-every", "6", "--test-subset", "1000", "--no-progress"),
               "shapes", "05_contrastive_simclr", "SimCLR f1 on the shapes world (the offline default)", None, 1000, 0.15),
    Pretrained("vicreg_shapes", "vicreg",
               ("--data", "shapes", "--train-size", "10000", "--test-size", "1000", "--width", "32",
                "--steps", "1600", "--batch-size", "256", "--lr", "3e-3", "--crop-scale", "0.4", "--eval-every", "400",
                "--no-progress"),
               "shapes", "04_joint_embeddings_and_collapse", "VICReg f1 on the shapes world", 10000, 1000,
               0.08),  # measured +9.3 points on these 10,000 / 1,000 images, +11.0 on lecture 04's 4,000 / 1,000
    # CIFAR-10 (where a copy exists): 20,000 training images, kNN on the whole 10,000-image test set.
    Pretrained("simclr_cifar10", "simclr",
               ("--dataset", "cifar10", "--train-subset", "20000", "--encoder", "small", "--width", "32",
                "--epochs", "12", "--batch-size", "256", "--optimizer", "adamw", "--temperature", "0.2",
                "--crop-scale-min", "0.2", "--proj-hidden", "256", "--proj-dim", "64", "--knn-every", "5",
                "--no-progress"),
               "cifar10", "05_contrastive_simclr", "SimCLR f1 on CIFAR-10 (lecture 05 when CIFAR-10 is present)",
               20000, None, 0.15),
    Pretrained("vicreg_cifar10", "vicreg",
               ("--data", "cifar10", "--train-size", "20000", "--test-size", "0", "--width", "32",
                "--steps", "800", "--batch-size", "256", "--eval-every", "400", "--no-progress"),
               "cifar10", "04_joint_embeddings_and_collapse", "VICReg f1 on CIFAR-10", 20000, None, 0.15),
]}


def _strip(src: Path, dst: Path, record: dict[str, Any]) -> None:
    """Rewrite a training checkpoint as a shipped one: model weights and config only (no optimizer,
    RNG or data-order state), plus the record of how it was made. Floating-point tensors are stored
    in half precision (half the size; ``load_state_dict`` copies them back into float32 parameters)."""
    ck = ckpt_format.read(src)  # read to the CPU
    state = {k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}
    ckpt_format.save(dst, method=ck["method"], config=ck["config"], model=state, pretrained=record)


def _final_metrics(recipe_name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a recipe's metrics file, the same keys for every recipe."""
    if recipe_name == "simclr":
        base = metrics.get("baselines") or {}
        return {"knn": metrics["final_knn"], "linear_probe": metrics.get("linear_probe"),
                "raw_pixels": base.get("raw_pixels"), "random_init": base.get("random_init"),
                "epochs": metrics["epochs_done"], "train_time_s": metrics["train_time_s"],
                "knn_curve": metrics["knn"]}
    return {"knn": metrics["knn"], "linear_probe": metrics.get("linear"),
            "raw_pixels": metrics.get("raw_pixels"), "random_init": metrics.get("random_init"),
            "collapse_std": metrics.get("collapse_std"), "effective_rank": metrics.get("effective_rank"),
            "steps": metrics["steps"],
            "knn_curve": [{"step": r["step"], "knn": r["knn"]} for r in metrics.get("history", []) if "knn" in r]}


def pretrain(name: str, out_dir: str | Path = CHECKPOINT_DIR, extra_argv: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the recipe of ``PRETRAINED[name]`` and write ``out_dir/NAME.pt`` and ``NAME.json``.

    Args:
        name: a key of ``PRETRAINED``.
        out_dir: where the two files go (default: the package's ``checkpoints`` folder).
        extra_argv: flags appended to the recipe's (e.g. ``("--epochs", "1")`` for a quick check);
            they are recorded in the JSON.

    Returns:
        the record written to ``NAME.json``.
    """
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained encoder {name!r}; choose one of: {', '.join(PRETRAINED)}")
    spec, out_dir = PRETRAINED[name], Path(out_dir)
    argv = list(spec.argv) + list(extra_argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"pretrain-{name}-") as tmp:
        ckpt_file, metrics_file = Path(tmp) / "checkpoint.pt", Path(tmp) / "metrics.json"
        # SimCLR writes both into its --out-dir; the other recipes take the two paths
        outputs = (["--out-dir", tmp, "--no-resume"] if spec.recipe == "simclr"
                   else ["--checkpoint", str(ckpt_file), "--out", str(metrics_file)])
        status = recipe(spec.recipe).main(spec.recipe, argv + outputs)
        if status:
            raise RuntimeError(f"sslcourse train {spec.recipe} {' '.join(argv)} failed with exit status {status}; "
                               f"nothing was written to {out_dir}.")
        metrics = json.loads(metrics_file.read_text())
        record = {
            "name": name, "lecture": spec.lecture, "what": spec.what, "data": spec.data,
            "command": f"sslcourse pretrain {name}",
            "recipe": f"sslcourse train {spec.recipe} " + " ".join(argv),
            "seed": 0, "metrics": _final_metrics(spec.recipe, metrics),
            "wall_s": round(time.perf_counter() - start, 1),
            "machine": {"python": platform.python_version(), "torch": str(torch.__version__),
                        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                        "device": str(metrics.get("device", "cpu"))},
            "date": time.strftime("%Y-%m-%d"),
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        _strip(ckpt_file, out_dir / f"{name}.pt", record)
        with atomic_write(out_dir / f"{name}.json") as f:
            f.write_text(json.dumps(record, indent=1) + "\n")
    return record


def _shipped(name: str, checkpoint_dir: str | Path, suffix: str) -> Path:
    """``checkpoint_dir/NAME.suffix``, or a FileNotFoundError that lists what is there and how to make it."""
    path = Path(checkpoint_dir) / f"{name}{suffix}"
    if name not in PRETRAINED or not path.is_file():
        raise FileNotFoundError(f"no pretrained encoder {name!r} in {checkpoint_dir} (shipped: "
                                f"{', '.join(p for p in PRETRAINED if (Path(checkpoint_dir) / f'{p}{suffix}').is_file())});"
                                f" make it with `sslcourse pretrain {name}`.")
    return path


def pretrained_info(name: str, checkpoint_dir: str | Path = CHECKPOINT_DIR) -> dict[str, Any]:
    """The record of a shipped encoder (``NAME.json``): recipe, data, seed, wall time, final metrics."""
    return json.loads(_shipped(name, checkpoint_dir, ".json").read_text())


def load_pretrained(name: str, device: str | torch.device = "cpu",
                    checkpoint_dir: str | Path = CHECKPOINT_DIR) -> nn.Module:
    """A shipped encoder's model, in eval mode (``.encoder`` is f1): ``load_pretrained("simclr_shapes")``."""
    return load_model(_shipped(name, checkpoint_dir, ".pt"), device=device)


def random_twin(encoder: nn.Module, seed: int = 1) -> nn.Module:
    """The same architecture as ``encoder`` at a fresh random initialisation (the fair baseline).

    Every layer with ``reset_parameters`` is re-drawn under ``seed`` (BatchNorm's running statistics
    too); buffers without it (the input normalisation of SimCLR's f1) are kept. The global RNG is
    left untouched.
    """
    twin = copy.deepcopy(encoder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in twin.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return twin.eval()


def evaluate_pretrained(name: str, k: int = 200, t: float = 0.1,
                        checkpoint_dir: str | Path = CHECKPOINT_DIR) -> dict[str, Any]:
    """kNN top-1 of a shipped f1 beside raw pixels and its random twin, on the images of its record.

    Returns:
        ``{"knn", "raw_pixels", "random_init", "data", "n_train", "n_test"}`` (fractions in [0, 1]).

    Raises:
        FileNotFoundError: the encoder is not shipped, or its dataset (CIFAR-10) is not on this machine.
    """
    model = load_pretrained(name, checkpoint_dir=checkpoint_dir)
    spec = PRETRAINED[name]
    train = load_dataset(spec.data, "train", subset=spec.train_subset, seed=0)
    test = load_dataset(spec.data, "test", subset=spec.test_subset, seed=0)
    f1 = model.encoder
    knn = knn_accuracy(extract_features(f1, train.images), train.labels, extract_features(f1, test.images),
                       test.labels, k=k, t=t)
    base = baselines(train.images, train.labels, test.images, test.labels, lambda: random_twin(f1), k=k, t=t)
    return {"knn": knn, **base, "data": spec.data, "n_train": len(train), "n_test": len(test)}


def main(argv: list[str] | None = None) -> int:
    """``sslcourse pretrain NAME... | --all | --list``."""
    p = argparse.ArgumentParser(prog="sslcourse pretrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help=f"encoders to (re)make: {', '.join(PRETRAINED)}")
    p.add_argument("--all", action="store_true", help="make every shipped encoder")
    p.add_argument("--list", action="store_true", help="list the shipped encoders and their measured kNN")
    p.add_argument("--out-dir", default=str(CHECKPOINT_DIR), help="where NAME.pt and NAME.json go")
    args = p.parse_args(argv)
    if args.list or not (args.names or args.all):
        for spec in PRETRAINED.values():
            try:
                m = pretrained_info(spec.name, args.out_dir)["metrics"]
                got = (f"kNN {m['knn']:.1%} (raw pixels {m['raw_pixels']:.1%}, random init {m['random_init']:.1%})")
            except FileNotFoundError:
                got = "not made yet"
            print(f"{spec.name:22s} {spec.lecture:32s} {got}\n{'':22s} {spec.what}")
        return 0
    names = list(PRETRAINED) if args.all else args.names
    unknown = [n for n in names if n not in PRETRAINED]
    if unknown:
        print(f"sslcourse pretrain: unknown encoder(s) {', '.join(unknown)}; choose from {', '.join(PRETRAINED)}",
              file=sys.stderr)
        return 2
    for name in names:
        record = pretrain(name, args.out_dir)
        m = record["metrics"]
        print(f"{name}: kNN {m['knn']:.1%} (raw pixels {m['raw_pixels']:.1%}, random init {m['random_init']:.1%}) "
              f"in {record['wall_s']:.0f} s; wrote {Path(args.out_dir) / (name + '.pt')} and .json")
    return 0
