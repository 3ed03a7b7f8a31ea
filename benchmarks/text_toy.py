"""Shipped mini-BERT / mini-GPT on held-out toy stories: MLM, NSP, fill-mask probes, perplexity.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/text_toy.py [--stories 2000]

Prints a markdown table (the figures of docs/benchmarks/text.md). Held-out stories have first
sentences never seen in training (`sslcourse.data.english.is_held_out`).
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from sslcourse.data.english import toy_corpus
from sslcourse.bert import MiniBERT, evaluate_bert, fill_mask
from sslcourse.gpt import MiniGPT, perplexity
from sslcourse.recipes.text import load_pretrained
from sslcourse.text import BertBatches, LMBatches, toy_documents

# fixed probe set: sentence with one [MASK] -> the answer the grammar determines
PROBES = {
    "She [MASK] her coffee.": "drank",
    "He [MASK] his soup.": "ate",
    "Anna [MASK] her newspaper.": "read",
    "Tom [MASK] his letter.": "wrote",
    "Mary [MASK] her scarf.": "wore",
    "He [MASK] his piano.": "played",
    "The [MASK] is barking. It's at the door.": "dog",
    "The duck is [MASK]. It's in the pond.": "swimming",
    "Lucy went to the [MASK]. She borrowed a book.": "library",
    "Sam went to the station. He took the [MASK].": "train",
    "It was raining when Ben woke up. He took his [MASK].": "umbrella",
    "Kate was [MASK]. She went to bed early.": "tired",
    "Paul was thirsty. He drank some [MASK].": "water",
    "Emma lost her keys. She found [MASK] in the car.": "them",
    "John drank his tea. The [MASK] was hot.": "tea",
    "Nora ate her cake. She was not [MASK] anymore.": "hungry",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--stories", type=int, default=2000, help="held-out stories")
    args = p.parse_args()
    torch.set_num_threads(2)
    _, test = toy_corpus(n_train=10, n_test=args.stories, seed=0)
    t0 = time.time()
    bert, tok = load_pretrained("bert")
    gpt, _ = load_pretrained("gpt")
    held = list(BertBatches(toy_documents(test), tok, batch_size=250, max_len=32, seed=123))
    pre = evaluate_bert(bert, held)
    torch.manual_seed(0)
    rnd = evaluate_bert(MiniBERT(bert.config), held)
    counts = torch.bincount(torch.cat([b["mlm_labels"][b["mlm_labels"] != -100] for b in held]), minlength=len(tok))
    majority = counts.max().item() / counts.sum().item()
    hits = [fill_mask(bert, tok, q, top_k=1)[0][0] == a for q, a in PROBES.items()]
    lm = LMBatches([s.text for s in test], tok, batch_size=250, shuffle=False)
    ppl = perplexity(gpt, lm)
    ppl_rand = perplexity(MiniGPT(gpt.config, pad_id=tok.pad_id), lm)
    print(f"| held-out stories | {len(test)} ({pre['mlm_tokens']} masked tokens, {pre['nsp_pairs']} NSP pairs) |")
    print("|---|---|")
    print(f"| masked-token accuracy | {pre['mlm_acc']:.1%} (random init {rnd['mlm_acc']:.1%}, most frequent word {majority:.1%}) |")
    print(f"| NSP accuracy | {pre['nsp_acc']:.1%} (random init {rnd['nsp_acc']:.1%}, chance 50%) |")
    print(f"| fill-mask top-1 on {len(PROBES)} probes | {sum(hits)}/{len(PROBES)} |")
    print(f"| mini-GPT perplexity | {ppl:.2f} (random init {ppl_rand:.0f}, uniform {len(tok)}) |")
    misses = [q for (q, a), h in zip(PROBES.items(), hits) if not h]
    if misses:
        print("missed probes:", misses)
    print(f"\n(evaluated in {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
