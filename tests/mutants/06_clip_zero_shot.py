"""Plausible wrong answers for the graded functions of 06_clip_zero_shot (hidden-test strength check).

Each entry is the source of a wrong version of one graded function, under its notebook name;
the hidden tests must make every one of them lose points.
"""

REFERENCE = {"clip_loss": "sslcourse.losses.clip:clip_loss", "recall_at_k": "sslcourse.zeroshot:retrieval_recall"}

MUTANTS = {
    # ---------------------------------------------------------------- clip_loss
    "loss_one_direction": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    logits = logit_scale * u @ v.T
    return F.cross_entropy(logits, torch.arange(len(logits)))
''',
    "loss_no_normalisation": '''
def clip_loss(image_emb, text_emb, logit_scale):
    logits = logit_scale * image_emb @ text_emb.T
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
''',
    "loss_divides_by_scale": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    logits = u @ v.T / logit_scale
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
''',
    "loss_exponentiates_scale_again": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    logits = torch.as_tensor(logit_scale).exp() * u @ v.T
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
''',
    "loss_sum_not_mean": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    logits = logit_scale * u @ v.T
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t, reduction="sum") + F.cross_entropy(logits.T, t, reduction="sum")) / 2
''',
    "loss_naive_exp_log": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    e = torch.exp(logit_scale * u @ v.T)
    d = torch.diagonal(e)
    return (-(torch.log(d / e.sum(1))).mean() - (torch.log(d / e.sum(0))).mean()) / 2
''',
    "loss_scale_detached": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    logits = float(logit_scale) * u @ v.T
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
''',
    "loss_normalised_wrong_axis": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=0, keepdim=True)
    v = text_emb / text_emb.norm(dim=0, keepdim=True)
    logits = logit_scale * u @ v.T
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
''',
    # ---------------------------------------------------------------- LogitScale
    "scale_stores_scale_not_log": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(1.0 / init_temperature))
        self.max_scale = max_scale

    def forward(self):
        return self.t.clamp(max=self.max_scale)
''',
    "scale_no_clamp": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def forward(self):
        return self.t.exp()
''',
    "scale_init_log_tau": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(init_temperature)))
        self.max_log = math.log(max_scale)

    def forward(self):
        return self.t.clamp(max=self.max_log).exp()
''',
    "scale_clamp_min": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log = math.log(max_scale)

    def forward(self):
        return self.t.clamp(min=self.max_log).exp()
''',
    "scale_clamp_at_max_not_log": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_scale = max_scale

    def forward(self):
        return self.t.clamp(max=self.max_scale).exp()
''',
    "scale_forgets_exp": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log = math.log(max_scale)

    def forward(self):
        return self.t.clamp(max=self.max_log)
''',
    # ---------------------------------------------------------------- zero_shot_classifier
    "zs_no_per_prompt_normalisation": '''
def zero_shot_classifier(encode_text, class_names, templates):
    e = encode_text([t.format(c) for c in class_names for t in templates])
    e = e.reshape(len(class_names), len(templates), -1).mean(dim=1)
    return e / e.norm(dim=1, keepdim=True)
''',
    "zs_no_final_normalisation": '''
def zero_shot_classifier(encode_text, class_names, templates):
    e = encode_text([t.format(c) for c in class_names for t in templates])
    e = e / e.norm(dim=1, keepdim=True)
    return e.reshape(len(class_names), len(templates), -1).mean(dim=1)
''',
    "zs_template_major_order": '''
def zero_shot_classifier(encode_text, class_names, templates):
    e = encode_text([t.format(c) for t in templates for c in class_names])
    e = e / e.norm(dim=1, keepdim=True)
    e = e.reshape(len(class_names), len(templates), -1).mean(dim=1)
    return e / e.norm(dim=1, keepdim=True)
''',
    "zs_first_template_only": '''
def zero_shot_classifier(encode_text, class_names, templates):
    e = encode_text([templates[0].format(c) for c in class_names])
    return e / e.norm(dim=1, keepdim=True)
''',
    "zs_mean_over_classes": '''
def zero_shot_classifier(encode_text, class_names, templates):
    e = encode_text([t.format(c) for c in class_names for t in templates])
    e = e / e.norm(dim=1, keepdim=True)
    e = e.reshape(len(class_names), len(templates), -1)
    e = e - e.mean(dim=0, keepdim=True)
    e = e.mean(dim=1)
    return e / e.norm(dim=1, keepdim=True)
