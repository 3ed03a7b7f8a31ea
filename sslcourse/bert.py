"""mini-BERT: an encoder-only transformer pretrained by masked language modelling + next-sentence prediction.

Devlin et al., 2018, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", https://arxiv.org/abs/1810.04805.

Input ``[CLS] A [SEP] B [SEP]`` (built by `sslcourse.text.bert_inputs`); each position's vector is

    token embedding + position embedding + segment embedding (0 for [CLS] A [SEP], 1 for B [SEP])

then a stack of bidirectional `TransformerBlock`s (padding mask only: every token sees every real
token, before and after it). Two heads read the outputs:

* the **MLM head** predicts the original word at the positions `mask_tokens` selected; its output
  matrix is the token-embedding matrix (weight tying); the loss is a softmax cross-entropy over
  the vocabulary, on the selected positions only (`mlm_loss`);
* the **NSP head** reads the output at [CLS] (through BERT's "pooler", a tanh layer) and predicts
  whether B really follows A (`nsp_loss`; label 1 = B follows A, 0 = B is a random sentence).

Sizes (`BertConfig`): small CPU defaults; BERT-base's values in comments.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcourse.data.english import split_sentences
from sslcourse.text import bert_inputs
from sslcourse.tokenizer import Tokenizer
from sslcourse.transformer import TransformerBlock, padding_mask, init_weights

__all__ = ["BertConfig", "MiniBERT", "mlm_loss", "nsp_loss", "fill_mask", "evaluate_bert"]


@dataclass
class BertConfig:
    """Sizes of a mini-BERT (BERT-base values in comments)."""

    vocab_size: int
    max_len: int = 64  # BERT: 512
    d_model: int = 128  # BERT-base: 768
    n_layers: int = 4  # BERT-base: 12
    n_heads: int = 4  # BERT-base: 12
    dropout: float = 0.1  # BERT: 0.1
    n_segments: int = 2  # sentence A and sentence B
    fast_attention: bool = False  # True: fused F.scaled_dot_product_attention


def mlm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Masked-language-modelling loss: cross-entropy on the selected positions only.

    Args:
        logits: ``(B, T, V)`` scores over the vocabulary at every position.
        labels: ``(B, T)`` the original token id where `mask_tokens` selected the position, -100 elsewhere.

    Returns:
        scalar: mean over the selected positions of -log softmax(logits)[original word]
        (0 if no position is selected).
    """
    # ### BEGIN SOLUTION
    selected = labels != -100  # (B, T)
    if not selected.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[selected], labels[selected])  # (n_selected, V) vs (n_selected,)
    # ### END SOLUTION


def nsp_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Next-sentence-prediction loss: binary softmax cross-entropy on the [CLS] output.

    Args:
        logits: ``(B, 2)`` scores for (random sentence, real next sentence).
        labels: ``(B,)`` 1 if sentence B really follows A, else 0.
    """
    # ### BEGIN SOLUTION
    return F.cross_entropy(logits, labels)
    # ### END SOLUTION


class NSPHead(nn.Module):
    """BERT's pooler (Linear + tanh on the [CLS] output) followed by a 2-way classifier."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.pooler = nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh())
        self.classifier = nn.Linear(d_model, 2)

    def forward(self, h: Tensor) -> Tensor:
        return self.classifier(self.pooler(h[:, 0]))  # (B, d) at [CLS] -> (B, 2)


