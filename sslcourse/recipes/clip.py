"""``sslcourse train clip``: a mini-CLIP trained on captioned images, then evaluated zero-shot.

The model is ``sslcourse.methods.clip`` (``CLIPConfig``: the towers, ``build_clip``); the run's
settings are ``CLIPRunConfig`` here (data, steps, batch, optimizer, seed, output); the loop is
``sslcourse.train.fit`` (AdamW without decay on biases, norms and embeddings, warmup + cosine);
the evaluation (zero-shot with prompts, held-out compositions, retrieval recall@k, few-shot
probes) is ``sslcourse.zeroshot.evaluate``. Data: the shapes world's captions
(``sslcourse.data.shapes``) or CIFAR-10 with templated captions (``sslcourse.data.captions``).

Captions are tokenized by the course's one tokenizer, ``sslcourse.tokenizer.Tokenizer``
(``encode_batch``: [CLS] first, padded with [PAD]); punctuation marks are tokens, as in the text
lectures (the shapes world's template "a {colour} {shape} , {size}" gives the token ",").
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from sslcourse import checkpoint as ckpt_format
from sslcourse import zeroshot
from sslcourse.data.captions import captioned_cifar10
from sslcourse.data.shapes import make_captioned_shapes, make_captions
from sslcourse.methods.clip import CLIPConfig, CLIPObjective, MiniCLIP, build_clip
from sslcourse.plot import save_curves
from sslcourse.tokenizer import Tokenizer
from sslcourse.train import TensorBatches, fit
from sslcourse.utils import atomic_write

__all__ = ["NAMES", "CLIPRunConfig", "CLIPRun", "caption_batches", "default_tokenizer", "train_clip", "load_model",
           "convert_legacy_checkpoint", "main"]

NAMES = ("clip",)


@dataclass
class CLIPRunConfig:
    """One mini-CLIP run: the model (``CLIPConfig``) and how it is trained.

    The CPU defaults are the lecture's run (measured in docs/benchmarks/clip.md). CLIP's own
    values in comments (ViT-L/14: 400M pairs, batch 32,768, 32 epochs).

    ``replace(**changes)`` gives a copy; a name of a model field (``text_tower="bow"``) changes
    ``model``, so ``train_clip(steps=300, image_width=8)`` reads as one flat list of settings.
    """

    model: CLIPConfig = field(default_factory=CLIPConfig)
    dataset: str = "shapes"  # "shapes" or "cifar10" (templated class captions)
    n_train: int = 4000  # image-caption pairs drawn from the world (CLIP: 400M)
    captions_per_image: int = 2  # fresh template draws per image (more text variety)
    steps: int = 600  # 194 s on one thread of the loaded 2-core dev machine (CLIP: 32 epochs of 400M)
    batch_size: int = 64  # (CLIP: 32,768)
    lr: float = 2e-3  # AdamW (CLIP: 4e-4 for ViT-L/14 at batch 32k)
    weight_decay: float = 0.05  # (CLIP: 0.2)
    warmup_steps: int = 20  # (CLIP: 2,000)
    seed: int = 0
    device: str = "auto"
    out: str | None = None  # checkpoint file (with tokenizer, model config and run settings) or None
    progress: bool = True

    def replace(self, **changes: Any) -> "CLIPRunConfig":
        """A copy with ``changes``: run fields set here, ``CLIPConfig`` fields set on ``model``."""
        model_names = {f.name for f in fields(CLIPConfig)}
        run_names = {f.name for f in fields(self)}
        unknown = set(changes) - model_names - run_names
        if unknown:
            raise TypeError(f"unknown mini-CLIP setting(s) {sorted(unknown)}; run settings: {sorted(run_names)}, "
                            f"model settings: {sorted(model_names)}")
        model = changes.pop("model", self.model)
        model = CLIPConfig(**model) if isinstance(model, dict) else model
        model = replace(model, **{k: changes.pop(k) for k in list(changes) if k in model_names})
        return replace(self, model=model, **changes)

    def run_settings(self) -> dict[str, Any]:
        """The run's own fields as plain data (everything but ``model``), as checkpoints record them."""
        return {k: v for k, v in asdict(self).items() if k != "model"}


@dataclass
class CLIPRun:
    """The result of ``train_clip``: the trained model, its tokenizer, the loss history, seconds."""

    model: MiniCLIP
    tokenizer: Tokenizer
    history: object
    seconds: float
    config: CLIPRunConfig = field(default_factory=CLIPRunConfig)


def caption_batches(images: torch.Tensor, captions: Sequence[str], tokenizer: Tokenizer, batch_size: int,
                    seed: int = 0, device: str | torch.device | None = None) -> TensorBatches:
    """Resumable shuffled mini-batches ``(images, ids, mask)`` of image-caption pairs (``TensorBatches``).

    Every caption is encoded once, up front (``tokenizer.encode_batch``: ``(N, T)`` ids and mask).
    """
    ids, mask = tokenizer.encode_batch(list(captions))  # (N, T), (N, T)
    return TensorBatches(images, ids, mask, batch_size=batch_size, seed=seed, drop_last=True, device=device)


