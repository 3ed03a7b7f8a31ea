"""Training throughput (tokens/s) of mini-BERT against HuggingFace's BertForPreTraining, same size, same run.

    .venv/bin/pip install transformers      # benchmark-only extra, never a dependency of sslcourse
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/text_throughput.py [--steps 30] [--threads 2]

Both models: the shipped mini-BERT's sizes (vocabulary of the toy corpus, d=96, 3 layers, 4 heads,
MLP 4d, 32 positions), MLM + NSP heads, AdamW; batches of 64 sequences of 32 tokens with 15%
masked positions. The models take turns step by step so that a shared machine slows both alike.
Reports the median over the timed steps (after 5 warm-up steps).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from sslcourse.bert import BertConfig, MiniBERT
from sslcourse.text import mask_tokens, toy_tokenizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        from transformers import BertConfig as HFConfig, BertForPreTraining
    except ImportError:
        raise SystemExit("needs HuggingFace transformers: .venv/bin/pip install transformers (benchmark only)")

    tok = toy_tokenizer()
    cfg = BertConfig(len(tok), max_len=args.seq, d_model=96, n_layers=3, n_heads=4, dropout=0.1)
    ours = MiniBERT(cfg)
    fast = MiniBERT(BertConfig(**{**cfg.__dict__, "fast_attention": True}))
    hf = BertForPreTraining(HFConfig(vocab_size=len(tok), hidden_size=96, num_hidden_layers=3, num_attention_heads=4,
                                     intermediate_size=384, max_position_embeddings=args.seq, type_vocab_size=2,
                                     hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                                     attn_implementation="eager"))
    hf_sdpa = BertForPreTraining(HFConfig(vocab_size=len(tok), hidden_size=96, num_hidden_layers=3,
                                          num_attention_heads=4, intermediate_size=384,
                                          max_position_embeddings=args.seq, type_vocab_size=2,
                                          attn_implementation="sdpa"))
    models = {"sslcourse MiniBERT (hand-written attention)": ours, "sslcourse MiniBERT (fast_attention=True)": fast,
              "HF BertForPreTraining (eager attention)": hf, "HF BertForPreTraining (sdpa attention)": hf_sdpa}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    g = torch.Generator().manual_seed(0)
    B, T = args.batch, args.seq

    def batch():
        ids = torch.randint(5, len(tok), (B, T), generator=g)
        ids[:, 0], ids[:, T // 2], ids[:, -1] = tok.cls_id, tok.sep_id, tok.sep_id
        seg = (torch.arange(T) > T // 2).long().expand(B, T).contiguous()
        inp, labels = mask_tokens(ids, tok, generator=g)
        return inp, seg, torch.ones(B, T, dtype=torch.long), labels, torch.randint(0, 2, (B,), generator=g)

    def step(name: str, m: torch.nn.Module, b) -> float:
        inp, seg, am, labels, nsp = b
        t0 = time.perf_counter()
        if name.startswith("HF"):
            out = m(input_ids=inp, token_type_ids=seg, attention_mask=am, labels=labels, next_sentence_label=nsp)
            loss = out.loss
        else:
            loss = m({"input_ids": inp, "segment_ids": seg, "attention_mask": am, "mlm_labels": labels,
                      "nsp_labels": nsp})["loss"]
        opts[name].zero_grad(set_to_none=True)
        loss.backward()
        opts[name].step()
        return time.perf_counter() - t0

    times = {k: [] for k in models}
    for s in range(args.steps + 5):
        b = batch()
        for name, m in models.items():
            dt = step(name, m, b)
            if s >= 5:
                times[name].append(dt)
    print(f"| model ({sum(p.numel() for p in ours.parameters()) / 1e6:.2f} M / "
          f"{sum(p.numel() for p in hf.parameters()) / 1e6:.2f} M params) | tokens/s (median of {args.steps} steps) |")
    print("|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {B * T / statistics.median(ts):,.0f} |")
    print(f"\ntorch {torch.__version__}, {args.threads} threads, batch {B} x {T} tokens")


if __name__ == "__main__":
    main()