''',
    # ---------------------------------------------------------------- recall_at_k
    "recall_dot_product": '''
def recall_at_k(image_emb, text_emb, k):
    sim = image_emb @ text_emb.T
    target = torch.arange(len(sim))[:, None]
    i2t = (sim.topk(k, dim=1).indices == target).any(dim=1).float().mean().item()
    t2i = (sim.T.topk(k, dim=1).indices == target).any(dim=1).float().mean().item()
    return i2t, t2i
''',
    "recall_directions_swapped": '''
def recall_at_k(image_emb, text_emb, k):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    sim = u @ v.T
    target = torch.arange(len(sim))[:, None]
    i2t = (sim.topk(k, dim=1).indices == target).any(dim=1).float().mean().item()
    t2i = (sim.T.topk(k, dim=1).indices == target).any(dim=1).float().mean().item()
    return t2i, i2t
''',
    "recall_same_direction_twice": '''
def recall_at_k(image_emb, text_emb, k):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    sim = u @ v.T
    target = torch.arange(len(sim))[:, None]
    i2t = (sim.topk(k, dim=1).indices == target).any(dim=1).float().mean().item()
    return i2t, i2t
''',
    "recall_off_by_one_k": '''
def recall_at_k(image_emb, text_emb, k):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    sim = u @ v.T
    n = len(sim)
    target = torch.arange(n)[:, None]
    kk = min(k + 1, n)
    i2t = (sim.topk(kk, dim=1).indices == target).any(dim=1).float().mean().item()
    t2i = (sim.T.topk(kk, dim=1).indices == target).any(dim=1).float().mean().item()
    return i2t, t2i
''',
    "recall_smallest_similarity": '''
def recall_at_k(image_emb, text_emb, k):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    sim = u @ v.T
    target = torch.arange(len(sim))[:, None]
    i2t = (sim.topk(k, dim=1, largest=False).indices == target).any(dim=1).float().mean().item()
    t2i = (sim.T.topk(k, dim=1, largest=False).indices == target).any(dim=1).float().mean().item()
    return i2t, t2i
''',
    # ---------------------------------------------------------------- specification properties (issue #13 item 6)
    "scale_parameter_of_shape_1": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor([math.log(1.0 / init_temperature)]))
        self.max_log = math.log(max_scale)

    def forward(self):
        return self.t.clamp(max=self.max_log).exp()
''',
    "scale_calls_reference": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log = math.log(max_scale)

    def forward(self):
        import types
        from sslcourse.methods.clip import MiniCLIP
        return MiniCLIP.scale(types.SimpleNamespace(logit_scale=self.t.clamp(max=self.max_log)))
''',
    "scale_clamps_parameter_in_place": '''
class LogitScale(nn.Module):
    def __init__(self, init_temperature=0.07, max_scale=100.0):
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log = math.log(max_scale)

    def forward(self):
        with torch.no_grad():
            self.t.clamp_(max=self.max_log)
        return self.t.exp()
''',
    "loss_normalises_in_place": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    text_emb /= text_emb.norm(dim=1, keepdim=True)
    v = text_emb
    logits = logit_scale * u @ v.T
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
''',
    "loss_casts_to_float32": '''
def clip_loss(image_emb, text_emb, logit_scale):
    u = F.normalize(image_emb.float(), dim=1)
    v = F.normalize(text_emb.float(), dim=1)
    logits = logit_scale * u @ v.T
    t = torch.arange(len(logits))
    return (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)) / 2
''',
    "zs_normalises_encoder_output_in_place": '''
def zero_shot_classifier(encode_text, class_names, templates):
    e = encode_text([t.format(c) for c in class_names for t in templates])
    e /= e.norm(dim=1, keepdim=True)
    e = e.reshape(len(class_names), len(templates), -1).mean(dim=1)
    return e / e.norm(dim=1, keepdim=True)
''',
    "recall_returns_tensors": '''
def recall_at_k(image_emb, text_emb, k):
    u = image_emb / image_emb.norm(dim=1, keepdim=True)
    v = text_emb / text_emb.norm(dim=1, keepdim=True)
    sim = u @ v.T
    target = torch.arange(len(sim))[:, None]
    return ((sim.topk(k, dim=1).indices == target).any(dim=1).float().mean(),
            (sim.T.topk(k, dim=1).indices == target).any(dim=1).float().mean())
''',
}
