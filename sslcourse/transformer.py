"""The transformer block shared by mini-BERT and mini-GPT, with attention written by hand.

Vaswani et al., 2017, "Attention Is All You Need", https://arxiv.org/abs/1706.03762.

Scaled dot-product attention of queries Q, keys K and values V (one head, d_k = head size):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V

where the mask M is 0 where a query may look at a key and -inf where it may not. The two
masks of the lecture:

* **padding mask** (BERT, the encoder): every token sees every real token, before and after it
  (bidirectional), never a [PAD];
* **causal mask** (GPT, next-token prediction): token t sees tokens 1..t only, never the future.

Masks here are boolean, ``True`` = "may attend" (the convention of
``torch.nn.functional.scaled_dot_product_attention``), and broadcast to ``(B, heads, T, T)``.

The block is pre-LayerNorm (GPT-2 / most modern models): ``x + Attn(LN(x))`` then
``x + MLP(LN(x))``. The original BERT put LayerNorm after each residual (post-LN); pre-LN trains
more stably at the small sizes used here.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["scaled_dot_product_attention", "padding_mask", "causal_mask", "MultiHeadSelfAttention",
           "TransformerBlock"]


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 dropout_p: float = 0.0, return_weights: bool = False
                                 ) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(d_k), masked) v, written out.

    Args:
        q: queries ``(..., T_q, d_k)``.
        k: keys ``(..., T_k, d_k)``.
        v: values ``(..., T_k, d_v)``.
        mask: boolean, broadcastable to ``(..., T_q, T_k)``; True where the query may attend to the key.
        dropout_p: dropout on the attention weights (training only; pass 0.0 in eval).
        return_weights: also return the attention weights.

    Returns:
        output ``(..., T_q, d_v)`` (and the weights ``(..., T_q, T_k)``, each row summing to 1).
    """
    # ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # a masked key gets weight exp(-inf) = 0
    weights = scores.softmax(dim=-1)  # (..., T_q, T_k)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    out = weights @ v  # (..., T_q, d_v)
    # ### END SOLUTION
    return (out, weights) if return_weights else out


def padding_mask(attention_mask: Tensor) -> Tensor:
    """Keys that are real tokens, as an attention mask.

    Args:
        attention_mask: ``(B, T)``, 1/True for real tokens, 0/False for [PAD].

    Returns:
        boolean ``(B, 1, 1, T)``: broadcasts over heads and queries.
    """
    return attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """Lower-triangular boolean ``(T, T)``: query t may attend to keys 0..t (itself and the past).

    Example (T=3)::

        [[ True, False, False],
         [ True,  True, False],
         [ True,  True,  True]]
    """
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()  # (T, T)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention: h heads of size d/h, concatenated and projected.

    The q, k, v projections are one ``Linear(d, 3d)`` (rows ordered q, k, v like
    ``nn.MultiheadAttention.in_proj_weight``), so the two modules can share weights in tests.

    Args:
        d_model: width d.
        n_heads: number of heads h (d must be divisible by h).
        dropout: dropout on attention weights and on the output.
        fast: use ``F.scaled_dot_product_attention`` (fused) instead of the hand-written path.

    Shape:
        x ``(B, T, d)``, mask broadcastable to ``(B, h, T, T)`` -> ``(B, T, d)``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, fast: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"MultiHeadSelfAttention: d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.dropout, self.fast = d_model, n_heads, dropout, fast
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.last_weights: Tensor | None = None  # filled when forward(..., keep_weights=True)

    def forward(self, x: Tensor, mask: Tensor | None = None, keep_weights: bool = False) -> Tensor:
        B, T, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(x).split(d, dim=-1)  # 3 x (B, T, d)
        q, k, v = (t.view(B, T, h, d // h).transpose(1, 2) for t in (q, k, v))  # 3 x (B, h, T, d/h)
        p = self.dropout if self.training else 0.0
        if self.fast and not keep_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, h, T, d/h)
        else:
            out, w = scaled_dot_product_attention(q, k, v, mask, dropout_p=p, return_weights=True)
            self.last_weights = w.detach() if keep_weights else None  # (B, h, T, T)
        out = out.transpose(1, 2).reshape(B, T, d)  # (B, T, d): heads concatenated
        return F.dropout(self.proj(out), p=p)


class TransformerBlock(nn.Module):
    """Pre-LN transformer block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))`` (MLP: d -> 4d -> d, GELU).

    Args:
        d_model: width d.
        n_heads: attention heads.
        dropout: dropout rate.
        fast: fused attention (see `MultiHeadSelfAttention`).

    Shape:
        ``(B, T, d)`` -> ``(B, T, d)``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, fast: bool = False) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads, dropout, fast)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model),
                                 nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor | None = None, keep_weights: bool = False) -> Tensor:
        x = x + self.attn(self.ln1(x), mask, keep_weights)  # (B, T, d)
        return x + self.mlp(self.ln2(x))  # (B, T, d)


def init_weights(m: nn.Module) -> None:
    """BERT's / GPT-2's initialisation: normal(0, 0.02) weights, zero biases (use with model.apply)."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
    if isinstance(m, nn.Linear) and m.bias is not None:
        nn.init.zeros_(m.bias)
