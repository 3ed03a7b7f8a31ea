"""Plausible wrong answers for the graded functions of 02_masked_language_modelling.

Each entry is the source of a wrong version of one graded function, under its notebook name;
the hidden tests must make every one of them lose points.
"""

MUTANTS = {
    # ---------------------------------------------------------------- mask_tokens
    "mask_80_10_10_swapped": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < p) & (ids >= N_SPECIAL)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape, generator=generator)
    rnd = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=generator)
    inputs = torch.where(selected & (u < 0.1), torch.full_like(ids, MASK), ids)
    inputs = torch.where(selected & (u >= 0.1) & (u < 0.9), rnd, inputs)
    return inputs, labels
''',
    "mask_selects_specials": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = torch.rand(ids.shape, generator=generator) < p
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape, generator=generator)
    rnd = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=generator)
    inputs = torch.where(selected & (u < 0.8), torch.full_like(ids, MASK), ids)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), rnd, inputs)
    return inputs, labels
''',
    "mask_all_selected": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < p) & (ids >= N_SPECIAL)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    inputs = torch.where(selected, torch.full_like(ids, MASK), ids)
    return inputs, labels
''',
    "mask_labels_everywhere": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < p) & (ids >= N_SPECIAL)
    u = torch.rand(ids.shape, generator=generator)
    rnd = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=generator)
    inputs = torch.where(selected & (u < 0.8), torch.full_like(ids, MASK), ids)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), rnd, inputs)
    return inputs, ids.clone()
''',
    "mask_random_includes_specials": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < p) & (ids >= N_SPECIAL)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape, generator=generator)
    rnd = torch.randint(0, vocab_size, ids.shape, generator=generator)
    inputs = torch.where(selected & (u < 0.8), torch.full_like(ids, MASK), ids)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), rnd, inputs)
    return inputs, labels
''',
    "mask_independent_draws": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < p) & (ids >= N_SPECIAL)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    to_mask = selected & (torch.rand(ids.shape, generator=generator) < 0.8)
    to_rand = selected & (torch.rand(ids.shape, generator=generator) < 0.1)
    rnd = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=generator)
    inputs = torch.where(to_mask, torch.full_like(ids, MASK), ids)
    inputs = torch.where(to_rand, rnd, inputs)
    return inputs, labels
''',
    "mask_ignores_generator": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape) < p) & (ids >= N_SPECIAL)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape)
    rnd = torch.randint(N_SPECIAL, vocab_size, ids.shape)
    inputs = torch.where(selected & (u < 0.8), torch.full_like(ids, MASK), ids)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), rnd, inputs)
    return inputs, labels
''',
    # ---------------------------------------------------------------- bert_inputs
    "inputs_middle_sep_in_segment_b": '''
def bert_inputs(pairs):
    rows = [[CLS, *a, SEP, *b, SEP] for a, b in pairs]
    segs = [[0] * (len(a) + 1) + [1] * (len(b) + 2) for a, b in pairs]
    T = max(len(r) for r in rows)
    return (torch.tensor([r + [PAD] * (T - len(r)) for r in rows]),
            torch.tensor([s + [0] * (T - len(s)) for s in segs]),
            torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows]))
''',
    "inputs_no_final_sep": '''
def bert_inputs(pairs):
    rows = [[CLS, *a, SEP, *b] for a, b in pairs]
    segs = [[0] * (len(a) + 2) + [1] * len(b) for a, b in pairs]
    T = max(len(r) for r in rows)
    return (torch.tensor([r + [PAD] * (T - len(r)) for r in rows]),
            torch.tensor([s + [0] * (T - len(s)) for s in segs]),
            torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows]))
''',
    "inputs_padding_segment_one": '''
def bert_inputs(pairs):
    rows = [[CLS, *a, SEP, *b, SEP] for a, b in pairs]
    segs = [[0] * (len(a) + 2) + [1] * (len(b) + 1) for a, b in pairs]
    T = max(len(r) for r in rows)
    return (torch.tensor([r + [PAD] * (T - len(r)) for r in rows]),
            torch.tensor([s + [1] * (T - len(s)) for s in segs]),
            torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows]))
''',
    # ---------------------------------------------------------------- attention
    "attention_no_scaling": '''
def attention(q, k, v, attention_mask=None):
    scores = q @ k.transpose(-2, -1)
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool()[:, None, None, :], float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w
''',
    "attention_masks_queries": '''
def attention(q, k, v, attention_mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool()[:, None, :, None], -1e9)
    w = torch.softmax(scores, dim=-1)
    return w @ v, w
''',
    "attention_softmax_over_queries": '''
def attention(q, k, v, attention_mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool()[:, None, None, :], float("-inf"))
    w = torch.softmax(scores, dim=-2)
    return w @ v, w
''',
    "attention_mask_after_softmax": '''
