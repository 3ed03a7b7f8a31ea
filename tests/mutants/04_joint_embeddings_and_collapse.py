"""Plausible wrong versions of the graded functions of 04_joint_embeddings_and_collapse.

Every mutant must lose points under the hidden tests (tests/test_assignments.py checks it).
"""

MUTANTS = {
    # ---- collapse_std
    "collapse_std_no_normalization": '''def collapse_std(z):
    return float(z.std(dim=0).mean())
''',
    "collapse_std_normalize_wrong_axis": '''def collapse_std(z):
    zn = z / z.norm(dim=0, keepdim=True)
    return float(zn.std(dim=0).mean())
''',
    "collapse_std_biased_std": '''def collapse_std(z):
    zn = z / z.norm(dim=1, keepdim=True)
    return float(zn.std(dim=0, unbiased=False).mean())
''',
    "collapse_std_std_over_dimensions": '''def collapse_std(z):
    zn = z / z.norm(dim=1, keepdim=True)
    return float(zn.std(dim=1).mean())
''',
    # ---- ema_update
    "ema_swapped_weights": '''def ema_update(target, online, momentum):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_t.mul_(1 - momentum).add_(p_o, alpha=momentum)
''',
    "ema_rebinds_instead_of_in_place": '''def ema_update(target, online, momentum):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_t = momentum * p_t + (1 - momentum) * p_o
''',
    "ema_updates_the_online_network": '''def ema_update(target, online, momentum):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_o.mul_(momentum).add_(p_t, alpha=1 - momentum)
''',
    "ema_without_no_grad": '''def ema_update(target, online, momentum):
    for p_t, p_o in zip(target.parameters(), online.parameters()):
        p_t.mul_(momentum).add_(p_o, alpha=1 - momentum)
''',
    "ema_calls_reference": '''def ema_update(target, online, momentum):
    from sslcourse.ema import ema_update as ref
    ref(target, online, momentum)
''',
    # ---- byol_loss
    "byol_no_stop_gradient": '''def byol_loss(p, z):
    p_n = p / p.norm(dim=1, keepdim=True)
    z_n = z / z.norm(dim=1, keepdim=True)
    return (2 - 2 * (p_n * z_n).sum(dim=1)).mean()
''',
    "byol_no_normalization": '''def byol_loss(p, z):
    z = z.detach()
    return ((p - z) ** 2).sum(dim=1).mean()
''',
    "byol_cosine_over_batch_axis": '''def byol_loss(p, z):
    z = z.detach()
    return (2 - 2 * F.cosine_similarity(p, z, dim=0)).mean()
''',
    "byol_sum_over_batch": '''def byol_loss(p, z):
    z = z.detach()
    return (2 - 2 * F.cosine_similarity(p, z, dim=1)).sum()
''',
    "byol_calls_reference": '''def byol_loss(p, z):
    from sslcourse.losses import byol
    return byol(p, z.detach())
''',
    # ---- variance_term
    "variance_biased": '''def variance_term(z, gamma=1.0, eps=1e-4):
    std = torch.sqrt(z.var(dim=0, unbiased=False) + eps)
    return F.relu(gamma - std).mean()
''',
    "variance_eps_outside_sqrt": '''def variance_term(z, gamma=1.0, eps=1e-4):
    std = torch.sqrt(z.var(dim=0)) + eps
    return F.relu(gamma - std).mean()
''',
    "variance_no_hinge": '''def variance_term(z, gamma=1.0, eps=1e-4):
    std = torch.sqrt(z.var(dim=0) + eps)
    return (gamma - std).mean()
''',
    "variance_on_var_not_std": '''def variance_term(z, gamma=1.0, eps=1e-4):
    return F.relu(gamma - (z.var(dim=0) + eps)).mean()
''',
    "variance_wrong_axis": '''def variance_term(z, gamma=1.0, eps=1e-4):
    std = torch.sqrt(z.var(dim=1) + eps)
    return F.relu(gamma - std).mean()
''',
    # ---- covariance_term
    "covariance_keeps_diagonal": '''def covariance_term(z):
    n, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (n - 1)
    return cov.pow(2).sum() / d
''',
    "covariance_not_centred": '''def covariance_term(z):
    n, d = z.shape
    cov = z.T @ z / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d
''',
    "covariance_divides_by_n": '''def covariance_term(z):
    n, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / n
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d
''',
    "covariance_mean_over_entries": '''def covariance_term(z):
    n, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).mean()
''',
    # ---- vicreg_loss
    "vicreg_variance_not_halved": '''def vicreg_loss(z1, z2, sim=25.0, var=25.0, cov=1.0):
    s = ((z1 - z2) ** 2).mean()
    v = variance_term(z1) + variance_term(z2)
    c = covariance_term(z1) + covariance_term(z2)
    return sim * s + var * v + cov * c
''',
    "vicreg_covariance_halved": '''def vicreg_loss(z1, z2, sim=25.0, var=25.0, cov=1.0):
    s = ((z1 - z2) ** 2).mean()
    v = (variance_term(z1) + variance_term(z2)) / 2
    c = (covariance_term(z1) + covariance_term(z2)) / 2
    return sim * s + var * v + cov * c
''',
    "vicreg_invariance_summed_over_dims": '''def vicreg_loss(z1, z2, sim=25.0, var=25.0, cov=1.0):
    s = ((z1 - z2) ** 2).sum(dim=1).mean()
    v = (variance_term(z1) + variance_term(z2)) / 2
    c = covariance_term(z1) + covariance_term(z2)
    return sim * s + var * v + cov * c
''',
    "vicreg_weights_swapped": '''def vicreg_loss(z1, z2, sim=25.0, var=25.0, cov=1.0):
    s = ((z1 - z2) ** 2).mean()
    v = (variance_term(z1) + variance_term(z2)) / 2
    c = covariance_term(z1) + covariance_term(z2)
    return var * s + sim * v + cov * c
''',
    # ---- specification properties (issue #13 item 6)
    "collapse_std_normalises_in_place": '''def collapse_std(z):
    z /= z.norm(dim=1, keepdim=True)
    return float(z.std(dim=0).mean())
''',
    "collapse_std_returns_tensor": '''def collapse_std(z):
    zn = z / z.norm(dim=1, keepdim=True)
    return zn.std(dim=0).mean()
''',
    "ema_casts_to_float32": '''def ema_update(target, online, momentum):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_t.data = (momentum * p_t.float() + (1 - momentum) * p_o.float())
''',
    "byol_normalises_target_in_place": '''def byol_loss(p, z):
    z = z.detach()
    z /= z.norm(dim=1, keepdim=True)
    p_n = p / p.norm(dim=1, keepdim=True)
    return (2 - 2 * (p_n * z).sum(dim=1)).mean()
''',
    "variance_centres_in_place": '''def variance_term(z, gamma=1.0, eps=1e-4):
    z.sub_(z.mean(dim=0))
    std = torch.sqrt(z.pow(2).sum(dim=0) / (z.shape[0] - 1) + eps)
    return F.relu(gamma - std).mean()
''',
    "variance_eps_hardcoded": '''def variance_term(z, gamma=1.0, eps=1e-4):
    std = torch.sqrt(z.var(dim=0) + 1e-4)
    return F.relu(gamma - std).mean()
''',
    "covariance_centres_in_place": '''def covariance_term(z):
    n, d = z.shape
    z -= z.mean(dim=0)
    cov = z.T @ z / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d
''',
    "vicreg_target_branch_detached": '''def vicreg_loss(z1, z2, sim=25.0, var=25.0, cov=1.0):
    z2 = z2.detach()
    s = ((z1 - z2) ** 2).mean()
    v = (variance_term(z1) + variance_term(z2)) / 2
    c = covariance_term(z1) + covariance_term(z2)
    return sim * s + var * v + cov * c
''',
}

# The package's answer of each graded function (a "cheater" calling it must lose that part's points).
REFERENCE = {
    "collapse_std": "sslcourse.evaluate:collapse_std",
    "ema_update": "sslcourse.ema:ema_update",
    "byol_loss": "sslcourse.losses.joint:byol",
    "variance_term": "sslcourse.losses.joint:variance_term",
    "covariance_term": "sslcourse.losses.joint:covariance_term",
    "vicreg_loss": "sslcourse.losses.joint:vicreg",
}
