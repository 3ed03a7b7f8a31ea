"""Downstream use of a pretrained mini-BERT: the three ways of the lecture, on tasks from the toy corpus.

Devlin et al., 2018 (https://arxiv.org/abs/1810.04805), figure 4: a pretrained BERT is
fine-tuned end to end with one small new layer on top of its outputs:

* **sentence (or pair) classification** from the [CLS] output (`SequenceClassifier`); toy task:
  the topic of a story's *second* sentence ("The coffee was hot." -> drink), one of `TOPICS`;
* **per-token tagging** from every output (`TokenTagger`); toy task: the kind of each word
  (PERSON, ANIMAL, PLACE, THING or O), like named-entity recognition;
* **span extraction** with a start and an end score per token (`SpanExtractor`); toy task:
  "[CLS] What did she drink? [SEP] She drank her coffee. She was ... [SEP]" -> "her coffee",
  like SQuAD question answering.

`finetune` trains one of them from the pretrained weights or from a random initialisation of
the same network, with few labelled examples, and returns the held-out accuracy: the comparison
the lecture draws as a chart.
"""
from __future__ import annotations

import copy
import random
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcourse.bert import MiniBERT
from sslcourse.data.english import TAGS, TOPICS, Story, word_tags
from sslcourse.tokenizer import Tokenizer
from sslcourse.train import fit

__all__ = ["SequenceClassifier", "TokenTagger", "SpanExtractor", "task_examples", "finetune", "TASKS"]

TASKS = ("classification", "tagging", "span")


class SequenceClassifier(nn.Module):
    """[CLS] output -> pooler (pretrained by NSP) -> dropout -> Linear(d, n_classes)."""

    def __init__(self, bert: MiniBERT, n_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = bert
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(bert.config.d_model, n_classes))

    def logits(self, batch: dict[str, Tensor]) -> Tensor:
        h = self.bert.encode(batch["input_ids"], batch["segment_ids"], batch["attention_mask"])  # (B, T, d)
        return self.head(self.bert.nsp_head.pooler(h[:, 0]))  # (B, n_classes)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        logits = self.logits(batch)
        return {"loss": F.cross_entropy(logits, batch["labels"]),
                "acc": (logits.argmax(-1) == batch["labels"]).float().mean().item()}

    @torch.no_grad()
    def accuracy(self, batch: dict[str, Tensor]) -> float:
        return (self.logits(batch).argmax(-1) == batch["labels"]).float().mean().item()


class TokenTagger(nn.Module):
    """Every output -> Linear(d, n_tags); labels -100 on [CLS], [SEP] and [PAD] (not scored)."""

    def __init__(self, bert: MiniBERT, n_tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = bert
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(bert.config.d_model, n_tags))

    def logits(self, batch: dict[str, Tensor]) -> Tensor:
        h = self.bert.encode(batch["input_ids"], batch["segment_ids"], batch["attention_mask"])  # (B, T, d)
        return self.head(h)  # (B, T, n_tags)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        logits = self.logits(batch)
        return {"loss": F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)}

    @torch.no_grad()
    def accuracy(self, batch: dict[str, Tensor], ignore: int | None = 0) -> float:
        """Token accuracy over the words whose tag is not `ignore` (default: not "O", the entity words)."""
        keep = batch["labels"] != -100
        if ignore is not None:
            keep &= batch["labels"] != ignore
        return (self.logits(batch).argmax(-1)[keep] == batch["labels"][keep]).float().mean().item()