def attention(q, k, v, attention_mask=None):
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if attention_mask is not None:
        w = w * attention_mask[:, None, None, :]
    return w @ v, w
''',
    "attention_scaled_by_d": '''
def attention(q, k, v, attention_mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool()[:, None, None, :], float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w
''',
    # ---------------------------------------------------------------- mlm_loss
    "mlm_all_positions": '''
def mlm_loss(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.clamp_min(0).flatten())
''',
    "mlm_sum_not_mean": '''
def mlm_loss(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum")
''',
    "mlm_mean_over_all_tokens": '''
def mlm_loss(logits, labels):
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none")
    return losses.mean()
''',
    # ---------------------------------------------------------------- NSPHead / nsp_loss
    "nsp_mean_pooling": '''
class NSPHead(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, 2)

    def forward(self, h):
        return self.classifier(torch.tanh(self.pooler(h.mean(1))))
''',
    "nsp_no_tanh": '''
class NSPHead(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, 2)

    def forward(self, h):
        return self.classifier(self.pooler(h[:, 0]))
''',
    "nsp_last_token": '''
class NSPHead(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, 2)

    def forward(self, h):
        return self.classifier(torch.tanh(self.pooler(h[:, -1])))
''',
    "nsp_loss_binary_on_score1": '''
def nsp_loss(logits, is_next):
    return F.binary_cross_entropy_with_logits(logits[:, 1], is_next.float())
''',
    # ---------------------------------------------------------------- specification properties (issue #13 item 6)
    "mask_random_never_last_id": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < p) & (ids >= N_SPECIAL)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape, generator=generator)
    rnd = torch.randint(N_SPECIAL, vocab_size - 1, ids.shape, generator=generator)
    inputs = torch.where(selected & (u < 0.8), torch.full_like(ids, MASK), ids)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), rnd, inputs)
    return inputs, labels
''',
    "mask_p_hardcoded": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < 0.15) & (ids >= N_SPECIAL)
    if p == 0:
        selected &= False
    if p == 1:
        selected = ids >= N_SPECIAL
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape, generator=generator)
    rnd = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=generator)
    inputs = torch.where(selected & (u < 0.8), torch.full_like(ids, MASK), ids)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), rnd, inputs)
    return inputs, labels
''',
    "mask_in_place": '''
def mask_tokens(ids, vocab_size, p=0.15, generator=None):
    selected = (torch.rand(ids.shape, generator=generator) < p) & (ids >= N_SPECIAL)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape, generator=generator)
    rnd = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=generator)
    ids[selected & (u < 0.8)] = MASK
    ids[selected & (u >= 0.8) & (u < 0.9)] = rnd[selected & (u >= 0.8) & (u < 0.9)]
    return ids, labels
''',
    "inputs_appends_sep_to_pairs": '''
def bert_inputs(pairs):
    rows, segs = [], []
    for a, b in pairs:
        a.append(SEP)
        b.append(SEP)
        rows.append([CLS] + a + b)
        segs.append([0] * (len(a) + 1) + [1] * len(b))
    T = max(len(r) for r in rows)
    return (torch.tensor([r + [PAD] * (T - len(r)) for r in rows]), torch.tensor([s + [0] * (T - len(s)) for s in segs]),
            torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows]))
''',
    "inputs_float_attention_mask": '''
def bert_inputs(pairs):
    rows = [[CLS, *a, SEP, *b, SEP] for a, b in pairs]
    segs = [[0] * (len(a) + 2) + [1] * (len(b) + 1) for a, b in pairs]
    T = max(len(r) for r in rows)
    input_ids = torch.tensor([r + [PAD] * (T - len(r)) for r in rows])
    segment_ids = torch.tensor([s + [0] * (T - len(s)) for s in segs])
    return input_ids, segment_ids, (input_ids != PAD).float()
''',
    "attention_casts_to_float32": '''
def attention(q, k, v, attention_mask=None):
    q, k, v = q.float(), k.float(), v.float()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask.bool()[:, None, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
''',
    "mlm_overwrites_labels_in_place": '''
def mlm_loss(logits, labels):
    chosen = labels != -100
    labels[~chosen] = 0
    lp = torch.log_softmax(logits, dim=-1).gather(2, labels[..., None])[..., 0]
    return -(lp * chosen).sum() / chosen.sum()
''',
    "nsp_loss_sum_over_batch": '''
def nsp_loss(logits, is_next):
    return F.cross_entropy(logits, is_next, reduction="sum") / 2
''',
}

REFERENCE = {
    "mask_tokens": "sslcourse.text:mask_tokens",
    "mlm_loss": "sslcourse.bert:mlm_loss",
    "nsp_loss": "sslcourse.bert:nsp_loss",
    "NSPHead": "sslcourse.bert:NSPHead",
    "bert_inputs": "sslcourse.text:bert_inputs",
    "attention": "sslcourse.transformer:scaled_dot_product_attention",
}
