"""Hand-written attention against PyTorch's own (sslcourse.transformer)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.transformer import (
    MultiHeadSelfAttention, TransformerBlock, causal_mask, padding_mask, scaled_dot_product_attention,
)


def _padding(B: int, T: int, g: torch.Generator) -> torch.Tensor:
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    return (torch.arange(T)[None] < lengths[:, None]).long()  # (B, T)


def test_attention_matches_torch_with_padding_mask():
    g = torch.Generator().manual_seed(0)
    B, h, T, d = 4, 3, 7, 8
    q, k, v = (torch.randn(B, h, T, d, generator=g) for _ in range(3))
    mask = padding_mask(_padding(B, T, g))  # (B, 1, 1, T)
    ours = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_attention_matches_torch_with_causal_mask():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 4, 9, 16, generator=g) for _ in range(3))
    ours = scaled_dot_product_attention(q, k, v, causal_mask(9))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v),
                               atol=1e-5, rtol=1e-5)


def test_attention_weights_are_distributions_that_ignore_masked_keys():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(3, 2, 6, 4, generator=g) for _ in range(3))
    am = _padding(3, 6, g)
    _, w = scaled_dot_product_attention(q, k, v, padding_mask(am), return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 6))
    assert (w * (1 - am)[:, None, None, :]).abs().max() == 0  # no weight on [PAD] keys
    # changing the values of padded keys changes nothing
    v2 = v + 100 * (1 - am)[:, None, :, None]
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v2, padding_mask(am)),
                               scaled_dot_product_attention(q, k, v, padding_mask(am)))


def test_causal_mask_small_case():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def _copy_to_torch(ours: MultiHeadSelfAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(ours.d_model, ours.n_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    return ref.eval()


def test_multihead_matches_nn_multiheadattention():
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(24, 4).eval()
    ref = _copy_to_torch(ours)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 8, 24, generator=g)
    am = _padding(5, 8, g)
    out = ours(x, padding_mask(am))
    expected, _ = ref(x, x, x, key_padding_mask=~am.bool(), need_weights=False)  # torch: True = ignore
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    out = ours(x, causal_mask(8))
    expected, _ = ref(x, x, x, attn_mask=~causal_mask(8), need_weights=False)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_fast_path_equals_hand_written_path():
    torch.manual_seed(0)
    slow = MultiHeadSelfAttention(16, 2).eval()
    fast = MultiHeadSelfAttention(16, 2, fast=True).eval()
    fast.load_state_dict(slow.state_dict())
    x = torch.randn(3, 5, 16)
    m = padding_mask(_padding(3, 5, torch.Generator().manual_seed(4)))
    torch.testing.assert_close(fast(x, m), slow(x, m), atol=1e-5, rtol=1e-4)


def test_block_keeps_shape_and_weights():
    block = TransformerBlock(16, 4).eval()
    x = torch.randn(2, 6, 16)
    assert block(x, causal_mask(6), keep_weights=True).shape == (2, 6, 16)
    w = block.attn.last_weights
    assert w.shape == (2, 4, 6, 6)
    assert torch.all(w.triu(1) == 0)  # causal: nothing above the diagonal


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(10, 3)
