"""``sslcourse train clip``: a mini-CLIP trained on captioned images, then evaluated zero-shot.

The model is ``sslcourse.methods.clip`` (``CLIPConfig``, ``build_clip``); the loop is
``sslcourse.train.fit`` (AdamW without decay on biases, norms and embeddings, warmup + cosine);
the evaluation (zero-shot with prompts, held-out compositions, retrieval recall@k, few-shot
probes) is ``sslcourse.zeroshot.evaluate``. Data: the shapes world's captions
(``sslcourse.data.shapes``) or CIFAR-10 with templated captions (``sslcourse.data.captions``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from sslcourse import checkpoint as ckpt_format
from sslcourse import zeroshot
from sslcourse.data.captions import captioned_cifar10
from sslcourse.data.shapes import make_captioned_shapes, make_captions
from sslcourse.methods.clip import CaptionTokenizer, CLIPConfig, CLIPObjective, MiniCLIP, build_clip
from sslcourse.plot import save_curves
from sslcourse.train import TensorBatches, fit
from sslcourse.utils import atomic_write

__all__ = ["NAMES", "CLIPRun", "caption_batches", "default_tokenizer", "train_clip", "load_model", "main"]

NAMES = ("clip",)


@dataclass
class CLIPRun:
    """The result of ``train_clip``: the trained model, its tokenizer, the loss history, seconds."""

    model: MiniCLIP
    tokenizer: CaptionTokenizer
    history: object
    seconds: float
    config: CLIPConfig = field(default_factory=CLIPConfig)


def caption_batches(images: torch.Tensor, captions: Sequence[str], tokenizer: CaptionTokenizer, batch_size: int,
                    seed: int = 0, device: str | torch.device | None = None):
    """Resumable shuffled mini-batches ``(images, ids, mask)`` of image-caption pairs (``TensorBatches``)."""
    ids, mask = tokenizer.encode(list(captions))
    return TensorBatches(images, ids, mask, batch_size=batch_size, seed=seed, drop_last=True, device=device)


def _training_pairs(cfg: CLIPConfig) -> tuple[torch.Tensor, list[str]]:
    """Images (uint8) and captions to train on; every image repeated with ``captions_per_image`` captions."""
    if cfg.dataset == "shapes":
        w = make_captioned_shapes(cfg.n_train, seed=cfg.seed, image_size=cfg.image_size, split="train")
        caps = list(w.captions)
        for k in range(1, cfg.captions_per_image):
            caps += make_captions(w.shape, w.colour, w.size, w.background, seed=1000 * cfg.seed + k)
        return w.images.repeat(cfg.captions_per_image, 1, 1, 1), caps
    if cfg.dataset == "cifar10":
        ds = captioned_cifar10("train", subset=cfg.n_train, seed=cfg.seed, captions_per_image=cfg.captions_per_image)
        return ds.images, ds.captions
    raise ValueError(f"dataset must be 'shapes' or 'cifar10', got {cfg.dataset!r}.")


def default_tokenizer(dataset: str = "shapes") -> CaptionTokenizer:
    """Every word the dataset's captions and the zero-shot prompts use."""
    return CaptionTokenizer.from_texts(zeroshot.vocabulary(dataset))


