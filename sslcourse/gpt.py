"""mini-GPT: the same transformer blocks with a causal mask, trained to predict the next token.

Radford et al., 2018/2019, "Improving Language Understanding by Generative Pre-Training" /
"Language Models are Unsupervised Multitask Learners" (GPT, GPT-2); code in the spirit of
Karpathy's minGPT / nanoGPT.

Next-token prediction is auto-regressive: the model factorises
p(x_1..x_T) = prod_t p(x_t | x_1..x_{t-1}), so position t may only look at positions <= t
(`causal_mask`). The output at position t is scored against the token at t+1 ("shifted
targets", `next_token_loss`); the exponential of the mean loss is the **perplexity**: the
effective number of words the model hesitates between (the vocabulary size for a uniform guess).

Generation repeats: take the logits of the last position, pick a token (greedy argmax, or a
sample from softmax(logits / temperature) restricted to the `top_k` best tokens), append it.

Sequences on the toy corpus are ``[CLS] story [SEP]``: [CLS] plays the begin-of-text token,
[SEP] the end-of-text token, right padding with [PAD] (never a target).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcourse.tokenizer import Tokenizer
from sslcourse.transformer import TransformerBlock, causal_mask, init_weights

__all__ = ["GPTConfig", "MiniGPT", "next_token_loss", "perplexity", "sample_next", "generate"]


@dataclass
class GPTConfig:
    """Sizes of a mini-GPT (GPT-2 small's values in comments)."""

    vocab_size: int
    max_len: int = 64  # GPT-2: 1024
    d_model: int = 128  # GPT-2 small: 768
    n_layers: int = 4  # 12
    n_heads: int = 4  # 12
    dropout: float = 0.1  # 0.1
    fast_attention: bool = False  # True: fused F.scaled_dot_product_attention (is_causal)


def next_token_loss(logits: Tensor, input_ids: Tensor, pad_id: int | None = 0) -> Tensor:
    """Cross-entropy of each position's prediction against the NEXT token (shifted targets).

    Args:
        logits: ``(B, T, V)`` the model's outputs for ``input_ids``.
        input_ids: ``(B, T)``.
        pad_id: targets equal to it are ignored (None: ignore nothing).

    Returns:
        scalar: mean over positions t = 0..T-2 of -log softmax(logits[:, t])[input_ids[:, t+1]].
    """
    # ### BEGIN SOLUTION
    pred = logits[:, :-1]  # (B, T-1, V): position t predicts token t+1
    target = input_ids[:, 1:]  # (B, T-1)
    if pad_id is not None:
        target = target.masked_fill(target == pad_id, -100)
    return F.cross_entropy(pred.reshape(-1, pred.size(-1)), target.reshape(-1), ignore_index=-100)
    # ### END SOLUTION


class MiniGPT(nn.Module):
    """Decoder-only transformer: token + position embeddings, causal blocks, tied output layer.

    ``forward(batch)`` takes ``{"input_ids": (B, T)}`` and returns ``{"loss", "ppl"}``;
    `logits(input_ids)` gives ``(B, T, V)``.
    """

    def __init__(self, config: GPTConfig, pad_id: int = 0) -> None:
        super().__init__()
        self.config = c = config
        self.pad_id = pad_id
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.max_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(c.d_model, c.n_heads, c.dropout, c.fast_attention)
                                    for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.apply(init_weights)

    def logits(self, input_ids: Tensor, keep_weights: bool = False) -> Tensor:
        """``(B, T)`` ids -> ``(B, T, V)`` next-token scores; position t sees tokens 0..t only."""
        B, T = input_ids.shape
        if T > self.config.max_len:
            raise ValueError(f"MiniGPT: sequence length {T} exceeds max_len={self.config.max_len}; "
                             "keep only the last max_len tokens")
        pos = torch.arange(T, device=input_ids.device)  # (T,)
        x = self.drop(self.tok_emb(input_ids) + self.pos_emb(pos)[None])  # (B, T, d)
        mask = causal_mask(T, input_ids.device)  # (T, T)
        for block in self.blocks:
            x = block(x, mask, keep_weights)  # (B, T, d)
        return self.norm(x) @ self.tok_emb.weight.T  # (B, T, V): output layer tied to the embeddings

    def attention_maps(self) -> list[Tensor]:
        return [b.attn.last_weights for b in self.blocks if b.attn.last_weights is not None]

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor | float]:
        loss = next_token_loss(self.logits(batch["input_ids"]), batch["input_ids"], self.pad_id)
        return {"loss": loss, "ppl": math.exp(min(loss.item(), 50.0))}


@torch.no_grad()
def perplexity(model: MiniGPT, batches: Iterable[dict[str, Tensor]]) -> float:
    """exp(mean next-token cross-entropy) over every real target token of `batches`.

    Tokens are pooled over batches (a mean over tokens, not over batches), so the result does
    not depend on how the text was cut into batches of different lengths.
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    total, count = 0.0, 0
    for batch in batches:
        ids = batch["input_ids"].to(dev)
        logits = model.logits(ids)[:, :-1]  # (B, T-1, V)
        target = ids[:, 1:]  # (B, T-1)
        keep = target != model.pad_id
        total += F.cross_entropy(logits[keep], target[keep], reduction="sum").item()
        count += int(keep.sum())
    model.train(was_training)
    if count == 0:
        raise ValueError("perplexity: the batches hold no target token")
    return math.exp(total / count)


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """Pick the next token from the last position's scores.

    Args:
        logits: ``(B, V)`` scores.
        temperature: 0 -> greedy (argmax); < 1 sharper, > 1 flatter than the model's distribution.
        top_k: sample only among the k highest-scoring tokens (None: all).
        generator: random generator for the sample (on the logits' device).

    Returns:
        ``(B,)`` token ids.
    """
    # ### BEGIN SOLUTION
    if temperature == 0.0:
        return logits.argmax(dim=-1)  # greedy
    logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th best score
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)
    # ### END SOLUTION


@torch.no_grad()
def generate(model: MiniGPT, tokenizer: Tokenizer, prompt: str, max_new_tokens: int = 20,
             temperature: float = 1.0, top_k: int | None = None, greedy: bool = False,
             seed: int | None = None) -> str:
    """Continue `prompt` token by token until [SEP] (end of text) or `max_new_tokens`.

    Args:
        model, tokenizer: a (pretrained) `MiniGPT` and its tokenizer.
        prompt: start of the text, e.g. "She drank her".
        temperature, top_k: sampling controls (see `sample_next`); `greedy=True` takes the argmax.
        seed: seed for sampling (reproducible output).

    Returns:
        the prompt and its continuation, as space-separated words.
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed) if seed is not None else None
    ids = torch.tensor([[tokenizer.cls_id] + tokenizer.encode(prompt)], device=dev)  # (1, T)
    for _ in range(max_new_tokens):
        logits = model.logits(ids[:, -model.config.max_len:])[:, -1]  # (1, V)
        logits[:, [tokenizer.pad_id, tokenizer.cls_id, tokenizer.mask_id]] = float("-inf")
        nxt = sample_next(logits, 0.0 if greedy else temperature, top_k, gen)  # (1,)
        if int(nxt) == tokenizer.sep_id:
            break
        ids = torch.cat([ids, nxt[:, None]], dim=1)  # (1, T+1)
    model.train(was_training)
    return tokenizer.decode(ids[0, 1:].tolist())
