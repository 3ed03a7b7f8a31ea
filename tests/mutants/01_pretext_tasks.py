"""Plausible wrong answers for the graded functions of 01_pretext_tasks (hidden-test strength check).

Each entry is the source of a wrong version of one graded function, under its notebook name;
the hidden tests must make every one of them lose points.
"""

MUTANTS = {
    # ---------------------------------------------------------------- rotation_batch
    "rotation_clockwise": '''
def rotation_batch(images):
    n = images.shape[0]
    rotated = torch.cat([torch.rot90(images, -r, dims=(-2, -1)) for r in range(4)])
    return rotated, torch.arange(4).repeat_interleave(n)
''',
    "rotation_image_major": '''
def rotation_batch(images):
    n = images.shape[0]
    rotated = torch.stack([torch.rot90(images, r, dims=(-2, -1)) for r in range(4)], dim=1).flatten(0, 1)
    return rotated, torch.arange(4).repeat_interleave(n)
''',
    "rotation_labels_tiled": '''
def rotation_batch(images):
    n = images.shape[0]
    rotated = torch.cat([torch.rot90(images, r, dims=(-2, -1)) for r in range(4)])
    return rotated, torch.arange(4).repeat(n)
''',
    "rotation_transpose_only": '''
def rotation_batch(images):
    n = images.shape[0]
    outs, x = [], images
    for r in range(4):
        outs.append(x)
        x = x.transpose(-2, -1)
    return torch.cat(outs), torch.arange(4).repeat_interleave(n)
''',
    # ---------------------------------------------------------------- patch_pair_positions
    "patches_no_gap_in_stride": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,), generator=generator),
                          torch.randint(lo, width - patch_size - stride - jitter + 1, (n,), generator=generator)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    centre = origin + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    neighbour = origin + off + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    return centre, neighbour, labels
''',
    "patches_shared_jitter": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,), generator=generator),
                          torch.randint(lo, width - patch_size - stride - jitter + 1, (n,), generator=generator)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    j = torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    return origin + j, origin + off + j, labels
''',
    "patches_labels_transposed": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,), generator=generator),
                          torch.randint(lo, width - patch_size - stride - jitter + 1, (n,), generator=generator)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels].flip(1) * stride
    centre = origin + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    neighbour = origin + off + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    return centre, neighbour, labels