def train_clip(cfg: CLIPConfig | None = None, **overrides) -> CLIPRun:
    """Train a mini-CLIP with the generic loop (AdamW, warmup + cosine, clamped logit scale).

    Args:
        cfg: the run's configuration (default ``CLIPConfig()``); ``overrides`` replace fields.

    Returns:
        ``CLIPRun(model, tokenizer, history, seconds)``; the model is in eval mode.
    """
    cfg = CLIPConfig(**{**asdict(cfg or CLIPConfig()), **overrides})
    images, captions = _training_pairs(cfg)
    tokenizer = default_tokenizer(cfg.dataset)
    torch.manual_seed(cfg.seed)
    model = build_clip(cfg, tokenizer.vocab_size)
    data = caption_batches(images, captions, tokenizer, cfg.batch_size, seed=cfg.seed)
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "embedding" in n]
    decay = [p for n, p in model.named_parameters() if not (p.ndim < 2 or "embedding" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    start = time.perf_counter()
    history = fit(CLIPObjective(model), data, steps=cfg.steps, optimizer=optimizer, warmup_steps=cfg.warmup_steps,
                  device=cfg.device, progress=cfg.progress, desc=f"mini-CLIP ({cfg.text_tower})", seed=cfg.seed)
    seconds = time.perf_counter() - start
    model.eval()
    if cfg.out:
        ckpt_format.save(cfg.out, method="clip", config={"clip": asdict(cfg)}, model=model.state_dict(),
                         tokenizer=tokenizer.to_dict(), history=history.rows)
    return CLIPRun(model, tokenizer, history, seconds, cfg)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[MiniCLIP, CaptionTokenizer]:
    """A checkpoint written by ``train_clip(out=...)`` -> (model in eval mode, its tokenizer).

    The run's ``CLIPConfig`` is ``CLIPConfig(**sslcourse.checkpoint.read(path)["config"]["clip"])``.
    """
    ckpt = ckpt_format.read(path, "train with `sslcourse train clip --out FILE.pt` first.")
    if ckpt["method"] != "clip":
        raise ckpt_format.CheckpointError(f"{path} holds a {ckpt['method']!r} model, not mini-CLIP; "
                                          "load it with sslcourse.recipes.load_model.")
    tokenizer = CaptionTokenizer.from_dict(ckpt["tokenizer"])
    model = build_clip(CLIPConfig(**ckpt["config"]["clip"]), tokenizer.vocab_size)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), tokenizer


# ----------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    d = CLIPConfig()
    p = argparse.ArgumentParser(prog="sslcourse train clip",
                                description="Train a mini-CLIP on captioned images and report zero-shot accuracy, "
                                            "retrieval recall@k and a few-shot curve.")
    p.add_argument("--dataset", choices=["shapes", "cifar10"], default=d.dataset)
    p.add_argument("--n-train", type=int, default=d.n_train, help="training images")
    p.add_argument("--captions-per-image", type=int, default=d.captions_per_image)
    p.add_argument("--image-tower", choices=["cnn", "resnet18"], default=d.image_tower)
    p.add_argument("--image-width", type=int, default=d.image_width)
    p.add_argument("--text-tower", choices=["transformer", "bow"], default=d.text_tower)
    p.add_argument("--embed-dim", type=int, default=d.embed_dim)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument("--out", default=None, help="checkpoint file (.pt); metrics go beside it as .json")
    p.add_argument("--n-test", type=int, default=1000, help="test images for the evaluation")
    p.add_argument("--n-pool", type=int, default=2000, help="labelled images the few-shot probes draw from")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(name: str, argv: list[str]) -> int:
    """``sslcourse train clip ARGS``: train, evaluate (zero-shot, retrieval, few-shot), print JSON."""
    if name not in NAMES:
        raise ValueError(f"the clip recipe trains 'clip', not {name!r}.")
    args = _parser().parse_args(argv)
    opts = vars(args)
    n_test, n_pool, progress = opts.pop("n_test"), opts.pop("n_pool"), not opts.pop("no_progress")
    cfg = CLIPConfig(**opts, progress=progress)
    try:
        run = train_clip(cfg)
    except (FileNotFoundError, ValueError) as err:
        print(f"sslcourse train clip: {err}", file=sys.stderr)
        return 2
    metrics = zeroshot.evaluate(run.model, run.tokenizer, dataset=cfg.dataset, n_test=n_test, n_fewshot_pool=n_pool,
                                seed=cfg.seed, image_size=cfg.image_size)
    metrics["train_seconds"] = round(run.seconds, 1)
    metrics["config"] = asdict(cfg)
    text = json.dumps(metrics, indent=2)
    print(text)
    if cfg.out:
        with atomic_write(Path(cfg.out).with_suffix(".json")) as tmp:
            Path(tmp).write_text(text)
        save_curves(run.history, ["loss"], Path(cfg.out).with_suffix(".png"), title=f"mini-CLIP on {cfg.dataset}")
    return 0


if __name__ == "__main__":  # python -m sslcourse.recipes.clip ARGS
    raise SystemExit(main("clip", sys.argv[1:]))
