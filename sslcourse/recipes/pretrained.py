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
import hashlib
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
from sslcourse import zeroshot
from sslcourse.collapse import CollapseMonitor
from sslcourse.data.shapes import SHAPES
from sslcourse.evaluate import baselines, extract_features, knn_accuracy, label_efficiency
from sslcourse.pretext.registry import METHODS as PRETEXT_TASKS
from sslcourse.pretext.registry import load_images
from sslcourse.recipes import CHECKPOINT_DIR, load_model, recipe
from sslcourse.utils import atomic_write, to_float_images

__all__ = ["CHECKPOINT_DIR", "COLLAPSED_RANK", "COLLAPSED_SPREAD", "collapsed", "Pretrained", "PRETRAINED", "pretrain",
           "load_pretrained", "pretrained_info", "random_twin", "evaluate_pretrained", "main"]


@dataclass(frozen=True)
class Pretrained:
    """One shipped encoder: the recipe run that makes it.

    Attributes:
        name: file stem in ``sslcourse/checkpoints``.
        recipe: the ``sslcourse train`` name (``simclr``, ``vicreg``, ...).
        argv: its flags, exactly as on the command line (output paths are added by ``pretrain``).
        data: the dataset the flags train on (``"shapes"``, ``"cifar10"``, or for a pretext task
            ``"upright-oriented"``, the upright shapes world of lecture 01).
        lecture: the lecture that loads it.
        what: one line for ``--list``.
        train_subset, test_subset: the images the recipe's kNN used (first N of each split, seed 0);
            ``evaluate_pretrained`` measures on the same ones.
        margin: how far its kNN must stay above raw pixels (and, on the shapes world, above its
            random-init twin) on those images; ``tests/test_pretrained.py`` holds it to that.
        image_size: the side of the images it is evaluated on (the pretext tasks train on 16 px,
            patch placement on 40 px: a 3x3 grid needs room to move).
        metric: ``"knn"`` (k = 200 over every labelled training image), ``"linear@100"`` (a linear
            probe on 100 labelled images per class: lecture 01's protocol for pretext tasks, whose
            features are read by a classifier, as in Doersch et al. and Gidaris et al.) or
            ``"zero_shot"`` (mini-CLIP: shape accuracy from prompts alone, no label, beside kNN on
            raw pixels and on the random-init image tower with the ``train_subset`` labelled images)
            or ``"spread"`` (a collapse ablation: collapse_std * sqrt(d) of the embeddings z on 512
            held-out images, 1 = spread out, 0 = collapsed; its claim is that it collapses, see
            ``collapsed``; effective rank, kNN of f1 and the baselines are recorded beside it).
        eval_data: the dataset it is measured on, when not ``data`` (colorization trains where
            colours follow the shapes and is measured where they do not).
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
    image_size: int = 32
    metric: str = "knn"
    eval_data: str | None = None


# When a collapse ablation counts as collapsed (lecture 04's bars), on 512 held-out images: its
# embeddings squeeze together (spread = collapse_std * sqrt(d) below COLLAPSED_SPREAD; 1 = spread over
# the sphere, 0 = one point), or they use only a few directions (effective rank below COLLAPSED_RANK:
# a projector that ends in BatchNorm, like SimSiam's, keeps every dimension's variance at 1, so its
# collapse shows in the rank, not in the spread).
COLLAPSED_SPREAD = 0.3
COLLAPSED_RANK = 3.0


def collapsed(metrics: dict[str, float]) -> bool:
    """Whether measured ``{"spread", "effective_rank", ...}`` count as collapsed (see ``COLLAPSED_SPREAD``)."""
    return metrics["spread"] < COLLAPSED_SPREAD or metrics["effective_rank"] < COLLAPSED_RANK

_ABLATION_ARGV = ("--data", "shapes", "--train-size", "10000", "--test-size", "1000", "--width", "32", "--steps", "300",
                  "--batch-size", "128", "--lr", "3e-3", "--crop-scale", "0.4", "--eval-every", "100", "--no-progress")

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
                "--steps", "2400", "--batch-size", "256", "--lr", "3e-3", "--crop-scale", "0.4", "--eval-every", "400",
                "--no-progress"),
               "shapes", "04_joint_embeddings_and_collapse", "VICReg f1 on the shapes world", 10000, 1000,
               0.10),  # 2,400 steps: +14.5 points over raw pixels on these images (1,600 steps gave +9.2)
    # BYOL and SimSiam bootstrap from what a random target sees. With VICReg's recipe (lr 3e-3, raw
    # pixels) both collapsed dimensionally onto the background's lightness (effective rank 5-6, kNN
    # 19.7% and 20.6% against raw pixels 24.4%; docs/benchmarks/pretrained.md). What learns: each image
    # standardised by its own mean and std (brightness and contrast gone), a slow rate, a 10x faster
    # predictor, batches of 128 and a long run: 5,000 steps gave kNN 0.342 (SimSiam) and 0.341 (BYOL),
    # just short of 10 points. SimSiam ships with 8,000 steps (0.369), BYOL, which climbs more slowly,
    # with 10,000 (0.360; int8 files 0.361 and 0.362).
    *[Pretrained(f"{method}_shapes", method,
                 ("--data", "shapes", "--train-size", "10000", "--test-size", "1000", "--width", "32",
                  "--standardize-input", "--steps", steps, "--batch-size", "128", "--lr", "5e-4",
                  "--weight-decay", "1e-4", "--predictor-lr", "10", "--crop-scale", "0.4", "--eval-every", "500",
                  "--no-progress"),
                 "shapes", "04_joint_embeddings_and_collapse", f"{label} f1 on the shapes world (standardised input)",
                 10000, 1000, 0.10)
      for method, label, steps in [("byol", "BYOL", "10000"), ("simsiam", "SimSiam", "8000")]],
    # Lecture 04's ablations, each on vicreg_shapes' data and views for 300 steps of 128 pairs (collapse
    # comes early): what each one claims is that its embeddings collapse (metric "spread").
    *[Pretrained(f"{name}_shapes", method, _ABLATION_ARGV + flags, "shapes", "04_joint_embeddings_and_collapse",
                 what, 10000, 1000, metric="spread")
      for name, method, flags, what in [
          ("invariance", "invariance", (), "naive invariance, no repair (collapses completely)"),
          ("byol_online", "byol", ("--target", "online"), "BYOL with target = online network (collapses completely)"),
          ("simsiam_nosg", "simsiam", ("--no-stop-gradient",),
           "SimSiam without the stop-gradient (collapses to under two directions)"),
          ("byol_nopred", "byol", ("--no-predictor",), "BYOL without the predictor (collapses)"),
          ("vicreg_novar", "vicreg", ("--var-weight", "0"), "VICReg without the variance term (collapses)")]],
    # Lecture 01's pretext tasks, the lecture's SmallCNN(width=16), on all 10,000 generated training
    # images of the upright world (4,915 show one of the four oriented shapes); measured like the
    # lecture: a linear probe on 100 labels per class of 4,000 / 1,000 generated images.
    Pretrained("rotation_upright", "rotation",
               ("--data", "upright-oriented", "--image-size", "16", "--width", "16", "--n-train", "0",
                "--steps", "1500", "--batch-size", "64", "--lr", "2e-3", "--no-progress"),
               "upright-oriented", "01_pretext_tasks", "rotation prediction f1 on the upright shapes world",
               4000, 1000, 0.10, 16, "linear@100"),
    # 40 px: room for a 3x3 grid of 8 px patches (gap 2, jitter 1) to move (default_grid)
    Pretrained("patches_upright", "patches",
               ("--data", "upright-oriented", "--image-size", "40", "--width", "16", "--n-train", "0",
                "--steps", "6000", "--batch-size", "256", "--lr", "2e-3", "--no-progress"),
               "upright-oriented", "01_pretext_tasks", "relative patch placement f1 on the upright shapes world",
               4000, 1000, 0.10, 40, "linear@100"),
    # Colorization assumes colours that follow the content: it trains where every shape has its own
    # colour (upright-coloured) and is measured, grey in, on the usual world where colours are random.
    # On that world itself it stays near its random twin (docs/benchmarks/pretext.md). The input jitter
    # keeps the grey level from naming the colour by itself (Colorization; 0.459 -> 0.535 on the record's images).
    Pretrained("colorization_upright", "colorization",
               ("--data", "upright-coloured", "--image-size", "16", "--width", "16", "--n-train", "0",
                "--steps", "6000", "--batch-size", "64", "--lr", "2e-3", "--input-jitter", "0.5", "--no-progress"),
               "upright-coloured", "01_pretext_tasks", "colorization f1, trained where colours follow the shapes",
               4000, 1000, 0.10, 16, "linear@100", "upright-oriented"),
    # Lecture 06's mini-CLIP (CLIPConfig's towers), 1,500 steps instead of the lecture's live 600.
    # Measured on 1,000 test images: zero-shot shape accuracy from prompts, against kNN with 2,000
    # labelled training images on raw pixels and on the image tower at a random initialisation.
    Pretrained("clip_shapes", "clip",
               ("--dataset", "shapes", "--n-train", "4000", "--steps", "1500", "--batch-size", "64", "--no-progress"),
               "shapes", "06_clip_zero_shot", "mini-CLIP (image and text towers) on the captioned shapes world",
               2000, 1000, 0.10, 32, "zero_shot"),
    # CIFAR-10 (where a copy exists): 20,000 training images, kNN on the whole 10,000-image test set.
    Pretrained("simclr_cifar10", "simclr",
               ("--dataset", "cifar10", "--train-subset", "20000", "--encoder", "small", "--width", "32",
                "--epochs", "12", "--batch-size", "256", "--optimizer", "adamw", "--temperature", "0.2",
                "--crop-scale-min", "0.2", "--proj-hidden", "256", "--proj-dim", "64", "--knn-every", "5",
                "--no-progress"),
               "cifar10", "05_contrastive_simclr", "SimCLR f1 on CIFAR-10 (lecture 05 when CIFAR-10 is present)",
               20000, None, 0.15),
    # VICReg, BYOL and SimSiam on CIFAR-10: the same flags but the length (BYOL and SimSiam learn here,
    # not on the shapes world, see above; SimSiam's 800 steps gave kNN 0.417, 13.3 points over raw pixels)
    *[Pretrained(f"{method}_cifar10", method,
                 ("--data", "cifar10", "--train-size", "20000", "--test-size", "0", "--width", "32",
                  "--steps", steps, "--batch-size", "256", "--eval-every", "400", "--no-progress"),
                 "cifar10", "04_joint_embeddings_and_collapse", f"{label} f1 on CIFAR-10", 20000, None, 0.15)
      for method, label, steps in [("vicreg", "VICReg", "800"), ("byol", "BYOL", "1600"),
                                   ("simsiam", "SimSiam", "1600")]],
]}


def _strip(src: Path, dst: Path, record: dict[str, Any]) -> None:
    """Rewrite a training checkpoint as a shipped one: model weights and config only (no optimizer,
    RNG or data-order state), plus the record of how it was made. Weight matrices are stored as int8
    with a scale per row (``sslcourse.checkpoint``), vectors in half precision: about a quarter of
    float32. ``checkpoint.read`` and ``load_state_dict`` turn both back into float32."""
    ck = ckpt_format.read(src)  # read to the CPU
    state = {k: v.half() if v.is_floating_point() and v.dim() < 2 else v for k, v in ck["model"].items()}
    extras = {"tokenizer": ck["tokenizer"]} if "tokenizer" in ck else {}  # mini-CLIP: part of the model
    ckpt_format.save(dst, method=ck["method"], config=ck["config"], model=state, int8=True, pretrained=record,
                     **extras)


def _measured_run(spec: Pretrained, ckpt_file: Path) -> dict[str, Any]:
    """A pretext or CLIP run measured as its shipped file will be (``_measure``), plus its curve."""
    history = ckpt_format.read(ckpt_file)["history"]
    every = max(1, len(history) // 10)
    key = "pretext_curve" if spec.recipe in PRETEXT_TASKS else "loss_curve"
    curve = [{"step": r["step"], **{k: r[k] for k in ("acc", "loss") if k in r}} for r in history[every - 1::every]]
    return {**_measure(load_model(ckpt_file), spec), "steps": history[-1]["step"], key: curve}


def _final_metrics(recipe_name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a recipe's metrics file, the same keys for every recipe."""
    if recipe_name in PRETEXT_TASKS + ("clip",):  # already in that form
        return metrics
    if recipe_name == "simclr":
        base = metrics.get("baselines") or {}
        return {"knn": metrics["final_knn"], "linear_probe": metrics.get("linear_probe"),
                "raw_pixels": base.get("raw_pixels"), "random_init": base.get("random_init"),
                "epochs": metrics["epochs_done"], "train_time_s": metrics["train_time_s"],
                "knn_curve": metrics["knn"]}
    return {"knn": metrics["knn"], "linear_probe": metrics.get("linear"),
            "raw_pixels": metrics.get("raw_pixels"), "random_init": metrics.get("random_init"),
            "collapse_std": metrics.get("collapse_std"), "effective_rank": metrics.get("effective_rank"),
            "spread": metrics["spread"], "knn_embedding": metrics.get("knn_embedding"),
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
        # SimCLR writes both into its --out-dir, a pretext task its checkpoint into --out (measured
        # here, below); the joint-embedding recipes take the two paths
        if spec.recipe == "simclr":
            outputs = ["--out-dir", tmp, "--no-resume"]
        elif spec.recipe in PRETEXT_TASKS:
            outputs, ckpt_file = ["--out", tmp, "--no-eval"], Path(tmp) / f"{spec.recipe}.pt"
        elif spec.recipe == "clip":
            outputs = ["--out", str(ckpt_file)]
        else:
            outputs = ["--checkpoint", str(ckpt_file), "--out", str(metrics_file)]
        status = recipe(spec.recipe).main(spec.recipe, argv + outputs)
        if status:
            raise RuntimeError(f"sslcourse train {spec.recipe} {' '.join(argv)} failed with exit status {status}; "
                               f"nothing was written to {out_dir}.")
        metrics = (_measured_run(spec, ckpt_file) if spec.recipe in PRETEXT_TASKS + ("clip",)
                   else json.loads(metrics_file.read_text()))
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
                    checkpoint_dir: str | Path = CHECKPOINT_DIR) -> Any:
    """A shipped encoder's model, in eval mode (``.encoder`` is f1): ``load_pretrained("simclr_shapes")``.

    For mini-CLIP (``clip_shapes``) the pair ``(model, tokenizer)``, as ``recipes.clip.load_model`` gives it.
    """
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