class MiniBERT(nn.Module):
    """Encoder-only transformer with tied MLM head and NSP head.

    Args:
        config: `BertConfig`.

    ``forward(batch)`` takes a dict from `sslcourse.text.BertBatches` (``input_ids``,
    ``segment_ids``, ``attention_mask``, optional ``mlm_labels`` and ``nsp_labels``) and returns
    ``{"loss", "mlm_loss", "nsp_loss", "mlm_acc", "nsp_acc"}`` (only the terms it has labels for).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_len, c.d_model)
        self.seg_emb = nn.Embedding(c.n_segments, c.d_model)
        self.emb_norm = nn.LayerNorm(c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(c.d_model, c.n_heads, c.dropout, c.fast_attention)
                                    for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.d_model)
        # MLM head: BERT's transform (Linear, GELU, LayerNorm), then the tied decoder
        self.mlm_transform = nn.Sequential(nn.Linear(c.d_model, c.d_model), nn.GELU(), nn.LayerNorm(c.d_model))
        self.mlm_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.nsp_head = NSPHead(c.d_model)
        self.apply(init_weights)

    def embed(self, input_ids: Tensor, segment_ids: Tensor | None = None) -> Tensor:
        """Token + position + segment embeddings: ``(B, T)`` ids -> ``(B, T, d)``."""
        B, T = input_ids.shape
        if T > self.config.max_len:
            raise ValueError(f"MiniBERT: sequence length {T} exceeds max_len={self.config.max_len}; "
                             "truncate the inputs (bert_inputs(..., max_len=...))")
        if segment_ids is None:
            segment_ids = torch.zeros_like(input_ids)
        pos = torch.arange(T, device=input_ids.device)  # (T,)
        x = self.tok_emb(input_ids) + self.pos_emb(pos)[None] + self.seg_emb(segment_ids)  # (B, T, d)
        return self.drop(self.emb_norm(x))

    def encode(self, input_ids: Tensor, segment_ids: Tensor | None = None, attention_mask: Tensor | None = None,
               keep_weights: bool = False) -> Tensor:
        """The encoder f1: contextual vectors ``(B, T, d)`` (the part kept for downstream tasks).

        `keep_weights` stores each layer's attention weights (see `attention_maps`).
        """
        mask = None if attention_mask is None else padding_mask(attention_mask)  # (B, 1, 1, T)
        x = self.embed(input_ids, segment_ids)
        for block in self.blocks:
            x = block(x, mask, keep_weights)  # (B, T, d)
        return self.norm(x)

    def attention_maps(self) -> list[Tensor]:
        """Attention weights ``(B, h, T, T)`` per layer from the last ``encode(..., keep_weights=True)``."""
        return [b.attn.last_weights for b in self.blocks if b.attn.last_weights is not None]

    def mlm_logits(self, h: Tensor) -> Tensor:
        """``(B, T, d)`` -> ``(B, T, V)``; the output matrix is the token-embedding matrix (tied)."""
        return self.mlm_transform(h) @ self.tok_emb.weight.T + self.mlm_bias  # (B, T, V)

    def nsp_logits(self, h: Tensor) -> Tensor:
        """``(B, T, d)`` -> ``(B, 2)`` from the [CLS] position."""
        return self.nsp_head(h)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        h = self.encode(batch["input_ids"], batch.get("segment_ids"), batch.get("attention_mask"))  # (B, T, d)
        out: dict[str, Tensor | float] = {}
        loss = h.new_zeros(())
        if "mlm_labels" in batch:
            labels = batch["mlm_labels"]
            selected = labels != -100  # (B, T)
            logits = self.mlm_logits(h[selected])  # only selected rows: (n, V)
            out["mlm_loss"] = F.cross_entropy(logits, labels[selected]) if selected.any() else h.sum() * 0
            out["mlm_acc"] = (logits.argmax(-1) == labels[selected]).float().mean().item() if selected.any() else 0.0
            loss = loss + out["mlm_loss"]
        if "nsp_labels" in batch:
            logits = self.nsp_logits(h)  # (B, 2)
            out["nsp_loss"] = nsp_loss(logits, batch["nsp_labels"])
            out["nsp_acc"] = (logits.argmax(-1) == batch["nsp_labels"]).float().mean().item()
            loss = loss + out["nsp_loss"]
        out["loss"] = loss
        return out

    # ------------------------------------------------------------------ checkpoints


@torch.no_grad()
def fill_mask(model: MiniBERT, tokenizer: Tokenizer, text: str, top_k: int = 5,
              make_inputs: Callable | None = None) -> list[tuple[str, float]]:
    """Rank the words that could stand at the one "[MASK]" of `text`.

    The text is one sentence or two (then fed as ``[CLS] A [SEP] B [SEP]``, as in pretraining).

    Args:
        model: a (pretrained) `MiniBERT`.
        tokenizer: its tokenizer.
        text: e.g. "She [MASK] her coffee."
        top_k: how many words to return.
        make_inputs: ``pairs -> (input_ids, segment_ids, attention_mask)`` used instead of
            ``sslcourse.text.bert_inputs`` (exercise 02 passes its own); a lone sentence comes as
            ``(ids, [])``.

    Returns:
        ``[(word, probability), ...]``, most probable first (special tokens excluded).

    Example:
        >>> fill_mask(bert, tok, "She [MASK] her coffee.")  # doctest: +SKIP
        [('drank', 0.98), ...]
    """
    sentences = split_sentences(text)
    if text.count("[MASK]") != 1 or len(sentences) > 2:
        raise ValueError(f"fill_mask: the text needs exactly one [MASK] and at most two sentences, got {text!r}")
    ids = [tokenizer.encode(s) for s in sentences]
    if make_inputs is None:
        batch = bert_inputs([(ids[0], ids[1] if len(ids) > 1 else None)], tokenizer)
        inputs = batch["input_ids"], batch["segment_ids"], batch["attention_mask"]
    else:
        inputs = make_inputs([(ids[0], ids[1] if len(ids) > 1 else [])])
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    input_ids, segment_ids, attention_mask = (t.to(dev) for t in inputs)  # 3 x (1, T)
    h = model.encode(input_ids, segment_ids, attention_mask)  # (1, T, d)
    pos = (input_ids[0] == tokenizer.mask_id).nonzero()[0, 0]
    logits = model.mlm_logits(h[0, pos])  # (V,)
    logits[list(tokenizer.special_ids)] = float("-inf")
    probs = logits.softmax(-1)
    top = probs.topk(min(top_k, len(tokenizer) - len(tokenizer.special_ids)))
    model.train(was_training)
    return [(tokenizer.itos[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


@torch.no_grad()
def evaluate_bert(model: MiniBERT, batches: Iterable[dict[str, Tensor]]) -> dict[str, float]:
    """Masked-token accuracy (top-1 at selected positions) and NSP accuracy, pooled over `batches`
    (e.g. ``sslcourse.text.BertBatches``)."""
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