class SpanExtractor(nn.Module):
    """Every output -> (start score, end score); the answer is the best span inside sentence B.

    Loss: mean of the cross-entropies of the true start and the true end over the positions of
    the context (segment 1, its final [SEP] excluded).
    """

    def __init__(self, bert: MiniBERT, max_answer_len: int = 4) -> None:
        super().__init__()
        self.bert = bert
        self.head = nn.Linear(bert.config.d_model, 2)
        self.max_answer_len = max_answer_len

    def logits(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        h = self.bert.encode(batch["input_ids"], batch["segment_ids"], batch["attention_mask"])  # (B, T, d)
        start, end = self.head(h).unbind(-1)  # 2 x (B, T)
        context = batch["segment_ids"].bool() & (batch["input_ids"] != 2) & batch["attention_mask"].bool()
        return start.masked_fill(~context, float("-inf")), end.masked_fill(~context, float("-inf"))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        start, end = self.logits(batch)
        loss = (F.cross_entropy(start, batch["start"]) + F.cross_entropy(end, batch["end"])) / 2
        return {"loss": loss}

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Best (start, end) with start <= end < start + max_answer_len: ``(B,)``, ``(B,)``."""
        start, end = self.logits(batch)  # (B, T)
        T = start.shape[1]
        scores = start[:, :, None] + end[:, None, :]  # (B, T, T): score of span (i, j)
        i, j = torch.meshgrid(torch.arange(T, device=start.device), torch.arange(T, device=start.device),
                              indexing="ij")
        valid = (j >= i) & (j < i + self.max_answer_len)  # (T, T)
        best = scores.masked_fill(~valid, float("-inf")).flatten(1).argmax(-1)  # (B,)
        return best // T, best % T

    @torch.no_grad()
    def accuracy(self, batch: dict[str, Tensor]) -> float:
        """Exact match: both the start and the end are right."""
        s, e = self.predict(batch)
        return ((s == batch["start"]) & (e == batch["end"])).float().mean().item()


# --------------------------------------------------------------------------- toy tasks


def _encode_pair(tok: Tokenizer, a: str, b: str | None) -> tuple[list[int], list[int]]:
    ids = [tok.cls_id, *tok.encode(a), tok.sep_id]
    seg = [0] * len(ids)
    if b is not None:
        bb = tok.encode(b)
        ids += [*bb, tok.sep_id]
        seg += [1] * (len(bb) + 1)
    return ids, seg


def _pad(rows: list[list[int]], value: int) -> Tensor:
    T = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (T - len(r)) for r in rows])  # (B, T)


def task_examples(task: str, stories: Sequence[Story], tok: Tokenizer) -> dict[str, Tensor]:
    """All examples of a toy task as one padded batch (dict of tensors; labels under the task's keys).

    classification: ``[CLS] second sentence [SEP]`` -> ``labels`` = topic index in `TOPICS`.
    tagging: ``[CLS] A [SEP] B [SEP]`` -> ``labels`` ``(B, T)`` = tag index in `TAGS` per word.
    span: ``[CLS] question [SEP] A B [SEP]`` -> ``start``, ``end`` = positions of the answer.
    """
    if task not in TASKS:
        raise ValueError(f"task_examples: task must be one of {TASKS}, got {task!r}")
    rows, segs, extra = [], [], {"labels": [], "start": [], "end": []}
    for s in stories:
        if task == "classification":
            ids, seg = _encode_pair(tok, s.second, None)
            extra["labels"].append(TOPICS.index(s.topic))
        elif task == "tagging":
            ids, seg = _encode_pair(tok, s.first, s.second)
            words = tok.convert_ids_to_tokens(ids)
            tags = [TAGS.index(t) for t in word_tags(words)]
            extra["labels"].append([-100 if i in tok.special_ids else t for i, t in zip(ids, tags)])
        else:
            ids, seg = _encode_pair(tok, s.question, s.text)
            ans = tok.encode(s.answer)
            b0 = seg.index(1)
            start = next(i for i in range(b0, len(ids)) if ids[i: i + len(ans)] == ans)
            extra["start"].append(start)
            extra["end"].append(start + len(ans) - 1)
        rows.append(ids)
        segs.append(seg)
    batch = {"input_ids": _pad(rows, tok.pad_id), "segment_ids": _pad(segs, 0),
             "attention_mask": _pad([[1] * len(r) for r in rows], 0)}
    if task == "tagging":
        batch["labels"] = _pad(extra["labels"], -100)
    elif task == "classification":
        batch["labels"] = torch.tensor(extra["labels"])
    else:
        batch["start"], batch["end"] = torch.tensor(extra["start"]), torch.tensor(extra["end"])
    return batch


class _Minibatches:
    """Shuffled mini-batches of a dict of tensors (re-iterable)."""

    def __init__(self, data: dict[str, Tensor], batch_size: int, seed: int = 0) -> None:
        self.data, self.batch_size, self.rng = data, batch_size, random.Random(seed)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        n = len(self.data["input_ids"])
        order = list(range(n))
        self.rng.shuffle(order)
        for i in range(0, n, self.batch_size):
            idx = torch.tensor(order[i: i + self.batch_size])
            yield {k: v[idx] for k, v in self.data.items()}


def finetune(task: str, bert: MiniBERT, tok: Tokenizer, train: Sequence[Story], test: Sequence[Story],
             pretrained: bool = True, steps: int = 150, lr: float = 3e-4, batch_size: int = 16,
             seed: int = 0, device: str = "cpu") -> float:
    """Fine-tune a copy of `bert` (or of a fresh random init of the same size) on a toy task.

    Args:
        task: "classification", "tagging" or "span".
        bert: the pretrained mini-BERT (copied, never modified).
        tok: its tokenizer.
        train: the few labelled stories.
        test: held-out stories.
        pretrained: False -> same network re-initialised at random ("from scratch").
        steps, lr, batch_size: fine-tuning budget (BERT: lr 2e-5..5e-5 for 2-4 epochs on big models;
            a small model from scratch needs larger steps, so both use lr 3e-4 here).
        seed: seed of the initialisation of the head (and of the network when not pretrained).
        device: where to fine-tune ("cpu", "cuda", "auto").

    Returns:
        held-out accuracy: topic accuracy, entity-word tag accuracy, or span exact match.
    """
    torch.manual_seed(seed)
    encoder = copy.deepcopy(bert).cpu()
    if not pretrained:
        encoder = MiniBERT(encoder.config)
    if task == "classification":
        model: nn.Module = SequenceClassifier(encoder, len(TOPICS))
    elif task == "tagging":
        model = TokenTagger(encoder, len(TAGS))
    elif task == "span":
        model = SpanExtractor(encoder)
    else:
        raise ValueError(f"finetune: task must be one of {TASKS}, got {task!r}")
    data = _Minibatches(task_examples(task, train, tok), batch_size, seed)
    fit(model, data, steps=steps, lr=lr, weight_decay=0.01, warmup_steps=steps // 10, device=device,
        progress=False, seed=seed)
    model = model.cpu().eval()
    return model.accuracy(task_examples(task, test, tok))