def _images(spec: Pretrained, split: str):
    """The images a spec is measured on: the first ``train_subset`` / ``test_subset`` of a split (seed 0)."""
    n = spec.train_subset if split == "train" else spec.test_subset
    return load_images(spec.eval_data or spec.data, split, n, image_size=spec.image_size, seed=0)


class _ImageTower(nn.Module):
    """A mini-CLIP's image embedding as an encoder: images -> ``encode_image`` (for the kNN baselines)."""

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(images)


_BASELINES: dict[tuple, dict[str, float]] = {}


def _baselines(spec: Pretrained, train: Any, test: Any, twin: nn.Module, k: int, t: float) -> dict[str, float]:
    """``evaluate.baselines`` of a random ``twin`` on a spec's images, computed once per process for
    every identical twin: encoders of one architecture get the same twin (``random_twin`` draws under
    a fixed seed), e.g. VICReg, BYOL and SimSiam on CIFAR-10 or the five collapse ablations. The key
    is the twin's weights themselves, so two encoders share a result only when their twins are equal."""
    digest = hashlib.sha256()
    for name, value in twin.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    key = (spec.eval_data or spec.data, spec.train_subset, spec.test_subset, spec.image_size, k, t, digest.hexdigest())
    if key not in _BASELINES:
        _BASELINES[key] = baselines(train.images, train.labels, test.images, test.labels, lambda: twin, k=k, t=t)
    return dict(_BASELINES[key])