''',
    "patches_grid_can_leave_image": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    origin = torch.stack([torch.randint(stride, height - patch_size - stride + 1, (n,), generator=generator),
                          torch.randint(stride, width - patch_size - stride + 1, (n,), generator=generator)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    centre = origin + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    neighbour = origin + off + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    return centre, neighbour, labels
''',
    "patches_fixed_grid_position": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    origin = torch.tensor([[(height - patch_size) // 2, (width - patch_size) // 2]]).repeat(n, 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    centre = origin + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    neighbour = origin + off + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    return centre, neighbour, labels
''',
    "patches_ignores_generator": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,)),
                          torch.randint(lo, width - patch_size - stride - jitter + 1, (n,))], 1)
    labels = torch.randint(0, 8, (n,))
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    centre = origin + torch.randint(-jitter, jitter + 1, (n, 2))
    neighbour = origin + off + torch.randint(-jitter, jitter + 1, (n, 2))
    return centre, neighbour, labels
''',
    # ---------------------------------------------------------------- colorization_pair
    "color_mean_gray": '''
def colorization_pair(images, bin_size=20.0):
    gray = images.mean(dim=1, keepdim=True)
    n = math.ceil(220 / bin_size)
    idx = torch.floor((rgb_to_lab(images)[:, 1:] + 110) / bin_size).long().clamp(0, n - 1)
    return gray, idx[:, 0] * n + idx[:, 1]
''',
    "color_rec709_weights": '''
def colorization_pair(images, bin_size=20.0):
    w = torch.tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)
    gray = (images * w).sum(1, keepdim=True)
    n = math.ceil(220 / bin_size)
    idx = torch.floor((rgb_to_lab(images)[:, 1:] + 110) / bin_size).long().clamp(0, n - 1)
    return gray, idx[:, 0] * n + idx[:, 1]
''',
    "color_swapped_index": '''
def colorization_pair(images, bin_size=20.0):
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = (images * w).sum(1, keepdim=True)
    n = math.ceil(220 / bin_size)
    idx = torch.floor((rgb_to_lab(images)[:, 1:] + 110) / bin_size).long().clamp(0, n - 1)
    return gray, idx[:, 1] * n + idx[:, 0]
''',
    "color_round_not_floor": '''
def colorization_pair(images, bin_size=20.0):
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = (images * w).sum(1, keepdim=True)
    n = math.ceil(220 / bin_size)
    idx = torch.round((rgb_to_lab(images)[:, 1:] + 110) / bin_size).long().clamp(0, n - 1)
    return gray, idx[:, 0] * n + idx[:, 1]
''',
    "color_L_and_a_channels": '''
def colorization_pair(images, bin_size=20.0):
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = (images * w).sum(1, keepdim=True)
    n = math.ceil(220 / bin_size)
    idx = torch.floor((rgb_to_lab(images)[:, :2] + 110) / bin_size).long().clamp(0, n - 1)
    return gray, idx[:, 0] * n + idx[:, 1]
''',
    # ---------------------------------------------------------------- linear_probe_accuracy
    "probe_train_mode_features": '''
def linear_probe_accuracy(encoder, train_images, train_labels, test_images, test_labels, steps=100, lr=0.05):
    with torch.no_grad():
        f_tr, f_te = encoder(train_images).flatten(1), encoder(test_images).flatten(1)
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-6
    f_tr, f_te = (f_tr - mu) / sd, (f_te - mu) / sd
    clf = nn.Linear(f_tr.shape[1], int(train_labels.max()) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(clf(f_tr), train_labels); opt.zero_grad(); loss.backward(); opt.step()
    return float((clf(f_te).argmax(1) == test_labels).float().mean())
''',
    "probe_finetunes_encoder": '''
def linear_probe_accuracy(encoder, train_images, train_labels, test_images, test_labels, steps=100, lr=0.05):
    was = encoder.training
    encoder.eval()
    clf = nn.Linear(encoder(train_images[:2]).flatten(1).shape[1], int(train_labels.max()) + 1)
    opt = torch.optim.Adam(list(clf.parameters()) + list(encoder.parameters()), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(clf(encoder(train_images).flatten(1)), train_labels); opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        acc = float((clf(encoder(test_images).flatten(1)).argmax(1) == test_labels).float().mean())
    encoder.train(was)
    return acc
''',
    "probe_reports_train_accuracy": '''
def linear_probe_accuracy(encoder, train_images, train_labels, test_images, test_labels, steps=100, lr=0.05):
    was = encoder.training
    encoder.eval()
    with torch.no_grad():
        f_tr = encoder(train_images).flatten(1)
    encoder.train(was)
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-6
    f_tr = (f_tr - mu) / sd
    clf = nn.Linear(f_tr.shape[1], int(train_labels.max()) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(clf(f_tr), train_labels); opt.zero_grad(); loss.backward(); opt.step()
    return float((clf(f_tr).argmax(1) == train_labels).float().mean())
''',
    "probe_forgets_to_restore_mode": '''
def linear_probe_accuracy(encoder, train_images, train_labels, test_images, test_labels, steps=100, lr=0.05):
    encoder.eval()
    with torch.no_grad():
        f_tr, f_te = encoder(train_images).flatten(1), encoder(test_images).flatten(1)
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-6
    f_tr, f_te = (f_tr - mu) / sd, (f_te - mu) / sd
    clf = nn.Linear(f_tr.shape[1], int(train_labels.max()) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(clf(f_tr), train_labels); opt.zero_grad(); loss.backward(); opt.step()
    return float((clf(f_te).argmax(1) == test_labels).float().mean())
''',
    "probe_calls_reference": '''
def linear_probe_accuracy(encoder, train_images, train_labels, test_images, test_labels, steps=100, lr=0.05):
    from sslcourse.evaluate import extract_features, linear_probe
    return linear_probe(extract_features(encoder, train_images), train_labels,
                        extract_features(encoder, test_images), test_labels)
''',
    "rotation_calls_reference": '''
def rotation_batch(images):
    from sslcourse.pretext import rotation_pairs
    return rotation_pairs(images)
''',
    # ---------------------------------------------------------------- specification properties (issue #13 item 6)
    "patches_jitter_same_on_both_axes": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,), generator=generator),
                          torch.randint(lo, width - patch_size - stride - jitter + 1, (n,), generator=generator)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    centre = origin + torch.randint(-jitter, jitter + 1, (n, 1), generator=generator)       # one draw for both axes
    neighbour = origin + off + torch.randint(-jitter, jitter + 1, (n, 1), generator=generator)
    return centre, neighbour, labels
''',
    "patches_jitter_never_max": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,), generator=generator),
                          torch.randint(lo, width - patch_size - stride - jitter + 1, (n,), generator=generator)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    centre = origin + torch.randint(-jitter, max(jitter, 1), (n, 2), generator=generator)
    neighbour = origin + off + torch.randint(-jitter, max(jitter, 1), (n, 2), generator=generator)
    return centre, neighbour, labels
''',
    "patches_centre_not_jittered": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,), generator=generator),
                          torch.randint(lo, width - patch_size - stride - jitter + 1, (n,), generator=generator)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    jit = torch.randint(-jitter, jitter + 1, (n, 2), generator=generator) + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    return origin, origin + off + jit, labels
