"""Self-supervised learning on text: the inputs of BERT's two pretext tasks and of GPT's one.

The transformation g of the lecture, for text:

* masked language modelling: g(x) = (x with 15% of its words selected and mostly replaced by
  [MASK], the original selected words) -> `mask_tokens`;
* next-sentence prediction: g(A, B) = ([CLS] A [SEP] B' [SEP], does B' = B?), where B' is the real
  next sentence half of the time and a sentence from another document otherwise -> `nsp_pairs`,
  `bert_inputs`;
* next-token prediction (GPT): g(x) = (x_1..x_{t}, x_{t+1}) at every t at once -> `LMBatches`
  with the shift inside `sslcourse.gpt.next_token_loss`.

The models live in `sslcourse.bert` (MiniBERT, fill_mask, evaluate_bert) and `sslcourse.gpt`
(MiniGPT, perplexity, generate), the attention in `sslcourse.transformer`, the tokenizer in
`sslcourse.tokenizer`, the corpora in `sslcourse.data.english`. The training command and the
shipped checkpoints (``load_pretrained("bert")`` / ``"gpt"``) are ``sslcourse.recipes.text``.
"""
from __future__ import annotations

import random
from typing import Iterator, Protocol, Sequence

import torch
from torch import Tensor

from sslcourse.data.english import Story, toy_vocabulary
from sslcourse.tokenizer import SPECIAL_TOKENS, Tokenizer

__all__ = ["Vocab", "mask_tokens", "nsp_pairs", "bert_inputs", "BertBatches", "LMBatches", "toy_tokenizer",
           "toy_documents"]


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


# --------------------------------------------------------------------------- the toy corpus


def toy_tokenizer() -> Tokenizer:
    """The tokenizer of the toy English corpus (every word of the grammar; no [UNK] needed)."""
    return Tokenizer(toy_vocabulary())


def toy_documents(stories: Sequence[Story]) -> list[list[str]]:
    """Stories -> documents of two sentences (the input of `BertBatches`)."""
    return [[s.first, s.second] for s in stories]