def _measure(model: Any, spec: Pretrained, k: int = 200, t: float = 0.1) -> dict[str, Any]:
    """``spec.metric`` of a shipped model beside raw pixels and its random twin, on the spec's images,
    measured the same way (``model``: what ``load_model`` returns; f1 is its ``.encoder``)."""
    train, test = _images(spec, "train"), _images(spec, "test")
    sizes = {"data": spec.eval_data or spec.data, "n_train": len(train), "n_test": len(test)}
    if spec.metric == "zero_shot":  # mini-CLIP: (model, tokenizer); no label for CLIP, labels for the baselines
        clip, tokenizer = model
        classifier = zeroshot.zero_shot_classifier(clip, tokenizer, SHAPES, zeroshot.SHAPE_TEMPLATES)
        acc = zeroshot.zero_shot_accuracy(zeroshot.embed_images(clip, test.images), test.labels, classifier)
        base = baselines(train.images, train.labels, test.images, test.labels,
                         lambda: _ImageTower(random_twin(clip)), k=k, t=t)
        return {"zero_shot": acc, **base, **sizes}
    f1 = model.encoder
    if spec.metric == "spread":  # a collapse ablation: what the loss saw (z), and what is kept (f1)
        monitor = CollapseMonitor(test.images[:512], train.images, train.labels, test.images, test.labels, k=k, t=t,
                                  embedding_knn=False)
        m = monitor.measure(model)
        base = _baselines(spec, train, test, random_twin(f1), k, t)
        return {"spread": m["spread"], "effective_rank": m["effective_rank"], "knn": m["knn"], **base, **sizes}
    if spec.metric == "knn":
        knn = knn_accuracy(extract_features(f1, train.images), train.labels, extract_features(f1, test.images),
                           test.labels, k=k, t=t)
        base = _baselines(spec, train, test, random_twin(f1), k, t)
        return {"knn": knn, **base, **sizes}
    if spec.metric != "linear@100":
        raise ValueError(f"unknown metric {spec.metric!r} for {spec.name}; use 'knn', 'linear@100', 'zero_shot' or "
                         f"'spread'")

    def probe(f_train: torch.Tensor, f_test: torch.Tensor) -> float:  # 100 labelled images per class
        return label_efficiency(f_train, train.labels, f_test, test.labels, (100,), method="linear", seed=0)[100]

    def features(encoder: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return extract_features(encoder, train.images), extract_features(encoder, test.images)

    pixels = (to_float_images(train.images).flatten(1), to_float_images(test.images).flatten(1))
    return {"linear@100": probe(*features(f1)), "raw_pixels": probe(*pixels),
            "random_init": probe(*features(random_twin(f1))), **sizes}


def evaluate_pretrained(name: str, k: int = 200, t: float = 0.1,
                        checkpoint_dir: str | Path = CHECKPOINT_DIR) -> dict[str, Any]:
    """A shipped f1's ``metric`` (kNN top-1, or lecture 01's linear probe) beside raw pixels and its
    random twin, measured the same way on the images of its record.

    The twin is the same network at fresh weights (for colorization: its grey-input twin, since
    the encoder converts to grey itself).

    Returns:
        ``{METRIC, "raw_pixels", "random_init", "data", "n_train", "n_test"}`` (fractions in [0, 1]).

    Raises:
        FileNotFoundError: the encoder is not shipped, or its dataset (CIFAR-10) is not on this machine.
    """
    return _measure(load_pretrained(name, checkpoint_dir=checkpoint_dir), PRETRAINED[name], k=k, t=t)


def _summary(spec: Pretrained, m: dict[str, Any]) -> str:
    if spec.metric == "spread":
        return f"spread {m['spread']:.2f} (1 = spread out, 0 = collapsed), effective rank {m['effective_rank']:.1f}"
    return f"{spec.metric} {m[spec.metric]:.1%} (raw pixels {m['raw_pixels']:.1%}, random init {m['random_init']:.1%})"


def main(argv: list[str] | None = None) -> int:
    """``sslcourse pretrain NAME... | --all | --list``."""
    p = argparse.ArgumentParser(prog="sslcourse pretrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help=f"encoders to (re)make: {', '.join(PRETRAINED)}")
    p.add_argument("--all", action="store_true", help="make every shipped encoder")
    p.add_argument("--list", action="store_true", help="list the shipped encoders and what they measured")
    p.add_argument("--out-dir", default=str(CHECKPOINT_DIR), help="where NAME.pt and NAME.json go")
    args = p.parse_args(argv)
    if args.list or not (args.names or args.all):
        for spec in PRETRAINED.values():
            try:
                got = _summary(spec, pretrained_info(spec.name, args.out_dir)["metrics"])
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
        print(f"{name}: {_summary(PRETRAINED[name], record['metrics'])} "
              f"in {record['wall_s']:.0f} s; wrote {Path(args.out_dir) / (name + '.pt')} and .json")
    return 0
