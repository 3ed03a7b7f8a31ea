"""mini-BERT and mini-GPT on real text: WikiText-2, train on valid.txt, evaluate on test.txt.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/text_wikitext.py --steps 600 [--only bert|gpt] [--data DIR]

Word-level tokenizer of the 8000 most frequent training words (the rest -> [UNK], which stays a
prediction target as in WikiText's own <unk> convention). Baselines measured on the same tokens:

* masked-token accuracy: always predicting the most frequent training word;
* perplexity: a unigram model of the training words (add-one smoothing).
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from sslcourse.data.english import find_wikitext, load_text_file
from sslcourse.bert import BertConfig, MiniBERT, evaluate_bert
from sslcourse.gpt import GPTConfig, MiniGPT, perplexity
from sslcourse.text import BertBatches, LMBatches
from sslcourse.tokenizer import Tokenizer
from sslcourse.train import fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default=None, help="folder with valid.txt and test.txt")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", choices=["bert", "gpt"], default=None, help="run one of the two models")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = find_wikitext() if args.data is None else __import__("pathlib").Path(args.data)
    if root is None:
        raise SystemExit("WikiText-2 not found: pass --data DIR (holding valid.txt and test.txt)")
    train_docs, test_docs = load_text_file(root / "valid.txt"), load_text_file(root / "test.txt")
    tok = Tokenizer.from_texts((s for d in train_docs for s in d), max_size=args.vocab)
    print(f"train: {sum(len(d) for d in train_docs)} sentences; test: {sum(len(d) for d in test_docs)}; "
          f"vocabulary {len(tok)}")

    if args.only != "gpt":
        run_bert(args, tok, train_docs, test_docs)
    if args.only != "bert":
        run_gpt(args, tok, train_docs, test_docs)


def run_bert(args, tok, train_docs, test_docs) -> None:
    t0 = time.time()
    bert = MiniBERT(BertConfig(len(tok), 64, args.d_model, args.layers, 4, 0.1))
    fit(bert, BertBatches(train_docs, tok, 32, 64, seed=0), steps=args.steps, lr=1e-3, weight_decay=0.01,
        warmup_steps=args.steps // 10, device="cpu", grad_clip=1.0, desc="bert")
    held = list(BertBatches(test_docs, tok, 64, 64, seed=1))
    ev = evaluate_bert(bert, held)
    train_counts = torch.bincount(torch.tensor([i for d in train_docs for s in d for i in tok.encode(s)]),
                                  minlength=len(tok))
    top_word = int(train_counts[5:].argmax()) + 5
    masked = torch.cat([b["mlm_labels"][b["mlm_labels"] != -100] for b in held])
    base = (masked == top_word).float().mean().item()
    print(f"| mini-BERT ({args.steps} steps, {time.time() - t0:.0f} s) | masked-token acc {ev['mlm_acc']:.1%} "
          f"(most frequent word '{tok.itos[top_word]}' {base:.1%}) | NSP acc {ev['nsp_acc']:.1%} (chance 50%) |")



def run_gpt(args, tok, train_docs, test_docs) -> None:
    t0 = time.time()
    gpt = MiniGPT(GPTConfig(len(tok), 64, args.d_model, args.layers, 4, 0.1), pad_id=tok.pad_id)
    train_lm = LMBatches([" ".join(d) for d in train_docs], tok, 32, 64, mode="stream", seed=0)
    fit(gpt, train_lm, steps=args.steps, lr=2e-3, weight_decay=0.01, warmup_steps=args.steps // 10, device="cpu",
        grad_clip=1.0, desc="gpt")
    test_lm = LMBatches([" ".join(d) for d in test_docs], tok, 64, 64, mode="stream", shuffle=False)
    ppl = perplexity(gpt, test_lm)
    freq = torch.bincount(torch.tensor([i for s in train_lm.seqs for i in s]), minlength=len(tok)).float() + 1
    logp = (freq / freq.sum()).log()
    targets = torch.tensor([i for s in test_lm.seqs for i in s[1:]])
    uni = math.exp(-logp[targets].mean().item())
    print(f"| mini-GPT ({args.steps} steps, {time.time() - t0:.0f} s) | test perplexity {ppl:.0f} "
          f"(unigram {uni:.0f}) |")


if __name__ == "__main__":
    main()
