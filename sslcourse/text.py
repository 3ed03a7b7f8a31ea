"""Self-supervised learning on text: the inputs of BERT's two pretext tasks, and the training command.

The transformation g of the lecture, for text:

* masked language modelling: g(x) = (x with 15% of its words selected and mostly replaced by
  [MASK], the original selected words) -> `mask_tokens`;
* next-sentence prediction: g(A, B) = ([CLS] A [SEP] B' [SEP], does B' = B?), where B' is the real
  next sentence half of the time and a sentence from another document otherwise -> `nsp_pairs`,
  `bert_inputs`;
* next-token prediction (GPT): g(x) = (x_1..x_{t}, x_{t+1}) at every t at once -> `LMBatches`
  with the shift inside `sslcourse.gpt.next_token_loss`.

The models live in `sslcourse.bert` (MiniBERT, fill_mask) and `sslcourse.gpt` (MiniGPT,
perplexity, generate), the attention in `sslcourse.transformer`, the tokenizer in
`sslcourse.tokenizer`, the corpora in `sslcourse.data.english`; this module re-exports them.

Shipped checkpoints (``sslcourse/checkpoints/``, made by ``sslcourse train bert`` / ``gpt``) load
with `load_pretrained("bert")` / `load_pretrained("gpt")`.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import torch
from torch import Tensor

from sslcourse.bert import BertConfig, MiniBERT, fill_mask, mlm_loss, nsp_loss
from sslcourse.data.english import Story, find_wikitext, load_text_file, toy_corpus, toy_vocabulary
from sslcourse.gpt import GPTConfig, MiniGPT, generate, next_token_loss, perplexity, sample_next
from sslcourse.tokenizer import SPECIAL_TOKENS, Tokenizer

__all__ = [
    "mask_tokens", "nsp_pairs", "bert_inputs", "BertBatches", "LMBatches", "toy_tokenizer", "toy_documents",
    "evaluate_bert", "load_pretrained", "save_checkpoint", "load_checkpoint", "train_cli", "CHECKPOINT_DIR",
    # re-exported
    "Tokenizer", "SPECIAL_TOKENS", "MiniBERT", "BertConfig", "fill_mask", "mlm_loss", "nsp_loss",
    "MiniGPT", "GPTConfig", "generate", "next_token_loss", "perplexity", "sample_next",
]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


class Vocab(Protocol):
    """What `mask_tokens` and `bert_inputs` need from a tokenizer."""

    pad_id: int
    cls_id: int
    sep_id: int
    mask_id: int
    special_ids: tuple[int, ...]

    def __len__(self) -> int: ...


def mask_tokens(ids: Tensor, vocab: Vocab | int, p: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """BERT's masking: select p of the ordinary tokens; of those 80% -> [MASK], 10% -> random, 10% kept.

    Each non-special token is selected independently with probability p (so about 15% of them);
    special tokens ([PAD], [CLS], [SEP], [MASK], [UNK]) are never selected. A selected token is
    replaced by [MASK] with probability 0.8, by a uniformly random ordinary (non-special) token
    with probability 0.1, and left unchanged with probability 0.1. The random and unchanged cases
    keep the model from relying on [MASK] being present, which it never is in downstream tasks.

    Args:
        ids: ``(..., T)`` token ids (any integer dtype, any device).
        vocab: the tokenizer (special ids 0..4 as in `sslcourse.tokenizer`), or its vocabulary size.
        p: selection probability (BERT: 0.15).
        generator: random generator (CPU or on ``ids.device``) for reproducible masks.

    Returns:
        ``(inputs, labels)``, both shaped like ``ids``: inputs with the replacements; labels = the
        original id at selected positions, -100 elsewhere (ignored by the loss).
    """
    if isinstance(vocab, int):
        vocab_size, specials, mask_id = vocab, tuple(range(len(SPECIAL_TOKENS))), SPECIAL_TOKENS.index("[MASK]")
    else:
        vocab_size, specials, mask_id = len(vocab), tuple(vocab.special_ids), vocab.mask_id
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"mask_tokens: p must be in [0, 1], got {p}")
    # ### BEGIN SOLUTION
    dev = generator.device if generator is not None else ids.device

    def rand(*shape: int) -> Tensor:
        return torch.rand(shape, generator=generator, device=dev).to(ids.device)

    special = torch.zeros_like(ids, dtype=torch.bool)
    for s in specials:
        special |= ids == s  # (..., T)
    selected = (rand(*ids.shape) < p) & ~special  # (..., T): about 15% of ordinary tokens
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = rand(*ids.shape)  # one draw decides what happens to each selected token
    to_mask = selected & (u < 0.8)  # 80%
    to_random = selected & (u >= 0.8) & (u < 0.9)  # 10%; the other 10% stay unchanged
    n_special = len(specials)
    random_ids = n_special + (rand(*ids.shape) * (vocab_size - n_special)).long().clamp_max(vocab_size - n_special - 1)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_ids.to(ids.dtype), inputs)
    # ### END SOLUTION
    return inputs, labels


def nsp_pairs(docs: Sequence[Sequence[Sequence[int]]], rng: random.Random
              ) -> list[tuple[Sequence[int], Sequence[int], int]]:
    """Next-sentence-prediction pairs: (A, B, 1) with B the real next sentence, or (A, B', 0).

    For every pair of consecutive sentences of a document, with probability 1/2 the second is
    replaced by a random sentence from a random *other* document (BERT's recipe).

    Args:
        docs: documents, each a list of sentences, each a list of token ids (or of anything).
        rng: a `random.Random` (one per epoch gives fresh pairs each epoch).

    Returns:
        list of ``(a, b, is_next)``.
    """
    if len(docs) < 2:
        raise ValueError("nsp_pairs: need at least two documents to draw random sentences from")
    pairs = []
    for d, doc in enumerate(docs):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 1))
            else:
                other = rng.randrange(len(docs) - 1)
                other += other >= d  # any document but this one
                pairs.append((doc[i], rng.choice(docs[other]), 0))
    return pairs


def bert_inputs(pairs: Sequence[tuple[Sequence[int], Sequence[int] | None]], vocab: Vocab,
                max_len: int | None = None) -> dict[str, Tensor]:
    """Build ``[CLS] A [SEP] B [SEP]`` inputs with segment ids and a padding mask.

    Args:
        pairs: ``(a_ids, b_ids)`` per example; ``b_ids=None`` gives a one-sentence input ``[CLS] A [SEP]``.
        vocab: the tokenizer (for cls/sep/pad ids).
        max_len: truncate longer inputs, removing the last token of the longer sentence first (BERT's
            "longest first"); None: no truncation. Padding goes to the longest input of the batch.

    Returns:
        dict of ``(B, T)`` tensors: ``input_ids``; ``segment_ids`` (0 for [CLS] A [SEP], 1 for
        B [SEP], 0 on padding); ``attention_mask`` (1 for real tokens, 0 for [PAD]).

    Example:
        A = [7, 8], B = [9] -> input_ids [1, 7, 8, 2, 9, 2], segment_ids [0, 0, 0, 0, 1, 1].
    """
    rows, segs = [], []
    for a, b in pairs:
        a, b = list(a), (list(b) if b is not None else None)
        if max_len is not None:
            budget = max_len - (3 if b is not None else 2)
            if budget < 2:
                raise ValueError(f"bert_inputs: max_len={max_len} leaves no room for the sentences")
            while len(a) + len(b or []) > budget:
                if b is not None and len(b) > len(a):
                    b.pop()
                else:
                    a.pop()
        # ### BEGIN SOLUTION
        row = [vocab.cls_id, *a, vocab.sep_id]
        seg = [0] * len(row)
        if b is not None:
            row += [*b, vocab.sep_id]
            seg += [1] * (len(b) + 1)
        # ### END SOLUTION
        rows.append(row)
        segs.append(seg)
    T = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), T), vocab.pad_id, dtype=torch.long)  # (B, T)
    segment_ids = torch.zeros((len(rows), T), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, (r, s) in enumerate(zip(rows, segs)):
        input_ids[i, : len(r)] = torch.tensor(r)
        segment_ids[i, : len(s)] = torch.tensor(s)
        attention_mask[i, : len(r)] = 1
    return {"input_ids": input_ids, "segment_ids": segment_ids, "attention_mask": attention_mask}


class BertBatches:
    """Pretraining batches for MiniBERT: fresh NSP pairs and fresh masks every epoch.

    Args:
        docs: documents as lists of sentences (strings), e.g. ``[[s.first, s.second] for s in stories]``.
        tokenizer: the tokenizer.
        batch_size: pairs per batch.
        max_len: truncate inputs to this length.
        p: masking probability of `mask_tokens`.
        seed: seed of pairing, shuffling and masking (epoch e uses seed + e).
        nsp: False -> one-sentence inputs, MLM only.

    Iterating yields dicts with ``input_ids, segment_ids, attention_mask, mlm_labels, nsp_labels``.
    """

    def __init__(self, docs: Sequence[Sequence[str]], tokenizer: Tokenizer, batch_size: int = 64,
                 max_len: int = 64, p: float = 0.15, seed: int = 0, nsp: bool = True) -> None:
        self.docs = [[tokenizer.encode(s) for s in doc] for doc in docs if len(doc) >= (2 if nsp else 1)]
        self.tokenizer, self.batch_size, self.max_len, self.p, self.nsp = tokenizer, batch_size, max_len, p, nsp
        self.seed, self.epoch = seed, 0

    def examples(self, rng: random.Random) -> list[tuple[Sequence[int], Sequence[int] | None, int]]:
        if self.nsp:
            return nsp_pairs(self.docs, rng)
        return [(s, None, 1) for doc in self.docs for s in doc]

    def __len__(self) -> int:
        return max(1, len(self.examples(random.Random(0))) // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        rng = random.Random(self.seed + self.epoch)
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        examples = self.examples(rng)
        rng.shuffle(examples)
        for i in range(0, len(examples) - self.batch_size + 1, self.batch_size):
            chunk = examples[i: i + self.batch_size]
            batch = bert_inputs([(a, b) for a, b, _ in chunk], self.tokenizer, self.max_len)
            batch["input_ids"], batch["mlm_labels"] = mask_tokens(batch["input_ids"], self.tokenizer, self.p, gen)
            if self.nsp:
                batch["nsp_labels"] = torch.tensor([y for _, _, y in chunk])
            yield batch


class LMBatches:
    """Next-token-prediction batches for MiniGPT.

    ``mode="documents"``: each text becomes ``[CLS] text [SEP]`` (right-padded with [PAD]; the toy
    stories). ``mode="stream"``: all texts are concatenated (each followed by [SEP]) and cut into
    windows of `max_len` tokens (long real text, e.g. WikiText).

    Args:
        texts: the documents (strings).
        tokenizer: the tokenizer.
        batch_size: sequences per batch.
        max_len: longest sequence / window length.
        shuffle: reshuffle each epoch (seed + epoch).
        seed: shuffling seed.
    """

    def __init__(self, texts: Sequence[str], tokenizer: Tokenizer, batch_size: int = 64, max_len: int = 64,
                 mode: str = "documents", shuffle: bool = True, seed: int = 0) -> None:
        if mode not in ("documents", "stream"):
            raise ValueError(f"LMBatches: mode must be 'documents' or 'stream', got {mode!r}")
        self.tokenizer, self.batch_size, self.shuffle, self.seed, self.epoch = tokenizer, batch_size, shuffle, seed, 0
        if mode == "documents":
            self.seqs = [[tokenizer.cls_id, *tokenizer.encode(t)][: max_len - 1] + [tokenizer.sep_id] for t in texts]
        else:
            stream = [i for t in texts for i in [*tokenizer.encode(t), tokenizer.sep_id]]
            self.seqs = [stream[i: i + max_len] for i in range(0, len(stream) - max_len + 1, max_len)]
        if not self.seqs:
            raise ValueError("LMBatches: no sequence could be made from the texts")

    def __len__(self) -> int:
        return max(1, -(-len(self.seqs) // self.batch_size))

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        order = list(range(len(self.seqs)))
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        self.epoch += 1
        for i in range(0, len(order), self.batch_size):
            seqs = [self.seqs[j] for j in order[i: i + self.batch_size]]
            T = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), T), self.tokenizer.pad_id, dtype=torch.long)  # (B, T)
            for r, s in enumerate(seqs):
                ids[r, : len(s)] = torch.tensor(s)
            yield {"input_ids": ids}


# --------------------------------------------------------------------------- corpora and evaluation


def toy_tokenizer() -> Tokenizer:
    """The tokenizer of the toy English corpus (every word of the grammar; no [UNK] needed)."""
    return Tokenizer(toy_vocabulary())


def toy_documents(stories: Sequence[Story]) -> list[list[str]]:
    """Stories -> documents of two sentences (the input of `BertBatches`)."""
    return [[s.first, s.second] for s in stories]


@torch.no_grad()
def evaluate_bert(model: MiniBERT, batches: BertBatches | Sequence[dict[str, Tensor]]) -> dict[str, float]:
    """Masked-token accuracy (top-1 at selected positions) and NSP accuracy, pooled over `batches`."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    mlm_hit = mlm_n = nsp_hit = nsp_n = 0
    for batch in batches:
        batch = {k: v.to(dev) for k, v in batch.items()}
        h = model.encode(batch["input_ids"], batch["segment_ids"], batch["attention_mask"])  # (B, T, d)
        sel = batch["mlm_labels"] != -100
        if sel.any():
            mlm_hit += int((model.mlm_logits(h[sel]).argmax(-1) == batch["mlm_labels"][sel]).sum())
            mlm_n += int(sel.sum())
        if "nsp_labels" in batch:
            nsp_hit += int((model.nsp_logits(h).argmax(-1) == batch["nsp_labels"]).sum())
            nsp_n += len(batch["nsp_labels"])
    model.train(was_training)
    return {"mlm_acc": mlm_hit / max(mlm_n, 1), "nsp_acc": nsp_hit / max(nsp_n, 1),
            "mlm_tokens": mlm_n, "nsp_pairs": nsp_n}


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(model: MiniBERT | MiniGPT, tokenizer: Tokenizer, path: str | Path, **extra) -> Path:
    """Save model config, weights and tokenizer in one file (atomically)."""
    from sslcourse.utils import atomic_torch_save

    atomic_torch_save(model.checkpoint(tokenizer, **extra), path)
    return Path(path)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[MiniBERT | MiniGPT, Tokenizer]:
    """Load a checkpoint written by `save_checkpoint` (a mini-BERT or a mini-GPT) in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}; make one with "
                                "`sslcourse train bert|gpt --out PATH`")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cls = {"mini_bert": MiniBERT, "mini_gpt": MiniGPT}.get(ckpt.get("kind"))
    if cls is None:
        raise ValueError(f"load_checkpoint: {path} is not a mini_bert / mini_gpt checkpoint")
    model, tok = cls.from_checkpoint(ckpt)
    return model.to(device), tok


def load_pretrained(name: str = "bert", device: str | torch.device = "cpu") -> tuple[MiniBERT | MiniGPT, Tokenizer]:
    """The shipped mini-BERT (``"bert"``) or mini-GPT (``"gpt"``) pretrained on the toy corpus."""
    files = {"bert": "mini_bert.pt", "gpt": "mini_gpt.pt"}
    if name not in files:
        raise ValueError(f"load_pretrained: name must be 'bert' or 'gpt', got {name!r}")
    return load_checkpoint(CHECKPOINT_DIR / files[name], device)


# --------------------------------------------------------------------------- training command


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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def train_cli(method: str, argv: list[str]) -> int:
    """``sslcourse train bert|gpt [options] --out PATH``: pretrain and save a checkpoint (+ tokenizer JSON).

    The shipped checkpoints are made by (defaults: d=96, 3 layers, 4 heads, 32 positions, batch 64,
    AdamW lr 2e-3 with warm-up and cosine decay; about 8 and 5 CPU-minutes, 20 and 13 minutes
    on a busy shared 2-core machine, about a minute on a GPU)::

        sslcourse train bert --steps 2500 --out sslcourse/checkpoints/mini_bert.pt
        sslcourse train gpt  --steps 1500 --out sslcourse/checkpoints/mini_gpt.pt

    The tokenizer is stored inside the checkpoint and also written beside it as
    ``<corpus>_tokenizer.json``. Returns the exit status (0 on success).
    """
    from sslcourse.train import fit
    from sslcourse.utils import seed_everything

    if method not in ("bert", "gpt"):
        print(f"sslcourse train: sslcourse.text trains 'bert' or 'gpt', not {method!r}", file=sys.stderr)
        return 2
    args = _parser(method).parse_args(argv)
    seed_everything(args.seed)
    if args.corpus == "toy":
        train_stories, _ = toy_corpus(n_train=args.stories, n_test=10, seed=args.seed)
        tok = toy_tokenizer()
        docs = toy_documents(train_stories)
        max_len = args.max_len or 32
    else:
        root = Path(args.data) if args.data else find_wikitext()
        if root is None or not (root / "valid.txt").is_file():
            print("sslcourse train: WikiText-2 not found; pass --data DIR (holding valid.txt) or use --corpus toy",
                  file=sys.stderr)
            return 1
        docs = load_text_file(root / "valid.txt")
        tok = Tokenizer.from_texts((s for d in docs for s in d), max_size=args.vocab_size)
        max_len = args.max_len or 64
    if method == "bert":
        data = BertBatches(docs, tok, args.batch_size, max_len, seed=args.seed)
        model = MiniBERT(BertConfig(len(tok), max_len, args.d_model, args.layers, args.heads, args.dropout))
    else:
        mode = "documents" if args.corpus == "toy" else "stream"
        texts = [" ".join(d) for d in docs]
        data = LMBatches(texts, tok, args.batch_size, max_len, mode=mode, seed=args.seed)
        model = MiniGPT(GPTConfig(len(tok), max_len, args.d_model, args.layers, args.heads, args.dropout),
                        pad_id=tok.pad_id)
    history = fit(model, data, steps=args.steps, lr=args.lr, weight_decay=args.weight_decay,
                  warmup_steps=min(args.warmup, args.steps // 10), device=args.device, grad_clip=1.0,
                  progress=not args.no_progress, desc=f"mini-{method}", seed=args.seed)
    model = model.cpu().eval()
    out = Path(args.out)
    last = history.rows[-1] if history.rows else {}
    save_checkpoint(model, tok, out, train_args=vars(args), final={k: float(v) for k, v in last.items()
                                                                    if isinstance(v, (int, float))})
    tok.save(out.parent / f"{'toy_english' if args.corpus == 'toy' else 'wikitext'}_tokenizer.json")
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB); final loss {last.get('loss', float('nan')):.3f}")
    return 0
