"""``sslcourse train bert|gpt``: pretrain a mini-BERT (MLM + NSP) or a mini-GPT (next token).

Data: the toy English corpus (default, offline) or WikiText-2 (``--corpus wikitext``); batches from
``sslcourse.text``; models from ``sslcourse.bert`` / ``sslcourse.gpt``; the loop is
``sslcourse.train.fit`` (AdamW, warmup + cosine, gradient clipping at 1).

The shipped checkpoints were made by (defaults: d=96, 3 layers, 4 heads, 32 positions, batch 64,
AdamW lr 2e-3; about 8 and 5 CPU-minutes, 20 and 13 minutes on a busy shared 2-core machine)::

    sslcourse train bert --steps 2500 --int8 --out sslcourse/checkpoints/mini_bert.pt
    sslcourse train gpt  --steps 1500 --int8 --out sslcourse/checkpoints/mini_gpt.pt

(``--int8``: weight matrices stored as int8 with a scale per row, a quarter of the size; see
``sslcourse.checkpoint``.)

Each checkpoint holds the model config, the weights, the tokenizer and the run's settings and
final metrics (``sslcourse.checkpoint`` format); the tokenizer is also written beside it as
``<corpus>_tokenizer.json``. ``load_pretrained("bert")`` / ``"gpt"`` loads the shipped ones.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from sslcourse import checkpoint as ckpt_format
from sslcourse.bert import BertConfig, MiniBERT
from sslcourse.data.english import find_wikitext, load_text_file, toy_corpus
from sslcourse.gpt import GPTConfig, MiniGPT
from sslcourse.recipes import CHECKPOINT_DIR
from sslcourse.text import BertBatches, LMBatches, toy_documents, toy_tokenizer
from sslcourse.tokenizer import Tokenizer
from sslcourse.train import fit
from sslcourse.utils import seed_everything

__all__ = ["NAMES", "CHECKPOINT_DIR", "save_model", "load_model", "load_pretrained", "main"]

NAMES = ("bert", "gpt")
_MODELS = {"bert": (MiniBERT, BertConfig), "gpt": (MiniGPT, GPTConfig)}


def save_model(model: MiniBERT | MiniGPT, tokenizer: Tokenizer, path: str | Path, int8: bool = False,
               **extra: Any) -> Path:
    """Write a mini-BERT or mini-GPT with its tokenizer as one checkpoint (atomically); ``int8``: weight
    matrices as int8 with a scale per row (how the shipped ones are stored)."""
    method = "bert" if isinstance(model, MiniBERT) else "gpt"
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return ckpt_format.save(path, method=method, config={"model": asdict(model.config)}, model=state,
                            int8=int8, tokenizer=tokenizer.to_dict(), **extra)


def load_model(path: str | Path, device: str | torch.device = "cpu", fast_attention: bool | None = None
               ) -> tuple[MiniBERT | MiniGPT, Tokenizer]:
    """A checkpoint written by ``save_model`` (``sslcourse train bert|gpt --out PATH``), in eval mode.

    ``fast_attention`` (default: as trained) switches the attention layers between the hand-written
    ``scaled_dot_product_attention`` and PyTorch's fused one; the weights are the same either way.
    """
    ckpt = ckpt_format.read(path, "make one with `sslcourse train bert|gpt --out PATH`.")
    if ckpt["method"] not in _MODELS:
        raise ckpt_format.CheckpointError(f"{path} holds a {ckpt['method']!r} model, not a mini-BERT or mini-GPT; "
                                          "load it with sslcourse.recipes.load_model.")
    cls, config_cls = _MODELS[ckpt["method"]]
    tok = Tokenizer.from_dict(ckpt["tokenizer"])
    config = config_cls(**ckpt["config"]["model"])
    if fast_attention is not None:
        config.fast_attention = fast_attention
    model = cls(config) if cls is MiniBERT else cls(config, pad_id=tok.pad_id)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), tok


def load_pretrained(name: str = "bert", device: str | torch.device = "cpu", fast_attention: bool | None = None
                    ) -> tuple[MiniBERT | MiniGPT, Tokenizer]:
    """The shipped mini-BERT (``"bert"``) or mini-GPT (``"gpt"``) pretrained on the toy corpus.

    ``fast_attention=True`` runs it on PyTorch's fused attention: what the exercises use, since
    the hand-written attention is exercise 02's to write (it is a stub in the student package).
    """
    if name not in NAMES:
        raise ValueError(f"load_pretrained: name must be 'bert' or 'gpt', got {name!r}")
    return load_model(CHECKPOINT_DIR / f"mini_{name}.pt", device, fast_attention)


def _parser(method: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"sslcourse train {method}",
                                description=f"Pretrain a mini-{method.upper()} on the toy English corpus or a text file.")
    p.add_argument("--corpus", choices=["toy", "wikitext"], default="toy", help="training text (default toy)")
    p.add_argument("--data", default=None, help="WikiText-2 folder (valid.txt = train, test.txt = eval); default: found")
    p.add_argument("--stories", type=int, default=20000, help="toy stories to train on")
    p.add_argument("--vocab-size", type=int, default=8000, help="WikiText: most frequent words kept")
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-len", type=int, default=None, help="sequence length (toy 32, wikitext 64)")
    p.add_argument("--d-model", type=int, default=96)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="checkpoint path, e.g. sslcourse/checkpoints/mini_bert.pt")
    p.add_argument("--int8", action="store_true",
                   help="store weight matrices as int8 with a scale per row (a quarter of the size; the shipped files)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(name: str, argv: list[str]) -> int:
    """``sslcourse train bert|gpt [options] --out PATH``: pretrain and save; returns the exit status."""
    if name not in NAMES:
        print(f"sslcourse train: the text recipe trains 'bert' or 'gpt', not {name!r}", file=sys.stderr)
        return 2
    args = _parser(name).parse_args(argv)
    seed_everything(args.seed)
    if args.corpus == "toy":
        train_stories, _ = toy_corpus(n_train=args.stories, n_test=10, seed=args.seed)
        tok, docs, max_len = toy_tokenizer(), toy_documents(train_stories), args.max_len or 32
    else:
        root = Path(args.data) if args.data else find_wikitext()
        if root is None or not (root / "valid.txt").is_file():
            print("sslcourse train: WikiText-2 not found; pass --data DIR (holding valid.txt) or use --corpus toy",
                  file=sys.stderr)
            return 1
        docs = load_text_file(root / "valid.txt")
        tok = Tokenizer.from_texts((s for d in docs for s in d), max_size=args.vocab_size)
        max_len = args.max_len or 64
    if name == "bert":
        data = BertBatches(docs, tok, args.batch_size, max_len, seed=args.seed)
        model = MiniBERT(BertConfig(len(tok), max_len, args.d_model, args.layers, args.heads, args.dropout))
    else:
        mode = "documents" if args.corpus == "toy" else "stream"
        data = LMBatches([" ".join(d) for d in docs], tok, args.batch_size, max_len, mode=mode, seed=args.seed)
        model = MiniGPT(GPTConfig(len(tok), max_len, args.d_model, args.layers, args.heads, args.dropout),
                        pad_id=tok.pad_id)
    history = fit(model, data, steps=args.steps, lr=args.lr, weight_decay=args.weight_decay,
                  warmup_steps=min(args.warmup, args.steps // 10), device=args.device, grad_clip=1.0,
                  progress=not args.no_progress, desc=f"mini-{name}", seed=args.seed)
    out = Path(args.out)
    last = history.rows[-1] if history.rows else {}
    save_model(model.cpu().eval(), tok, out, int8=args.int8, train_args=vars(args),
               final={k: float(v) for k, v in last.items() if isinstance(v, (int, float))})
    tok.save(out.parent / f"{'toy_english' if args.corpus == 'toy' else 'wikitext'}_tokenizer.json")
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB); final loss {last.get('loss', float('nan')):.3f}")
    return 0