def _training_pairs(cfg: CLIPRunConfig) -> tuple[torch.Tensor, list[str]]:
    """Images (uint8) and captions to train on; every image repeated with ``captions_per_image`` captions."""
    if cfg.dataset == "shapes":
        w = make_captioned_shapes(cfg.n_train, seed=cfg.seed, image_size=cfg.model.image_size, split="train")
        caps = list(w.captions)
        for k in range(1, cfg.captions_per_image):
            caps += make_captions(w.shape, w.colour, w.size, w.background, seed=1000 * cfg.seed + k)
        return w.images.repeat(cfg.captions_per_image, 1, 1, 1), caps
    if cfg.dataset == "cifar10":
        ds = captioned_cifar10("train", subset=cfg.n_train, seed=cfg.seed, captions_per_image=cfg.captions_per_image)
        return ds.images, ds.captions
    raise ValueError(f"dataset must be 'shapes' or 'cifar10', got {cfg.dataset!r}.")


def default_tokenizer(dataset: str = "shapes") -> Tokenizer:
    """A ``Tokenizer`` with every word (and punctuation mark) of the dataset's captions and prompts."""
    return Tokenizer.from_texts(zeroshot.vocabulary(dataset))


def train_clip(cfg: CLIPRunConfig | None = None, **overrides: Any) -> CLIPRun:
    """Train a mini-CLIP with the generic loop (AdamW, warmup + cosine, clamped logit scale).

    Args:
        cfg: the run (default ``CLIPRunConfig()``); ``overrides`` replace run or model fields
            (``train_clip(cfg, text_tower="bow")``, ``train_clip(steps=300)``).

    Returns:
        ``CLIPRun(model, tokenizer, history, seconds, config)``; the model is in eval mode.
    """
    cfg = (cfg or CLIPRunConfig()).replace(**overrides)
    images, captions = _training_pairs(cfg)
    tokenizer = default_tokenizer(cfg.dataset)
    torch.manual_seed(cfg.seed)
    model = build_clip(cfg.model, tokenizer.vocab_size)
    data = caption_batches(images, captions, tokenizer, cfg.batch_size, seed=cfg.seed)
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "embedding" in n]
    decay = [p for n, p in model.named_parameters() if not (p.ndim < 2 or "embedding" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    start = time.perf_counter()
    history = fit(CLIPObjective(model), data, steps=cfg.steps, optimizer=optimizer, warmup_steps=cfg.warmup_steps,
                  device=cfg.device, progress=cfg.progress, desc=f"mini-CLIP ({cfg.model.text_tower})", seed=cfg.seed)
    seconds = time.perf_counter() - start
    model.eval()
    if cfg.out:
        ckpt_format.save(cfg.out, method="clip", config={"clip": asdict(cfg.model)}, model=model.state_dict(),
                         tokenizer=tokenizer.to_dict(), run=cfg.run_settings(), history=history.rows)
    return CLIPRun(model, tokenizer, history, seconds, cfg)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[MiniCLIP, Tokenizer]:
    """A mini-CLIP checkpoint (``train_clip(out=...)``, ``sslcourse pretrain clip_shapes``) -> (model in
    eval mode, its tokenizer).

    The file holds ``config={"clip": asdict(CLIPConfig)}``, the ``tokenizer`` (``Tokenizer.to_dict``)
    and, when written by ``train_clip``, the run's settings under ``run``.
    """
    ckpt = ckpt_format.read(path, "train with `sslcourse train clip --out FILE.pt` first.")
    if ckpt["method"] != "clip":
        raise ckpt_format.CheckpointError(f"{path} holds a {ckpt['method']!r} model, not mini-CLIP; "
                                          "load it with sslcourse.recipes.load_model.")
    config, tok = ckpt["config"].get("clip", {}), ckpt.get("tokenizer")
    model_names = {f.name for f in fields(CLIPConfig)}
    if not isinstance(tok, dict) or tok.get("kind") != "sslcourse.word_tokenizer" or set(config) - model_names:
        raise ckpt_format.CheckpointError(
            f"{path} is a mini-CLIP checkpoint of the earlier layout (its own caption tokenizer, run settings "
            "inside the model config); convert it once with "
            "sslcourse.recipes.clip.convert_legacy_checkpoint(path, new_path).")
    tokenizer = Tokenizer.from_dict(tok)
    model = build_clip(CLIPConfig(**config), tokenizer.vocab_size)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), tokenizer


# ----------------------------------------------------------------------------- the earlier layout

# The vocabulary of mini-CLIP checkpoints on the shapes world written before mini-CLIP used the
# course's Tokenizer: ``CaptionTokenizer.from_texts(zeroshot.vocabulary("shapes"))`` of that code,
# ids 0, 1, 2 = [PAD], [UNK], [CLS], then the words in order of first appearance, punctuation
# dropped. ``sslcourse pretrain`` had stripped the tokenizer from the shipped clip_shapes.pt, so
# the conversion of that file needs it spelled out.
LEGACY_SHAPES_ITOS: tuple[str, ...] = (
    "[PAD]", "[UNK]", "[CLS]", "circle", "square", "triangle", "star", "cross", "heart", "ring", "moon", "red",
    "orange", "yellow", "green", "cyan", "blue", "purple", "white", "small", "large", "an", "a", "on", "background",
    "photo", "of", "picture", "that", "is", "in", "something", "drawing", "shape", "object")


def convert_legacy_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Rewrite a mini-CLIP checkpoint of the earlier layout in the current one, weights unchanged.

    The earlier layout had its own caption tokenizer (``{"itos": [...]}``, ids [PAD] 0, [UNK] 1,
    [CLS] 2; or none at all in a shipped file: ``LEGACY_SHAPES_ITOS``) and kept the run's settings
    (dataset, steps, lr, ...) inside ``config["clip"]``. The converted file has
    ``default_tokenizer(dataset)``, the model fields of ``CLIPConfig`` in ``config["clip"]`` and
    the run's settings under ``run``; every other key (the ``pretrained`` record, the history) is kept.

    The token-embedding table is re-indexed: the new row of a word (and of [PAD], [CLS], [UNK]) is
    its old row, so any text without punctuation gets exactly the embedding it had. Tokens the old
    tokenizer did not have get zero rows: [SEP] and [MASK] (never used by mini-CLIP) and the
    punctuation marks, which the old tokenizer dropped (the comma of "a red circle , small").

    Used once on ``sslcourse/checkpoints/clip_shapes.pt``:
    ``convert_legacy_checkpoint(CHECKPOINT_DIR / "clip_shapes.pt", CHECKPOINT_DIR / "clip_shapes.pt")``.
    """
    ckpt = ckpt_format.read(src)
    old_config = dict(ckpt["config"]["clip"])
    model_names = {f.name for f in fields(CLIPConfig)}
    dataset = old_config.get("dataset", "shapes")
    old_itos = list((ckpt.get("tokenizer") or {}).get("itos") or ())
    if not old_itos:
        if dataset != "shapes":
            raise ckpt_format.CheckpointError(f"{src} has no tokenizer and was not trained on the shapes world; "
                                              "its vocabulary is unknown.")
        old_itos = list(LEGACY_SHAPES_ITOS)
    old_id = {w: i for i, w in enumerate(old_itos)}
    tokenizer = default_tokenizer(dataset)
    state = dict(ckpt["model"])
    for key in [k for k in state if k.endswith("token_embedding.weight")]:
        old = state[key]  # (old vocab, width)
        if old.shape[0] != len(old_itos):
            raise ckpt_format.CheckpointError(f"{src}: {key} has {old.shape[0]} rows for {len(old_itos)} words.")
        new = old.new_zeros(tokenizer.vocab_size, old.shape[1])  # (new vocab, width); unknown-before rows = 0
        for i, w in enumerate(tokenizer.itos):
            if w in old_id:
                new[i] = old[old_id[w]]
        state[key] = new
    extras = {k: v for k, v in ckpt.items() if k not in ("format", "version", "method", "config", "model", "tokenizer")}
    extras.setdefault("run", {k: v for k, v in old_config.items() if k not in model_names})
    return ckpt_format.save(dst, method="clip", config={"clip": {k: v for k, v in old_config.items() if k in model_names}},
                            model=state, tokenizer=tokenizer.to_dict(), **extras)


# ----------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    d, m = CLIPRunConfig(), CLIPConfig()
    p = argparse.ArgumentParser(prog="sslcourse train clip",
                                description="Train a mini-CLIP on captioned images and report zero-shot accuracy, "
                                            "retrieval recall@k and a few-shot curve.")
    p.add_argument("--dataset", choices=["shapes", "cifar10"], default=d.dataset)
    p.add_argument("--n-train", type=int, default=d.n_train, help="training images")
    p.add_argument("--captions-per-image", type=int, default=d.captions_per_image)
    p.add_argument("--image-tower", choices=["cnn", "resnet18"], default=m.image_tower)
    p.add_argument("--image-width", type=int, default=m.image_width)
    p.add_argument("--text-tower", choices=["transformer", "bow"], default=m.text_tower)
    p.add_argument("--embed-dim", type=int, default=m.embed_dim)
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
    cfg = CLIPRunConfig().replace(**opts, progress=progress)
    try:
        run = train_clip(cfg)
    except (FileNotFoundError, ValueError) as err:
        print(f"sslcourse train clip: {err}", file=sys.stderr)
        return 2
    metrics = zeroshot.evaluate(run.model, run.tokenizer, dataset=cfg.dataset, n_test=n_test, n_fewshot_pool=n_pool,
                                seed=cfg.seed, image_size=cfg.model.image_size)
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
