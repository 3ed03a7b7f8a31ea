"""Plausible wrong answers for the graded functions of 05_contrastive_simclr (hidden-test strength check).

Each entry is the source of a wrong version of one graded function, under its notebook name;
the hidden tests must make every one of them lose points.
"""

MUTANTS = {
    # ---------------------------------------------------------------- cosine_similarity_matrix
    "cos_no_normalisation": '''
def cosine_similarity_matrix(a, b, temperature=1.0):
    return a @ b.T / temperature
''',
    "cos_temperature_multiplied": '''
def cosine_similarity_matrix(a, b, temperature=1.0):
    a = a / a.norm(dim=1, keepdim=True)
    b = b / b.norm(dim=1, keepdim=True)
    return a @ b.T * temperature
''',
    "cos_normalised_wrong_axis": '''
def cosine_similarity_matrix(a, b, temperature=1.0):
    a = a / a.norm(dim=0, keepdim=True)
    b = b / b.norm(dim=0, keepdim=True)
    return a @ b.T / temperature
''',
    # ---------------------------------------------------------------- nt_xent_loop
    "loop_self_in_denominator": '''
def nt_xent_loop(z1, z2, temperature=0.5):
    z = torch.cat([z1, z2])
    n2 = z.shape[0]
    s = cosine_similarity_matrix(z, z, temperature)
    losses = []
    for k in range(n2):
        pos = (k + n2 // 2) % n2
        losses.append(-s[k, pos] + torch.logsumexp(s[k], dim=0))
    return torch.stack(losses).mean()
''',
    "loop_decoupled_positive_left_out": '''
def nt_xent_loop(z1, z2, temperature=0.5):
    z = torch.cat([z1, z2])
    n2 = z.shape[0]
    s = cosine_similarity_matrix(z, z, temperature)
    losses = []
    for k in range(n2):
        pos = (k + n2 // 2) % n2
        keep = [j for j in range(n2) if j not in (k, pos)]
        losses.append(-s[k, pos] + torch.logsumexp(s[k, keep], dim=0))
    return torch.stack(losses).mean()
''',
    "loop_only_first_view_anchors": '''
def nt_xent_loop(z1, z2, temperature=0.5):
    z = torch.cat([z1, z2])
    n2 = z.shape[0]
    s = cosine_similarity_matrix(z, z, temperature)
    losses = []
    for k in range(n2 // 2):
        pos = k + n2 // 2
        others = torch.cat([s[k, :k], s[k, k + 1:]])
        losses.append(-s[k, pos] + torch.logsumexp(others, dim=0))
    return torch.stack(losses).mean()
''',
    "loop_wrong_positive_neighbour": '''
def nt_xent_loop(z1, z2, temperature=0.5):
    z = torch.stack([z1, z2], dim=1).flatten(0, 1)
    n2 = z.shape[0]
    s = cosine_similarity_matrix(z, z, temperature)
    losses = []
    for k in range(n2):
        pos = (k + n2 // 2) % n2
        others = torch.cat([s[k, :k], s[k, k + 1:]])
        losses.append(-s[k, pos] + torch.logsumexp(others, dim=0))
    return torch.stack(losses).mean()
''',
    # ---------------------------------------------------------------- nt_xent
    "vec_no_self_mask": '''
def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = torch.cat([z1, z2])
    s = cosine_similarity_matrix(z, z, temperature)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, targets)
''',
    "vec_targets_diagonal": '''
def nt_xent(z1, z2, temperature=0.5):
    s = cosine_similarity_matrix(z1, z2, temperature)
    return F.cross_entropy(s, torch.arange(z1.shape[0]))
''',
    "vec_naive_exp_unstable": '''
def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = torch.cat([z1, z2])
    e = torch.exp(cosine_similarity_matrix(z, z, temperature))
    e = e * (1 - torch.eye(2 * n))
    pos = torch.cat([torch.diagonal(e, n), torch.diagonal(e, -n)])
    return -(torch.log(pos / e.sum(dim=1))).mean()
''',
    "vec_no_normalisation": '''
def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = torch.cat([z1, z2])
    s = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, targets)
''',
    # ---------------------------------------------------------------- apply_view
    "view_vertical_flip": '''
def apply_view(images, boxes, flip, brightness, grayscale, size):
    out = []
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    for i in range(images.shape[0]):
        top, left, h, w = [int(v) for v in boxes[i]]
        v = F.interpolate(images[i:i + 1, :, top:top + h, left:left + w], size=(size, size), mode="bilinear",
                          align_corners=False)[0]
        if flip[i]:
            v = v.flip(-2)
        v = (v * brightness[i]).clamp(0, 1)
        if grayscale[i]:
            v = (v * luma).sum(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(v)
    return torch.stack(out)
''',
    "view_gray_is_channel_mean": '''
def apply_view(images, boxes, flip, brightness, grayscale, size):
    out = []
    for i in range(images.shape[0]):
        top, left, h, w = [int(v) for v in boxes[i]]
        v = F.interpolate(images[i:i + 1, :, top:top + h, left:left + w], size=(size, size), mode="bilinear",
                          align_corners=False)[0]
        if flip[i]:
            v = v.flip(-1)
        v = (v * brightness[i]).clamp(0, 1)
        if grayscale[i]:
            v = v.mean(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(v)
    return torch.stack(out)
''',
    "view_no_clamp": '''
def apply_view(images, boxes, flip, brightness, grayscale, size):
    out = []
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    for i in range(images.shape[0]):
        top, left, h, w = [int(v) for v in boxes[i]]
        v = F.interpolate(images[i:i + 1, :, top:top + h, left:left + w], size=(size, size), mode="bilinear",
                          align_corners=False)[0]
        if flip[i]:
            v = v.flip(-1)
        v = v * brightness[i]
        if grayscale[i]:
            v = (v * luma).sum(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(v)
    return torch.stack(out)
''',
    "view_box_height_width_swapped": '''
def apply_view(images, boxes, flip, brightness, grayscale, size):
    out = []
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    for i in range(images.shape[0]):
        top, left, w, h = [int(v) for v in boxes[i]]
        v = F.interpolate(images[i:i + 1, :, top:top + h, left:left + w], size=(size, size), mode="bilinear",
                          align_corners=False)[0]
        if flip[i]:
            v = v.flip(-1)
        v = (v * brightness[i]).clamp(0, 1)
        if grayscale[i]:
            v = (v * luma).sum(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(v)
    return torch.stack(out)
''',
    # ---------------------------------------------------------------- two_views
    "two_views_same_parameters": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size
    area = torch.rand(n, generator=generator) * (scale[1] - scale[0]) + scale[0]
    side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
    top = (torch.rand(n, generator=generator) * (H - side + 1)).floor().long()
    left = (torch.rand(n, generator=generator) * (W - side + 1)).floor().long()
    boxes = torch.stack([top, left, side, side], dim=1)
    flip = torch.rand(n, generator=generator) < p_flip
    factor = torch.rand(n, generator=generator) * 2 * brightness + 1 - brightness
    gray = torch.rand(n, generator=generator) < p_gray
    v = apply_view(images, boxes, flip, factor, gray, size)
    return v, v.clone()
''',
    "two_views_global_rng": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size
    def one():
        area = torch.rand(n) * (scale[1] - scale[0]) + scale[0]
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        top = (torch.rand(n) * (H - side + 1)).floor().long()
        left = (torch.rand(n) * (W - side + 1)).floor().long()
        boxes = torch.stack([top, left, side, side], dim=1)
        flip = torch.rand(n) < p_flip
        factor = torch.rand(n) * 2 * brightness + 1 - brightness
        gray = torch.rand(n) < p_gray
        return apply_view(images, boxes, flip, factor, gray, size)
    return one(), one()
''',
    "two_views_gray_probability_inverted": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size
    def one():
        area = torch.rand(n, generator=generator) * (scale[1] - scale[0]) + scale[0]
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        top = (torch.rand(n, generator=generator) * (H - side + 1)).floor().long()
        left = (torch.rand(n, generator=generator) * (W - side + 1)).floor().long()
        boxes = torch.stack([top, left, side, side], dim=1)
        flip = torch.rand(n, generator=generator) < p_flip
        factor = torch.rand(n, generator=generator) * 2 * brightness + 1 - brightness
        gray = torch.rand(n, generator=generator) > p_gray
        return apply_view(images, boxes, flip, factor, gray, size)
    return one(), one()
''',
    "two_views_brightness_half_range": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size
    def one():
        area = torch.rand(n, generator=generator) * (scale[1] - scale[0]) + scale[0]
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        top = (torch.rand(n, generator=generator) * (H - side + 1)).floor().long()
        left = (torch.rand(n, generator=generator) * (W - side + 1)).floor().long()
        boxes = torch.stack([top, left, side, side], dim=1)
        flip = torch.rand(n, generator=generator) < p_flip
        factor = torch.rand(n, generator=generator) * brightness + 1 - brightness
        gray = torch.rand(n, generator=generator) < p_gray
        return apply_view(images, boxes, flip, factor, gray, size)
    return one(), one()
''',
    # ---------------------------------------------------------------- Projector
    "projector_no_batchnorm": '''
class Projector(nn.Module):
    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, h):
        return self.net(h)
''',
    "projector_relu_at_the_end": '''
class Projector(nn.Module):
    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
                                 nn.Linear(hidden_dim, out_dim), nn.ReLU())

    def forward(self, h):
        return self.net(h)
''',
    "projector_relu_before_batchnorm": '''
class Projector(nn.Module):
    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.BatchNorm1d(hidden_dim),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, h):
        return self.net(h)
''',
    # ---------------------------------------------------------------- knn_predict
    "knn_unweighted_majority": '''
def knn_predict(train_feats, train_labels, test_feats, k=20, t=0.1):
    a = test_feats / test_feats.norm(dim=1, keepdim=True)
    b = train_feats / train_feats.norm(dim=1, keepdim=True)
    _, idx = (a @ b.T).topk(k, dim=1)
    votes = torch.zeros(len(test_feats), int(train_labels.max()) + 1)
    votes.scatter_add_(1, train_labels[idx], torch.ones(idx.shape))
    return votes.argmax(dim=1)
''',
    "knn_dot_product_not_cosine": '''
def knn_predict(train_feats, train_labels, test_feats, k=20, t=0.1):
    top, idx = (test_feats @ train_feats.T).topk(k, dim=1)
    votes = torch.zeros(len(test_feats), int(train_labels.max()) + 1, dtype=top.dtype)
    votes.scatter_add_(1, train_labels[idx], torch.exp((top - top[:, :1]) / t))
    return votes.argmax(dim=1)
''',
    "knn_temperature_ignored": '''
def knn_predict(train_feats, train_labels, test_feats, k=20, t=0.1):
    a = test_feats / test_feats.norm(dim=1, keepdim=True)
    b = train_feats / train_feats.norm(dim=1, keepdim=True)
    top, idx = (a @ b.T).topk(k, dim=1)
    votes = torch.zeros(len(test_feats), int(train_labels.max()) + 1, dtype=top.dtype)
    votes.scatter_add_(1, train_labels[idx], torch.exp(top))
    return votes.argmax(dim=1)
''',
    "knn_one_neighbour_too_many": '''
def knn_predict(train_feats, train_labels, test_feats, k=20, t=0.1):
    a = test_feats / test_feats.norm(dim=1, keepdim=True)
    b = train_feats / train_feats.norm(dim=1, keepdim=True)
    top, idx = (a @ b.T).topk(min(k + 1, len(train_feats)), dim=1)
    votes = torch.zeros(len(test_feats), int(train_labels.max()) + 1, dtype=top.dtype)
    votes.scatter_add_(1, train_labels[idx], torch.exp(top / t))
    return votes.argmax(dim=1)
''',
    # ---------------------------------------------------------------- specification properties (issue #13 item 6)
    "cos_normalises_in_place": '''
def cosine_similarity_matrix(a, b, temperature=1.0):
    a = a / a.norm(dim=1, keepdim=True)
    b /= b.norm(dim=1, keepdim=True)
    return a @ b.T / temperature
''',
    "loop_positive_counted_twice": '''
def nt_xent_loop(z1, z2, temperature=0.5):
    z = torch.cat([z1, z2])
    n2 = z.shape[0]
    s = cosine_similarity_matrix(z, z, temperature)
    losses = []
    for k in range(n2):
        pos = (k + n2 // 2) % n2
        others = torch.cat([s[k, :k], s[k, k + 1:], s[k, pos:pos + 1]])
        losses.append(-s[k, pos] + torch.logsumexp(others, dim=0))
    return torch.stack(losses).mean()
''',
    "vec_casts_to_float32": '''
def nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = torch.cat([z1, z2]).float()
    s = cosine_similarity_matrix(z, z, temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]))
''',
    "view_crop_corner_at_origin": '''
def apply_view(images, boxes, flip, brightness, grayscale, size):
    out = []
    luma = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(3, 1, 1)
    for i in range(images.shape[0]):
        _, _, h, w = [int(v) for v in boxes[i]]
        v = F.interpolate(images[i:i + 1, :, :h, :w], size=(size, size), mode="bilinear", align_corners=False)[0]
        if flip[i]:
            v = v.flip(-1)
        v = (v * brightness[i]).clamp(0, 1)
        if grayscale[i]:
            v = (v * luma).sum(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(v)
    return torch.stack(out)
''',
    "view_casts_to_float32": '''
def apply_view(images, boxes, flip, brightness, grayscale, size):
    out = []
    images = images.float()
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    for i in range(images.shape[0]):
        top, left, h, w = [int(v) for v in boxes[i]]
        v = F.interpolate(images[i:i + 1, :, top:top + h, left:left + w], size=(size, size), mode="bilinear",
                          align_corners=False)[0]
        if flip[i]:
            v = v.flip(-1)
        v = (v * brightness[i]).clamp(0, 1)
        if grayscale[i]:
            v = (v * luma).sum(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(v)
    return torch.stack(out)
''',
    "view_brightness_in_place": '''
def apply_view(images, boxes, flip, brightness, grayscale, size):
    out = []
    luma = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(3, 1, 1)
    for i in range(images.shape[0]):
        top, left, h, w = [int(v) for v in boxes[i]]
        crop = images[i:i + 1, :, top:top + h, left:left + w]
        if flip[i]:
            crop = crop.flip(-1)
        crop.mul_(brightness[i]).clamp_(0, 1)
        v = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0]
        if grayscale[i]:
            v = (v * luma).sum(dim=0, keepdim=True).expand(3, -1, -1)
        out.append(v)
    return torch.stack(out)
''',
    "two_views_crop_corner_at_origin": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size

    def one_view():
        area = torch.rand(n, generator=generator) * (scale[1] - scale[0]) + scale[0]
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        zero = torch.zeros(n, dtype=torch.long)
        boxes = torch.stack([zero, zero, side, side], dim=1)
        flip = torch.rand(n, generator=generator) < p_flip
        factor = torch.rand(n, generator=generator) * 2 * brightness + 1 - brightness
        gray = torch.rand(n, generator=generator) < p_gray
        return apply_view(images, boxes, flip, factor, gray, size)

    return one_view(), one_view()
''',
    "two_views_corner_never_last_position": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size

    def one_view():
        area = torch.rand(n, generator=generator) * (scale[1] - scale[0]) + scale[0]
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        top = (torch.rand(n, generator=generator) * (H - side)).floor().long()
        left = (torch.rand(n, generator=generator) * (W - side)).floor().long()
        boxes = torch.stack([top, left, side, side], dim=1)
        flip = torch.rand(n, generator=generator) < p_flip
        factor = torch.rand(n, generator=generator) * 2 * brightness + 1 - brightness
        gray = torch.rand(n, generator=generator) < p_gray
        return apply_view(images, boxes, flip, factor, gray, size)

    return one_view(), one_view()
''',
    "two_views_same_draw_for_top_and_left": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size

    def one_view():
        area = torch.rand(n, generator=generator) * (scale[1] - scale[0]) + scale[0]
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        u = torch.rand(n, generator=generator)
        top, left = (u * (H - side + 1)).floor().long(), (u * (W - side + 1)).floor().long()
        boxes = torch.stack([top, left, side, side], dim=1)
        flip = torch.rand(n, generator=generator) < p_flip
        factor = torch.rand(n, generator=generator) * 2 * brightness + 1 - brightness
        gray = torch.rand(n, generator=generator) < p_gray
        return apply_view(images, boxes, flip, factor, gray, size)

    return one_view(), one_view()
''',
    "two_views_scale_ignored": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size

    def one_view():
        area = torch.rand(n, generator=generator) * 0.92 + 0.08 if scale != (1.0, 1.0) else torch.ones(n)
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        top = (torch.rand(n, generator=generator) * (H - side + 1)).floor().long()
        left = (torch.rand(n, generator=generator) * (W - side + 1)).floor().long()
        boxes = torch.stack([top, left, side, side], dim=1)
        flip = torch.rand(n, generator=generator) < p_flip
        factor = torch.rand(n, generator=generator) * 2 * brightness + 1 - brightness
        gray = torch.rand(n, generator=generator) < p_gray
        return apply_view(images, boxes, flip, factor, gray, size)

    return one_view(), one_view()
''',
    "two_views_flip_rate_fixed_half": '''
def two_views(images, generator, size=None, scale=(0.2, 1.0), p_flip=0.5, brightness=0.4, p_gray=0.2):
    n, _, H, W = images.shape
    size = H if size is None else size

    def one_view():
        area = torch.rand(n, generator=generator) * (scale[1] - scale[0]) + scale[0]
        side = torch.round(torch.sqrt(area * H * W)).clamp(1, min(H, W)).long()
        top = (torch.rand(n, generator=generator) * (H - side + 1)).floor().long()
        left = (torch.rand(n, generator=generator) * (W - side + 1)).floor().long()
        boxes = torch.stack([top, left, side, side], dim=1)
        flip = torch.rand(n, generator=generator) < (0.5 if 0 < p_flip < 1 else p_flip)
        factor = torch.rand(n, generator=generator) * 2 * brightness + 1 - brightness
        gray = torch.rand(n, generator=generator) < p_gray
        return apply_view(images, boxes, flip, factor, gray, size)

    return one_view(), one_view()
''',
    "projector_batchnorm_without_running_stats": '''
class Projector(nn.Module):
    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim, track_running_stats=False),
                                 nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, h):
        return self.net(h)
''',
    "knn_normalises_in_place": '''
def knn_predict(train_feats, train_labels, test_feats, k=20, t=0.1):
    test_feats /= test_feats.norm(dim=1, keepdim=True)
    b = train_feats / train_feats.norm(dim=1, keepdim=True)
    top_sim, top_idx = (test_feats @ b.T).topk(k, dim=1)
    votes = torch.zeros(test_feats.shape[0], int(train_labels.max()) + 1)
    votes.scatter_add_(1, train_labels[top_idx], torch.exp(top_sim / t))
    return votes.argmax(dim=1)
''',
}

# The package's answer to each graded function (the harness builds a "cheater" that only calls it).
REFERENCE = {
    "cosine_similarity_matrix": "sslcourse.losses.contrastive:cosine_similarity_matrix",
    "nt_xent_loop": "sslcourse.losses.contrastive:nt_xent_loop",
    "nt_xent": "sslcourse.losses.contrastive:nt_xent",
    "apply_view": "sslcourse.views:resized_crop(images, boxes, size, flip=flip)",
    "two_views": "sslcourse.views:simclr_cifar_views(size=size or images.shape[-1])(images, generator)",
    "Projector": "sslcourse.nn:MLP",
    "knn_predict": "sslcourse.evaluate:knn_accuracy(train_feats, train_labels, test_feats, "
                   "train_labels[:len(test_feats)], k=k, t=t)",
}
