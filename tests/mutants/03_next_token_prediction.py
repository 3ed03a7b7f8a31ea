"""Plausible wrong answers for the graded functions of 03_next_token_prediction.

Each entry is the source of a wrong version of one graded function, under its notebook name;
the hidden tests must make every one of them lose points.
"""

MUTANTS = {
    # ---------------------------------------------------------------- causal_mask
    "causal_upper_triangle": '''
def causal_mask(T, device=None):
    return torch.ones(T, T, dtype=torch.bool, device=device).triu()
''',
    "causal_strict_no_diagonal": '''
def causal_mask(T, device=None):
    return torch.ones(T, T, dtype=torch.bool, device=device).tril(-1)
''',
    "causal_float_mask": '''
def causal_mask(T, device=None):
    return torch.ones(T, T, device=device).tril()
''',
    # ---------------------------------------------------------------- next_token_loss
    "loss_no_shift": '''
def next_token_loss(logits, input_ids, pad_id=PAD):
    return F.cross_entropy(logits.flatten(0, 1), input_ids.flatten(), ignore_index=pad_id)
''',
    "loss_shift_wrong_way": '''
def next_token_loss(logits, input_ids, pad_id=PAD):
    return F.cross_entropy(logits[:, 1:].flatten(0, 1), input_ids[:, :-1].flatten(), ignore_index=pad_id)
''',
    "loss_pad_scored": '''
def next_token_loss(logits, input_ids, pad_id=PAD):
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), input_ids[:, 1:].flatten())
''',
    "loss_pad_hardcoded_zero": '''
def next_token_loss(logits, input_ids, pad_id=PAD):
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), input_ids[:, 1:].flatten(), ignore_index=0)
''',
    # ---------------------------------------------------------------- perplexity
    "ppl_mean_of_batch_ppl": '''
def perplexity(batches, pad_id=PAD):
    ppls = []
    for logits, ids in batches:
        t = ids[:, 1:]
        keep = t != pad_id
        ppls.append(math.exp(float(F.cross_entropy(logits[:, :-1][keep], t[keep]))))
    return sum(ppls) / len(ppls)
''',
    "ppl_unweighted_batch_losses": '''
def perplexity(batches, pad_id=PAD):
    losses = []
    for logits, ids in batches:
        t = ids[:, 1:]
        keep = t != pad_id
        losses.append(float(F.cross_entropy(logits[:, :-1][keep], t[keep])))
    return math.exp(sum(losses) / len(losses))
''',
    "ppl_base_two": '''
def perplexity(batches, pad_id=PAD):
    nll, n = 0.0, 0
    for logits, ids in batches:
        t = ids[:, 1:]
        keep = t != pad_id
        nll += float(F.cross_entropy(logits[:, :-1][keep], t[keep], reduction="sum"))
        n += int(keep.sum())
    return 2 ** (nll / n)
''',
    # ---------------------------------------------------------------- sample_next
    "sample_temperature_multiplies": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    z = logits * temperature
    if top_k is not None:
        kth = z.topk(top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    return torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]
''',
    "sample_top_k_plus_one": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    z = logits / temperature
    if top_k is not None:
        kth = z.topk(min(top_k + 1, z.shape[-1]), dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    return torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]
''',
    "sample_top_k_ignored": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    return torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator)[:, 0]
''',
    "sample_temperature_ignored": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    z = logits.clone()
    if top_k is not None:
        kth = z.topk(top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    return torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]
''',
    "sample_ignores_generator": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    z = logits / temperature
    if top_k is not None:
        kth = z.topk(top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    return torch.multinomial(z.softmax(-1), 1)[:, 0]
''',
    # ---------------------------------------------------------------- generate
    "generate_first_position": '''
def generate(logits_fn, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, eos_id=SEP, generator=None):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        nxt = int(sample_next(logits_fn(torch.tensor([ids]))[:, 0], temperature, top_k, generator)[0])
        if nxt == eos_id:
            break
        ids.append(nxt)
    return ids
''',
    "generate_appends_eos": '''
def generate(logits_fn, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, eos_id=SEP, generator=None):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        nxt = int(sample_next(logits_fn(torch.tensor([ids]))[:, -1], temperature, top_k, generator)[0])
        ids.append(nxt)
        if nxt == eos_id:
            break
    return ids
''',
    "generate_only_last_token_as_context": '''
def generate(logits_fn, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, eos_id=SEP, generator=None):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        nxt = int(sample_next(logits_fn(torch.tensor([ids[-1:]]))[:, -1], temperature, top_k, generator)[0])
        if nxt == eos_id:
            break
        ids.append(nxt)
    return ids
''',
    # ---------------------------------------------------------------- specification properties (issue #13 item 6)
    "loss_modifies_ids_in_place": '''
def next_token_loss(logits, input_ids, pad_id=PAD):
    targets = input_ids[:, 1:]
    targets[targets == pad_id] = -100
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)
''',
    "ppl_ignores_pad_id": '''
def perplexity(batches, pad_id=PAD):
    nll, n = 0.0, 0
    for logits, ids in batches:
        t = ids[:, 1:]
        keep = t != PAD
        nll += float(F.cross_entropy(logits[:, :-1][keep], t[keep], reduction="sum"))
        n += int(keep.sum())
    return math.exp(nll / n)
''',
    "sample_divides_logits_in_place": '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    logits /= temperature
    z = logits
    if top_k is not None:
        kth = z.topk(top_k, dim=-1).values[:, -1:]
        z = z.masked_fill(z < kth, float("-inf"))
    return torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]
''',
    "generate_ignores_top_k": '''
def generate(logits_fn, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, eos_id=SEP, generator=None):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        nxt = int(sample_next(logits_fn(torch.tensor([ids]))[:, -1], temperature, None, generator)[0])
        if nxt == eos_id:
            break
        ids.append(nxt)
    return ids
''',
    "generate_ignores_temperature": '''
def generate(logits_fn, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, eos_id=SEP, generator=None):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        t = 0 if temperature == 0 else 1.0
        nxt = int(sample_next(logits_fn(torch.tensor([ids]))[:, -1], t, top_k, generator)[0])
        if nxt == eos_id:
            break
        ids.append(nxt)
    return ids
''',
    "generate_extends_the_prompt_list": '''
def generate(logits_fn, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, eos_id=SEP, generator=None):
    ids = prompt_ids
    for _ in range(max_new_tokens):
        nxt = int(sample_next(logits_fn(torch.tensor([ids]))[:, -1], temperature, top_k, generator)[0])
        if nxt == eos_id:
            break
        ids.append(nxt)
    return ids
''',
    "generate_returns_tensor_ids": '''
def generate(logits_fn, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, eos_id=SEP, generator=None):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        nxt = sample_next(logits_fn(torch.tensor([ids]))[:, -1], temperature, top_k, generator)[0]
        if nxt == eos_id:
            break
        ids.append(nxt)
    return ids
''',
}

REFERENCE = {
    "causal_mask": "sslcourse.transformer:causal_mask",
    "next_token_loss": "sslcourse.gpt:next_token_loss",
    "sample_next": "sslcourse.gpt:sample_next",
}