''',
    "patches_columns_fixed": '''
def patch_pair_positions(n, height, width, patch_size, gap, jitter, generator=None):
    stride = patch_size + gap + 2 * jitter
    lo = stride + jitter
    origin = torch.stack([torch.randint(lo, height - patch_size - stride - jitter + 1, (n,), generator=generator),
                          torch.full((n,), (width - patch_size) // 2)], 1)
    labels = torch.randint(0, 8, (n,), generator=generator)
    off = torch.tensor(NEIGHBOURS)[labels] * stride
    centre = origin + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    neighbour = origin + off + torch.randint(-jitter, jitter + 1, (n, 2), generator=generator)
    return centre, neighbour, labels
''',
    "rotation_always_float32": '''
def rotation_batch(images):
    n = images.shape[0]
    rotated = torch.cat([torch.rot90(images, r, dims=(-2, -1)) for r in range(4)]).float()
    return rotated, torch.arange(4).repeat_interleave(n)
''',
    "color_n_rounded": '''
def colorization_pair(images, bin_size=20.0):
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = (images * w).sum(1, keepdim=True)
    n = round(220 / bin_size)
    idx = torch.floor((rgb_to_lab(images)[:, 1:] + 110) / bin_size).long().clamp(0, n - 1)
    return gray, idx[:, 0] * n + idx[:, 1]
''',
    "probe_no_standardisation": '''
def linear_probe_accuracy(encoder, train_images, train_labels, test_images, test_labels, steps=100, lr=0.05):
    was = encoder.training
    encoder.eval()
    with torch.no_grad():
        f_tr, f_te = encoder(train_images).flatten(1).float(), encoder(test_images).flatten(1).float()
    encoder.train(was)
    clf = nn.Linear(f_tr.shape[1], int(max(train_labels.max(), test_labels.max())) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(steps):
        loss = F.cross_entropy(clf(f_tr), train_labels); opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        return float((clf(f_te).argmax(1) == test_labels).float().mean())
''',
    "probe_standardises_test_with_its_own_stats": '''
def linear_probe_accuracy(encoder, train_images, train_labels, test_images, test_labels, steps=100, lr=0.05):
    was = encoder.training
    encoder.eval()
    with torch.no_grad():
        f_tr, f_te = encoder(train_images).flatten(1).float(), encoder(test_images).flatten(1).float()
    encoder.train(was)
    f_tr = (f_tr - f_tr.mean(0)) / (f_tr.std(0) + 1e-6)
    f_te = (f_te - f_te.mean(0)) / (f_te.std(0) + 1e-6)
    clf = nn.Linear(f_tr.shape[1], int(max(train_labels.max(), test_labels.max())) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(steps):
        loss = F.cross_entropy(clf(f_tr), train_labels); opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        return float((clf(f_te).argmax(1) == test_labels).float().mean())
''',
}

# The package's answer to each graded function (the harness builds a "cheater" that only calls it).
REFERENCE = {
    "rotation_batch": "sslcourse.pretext:rotation_pairs",
    "patch_pair_positions": "sslcourse.pretext:patch_pair_positions",
    "colorization_pair": "sslcourse.pretext:colorization_pair",
    "linear_probe_accuracy": "sslcourse.evaluate:probe_encoder",
}
