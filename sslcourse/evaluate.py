"""How good is a representation? Feature extraction, kNN, linear probe, label efficiency, collapse.

Lecture notation -> code words: the encoder f1 maps an image x to features h = f1(x)
(``extract_features``); the downstream task only ever sees h, never the projector f2. The
encoder stays frozen while it is evaluated (``probe_encoder`` asserts it, as MoCo's linear
probe does).

- ``knn_accuracy``: weighted k-nearest-neighbour vote in cosine similarity, the InstDisc
  protocol (Wu et al. 2018, arXiv:1805.01978) used by most SSL papers to monitor training:
  k=200 neighbours, each votes for its class with weight exp(sim / t), t=0.1.
- ``linear_probe``: one linear layer trained on frozen, standardised features; top-1 on test.
- ``label_efficiency``: accuracy against the number of labels per class (1, 10, 100, ...).
- ``collapse_std`` (SimSiam, Chen & He 2020, arXiv:2011.10566) and ``effective_rank``
  (RankMe, Garrido et al. 2023, arXiv:2210.02885): is the embedding collapsing?
- ``baselines``: kNN on raw pixels and on a random-init encoder, the two numbers every SSL
  accuracy in the course stands beside.

All accuracies are fractions in [0, 1]. Code between the BEGIN/END SOLUTION comment lines is
the reference answer of a graded exercise (collapse_std in 04, kNN in 05, the linear probe in
01); a student copy of the package strips it.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.utils import to_float_images

__all__ = ["extract_features", "knn_accuracy", "linear_probe", "per_class_subset", "label_efficiency",
           "probe_encoder", "collapse_std", "effective_rank", "baselines", "KNNMonitor"]


def _as_float_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float in [0, 1]; float images pass through."""
    return to_float_images(x).float()


def _module_device(module: nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def extract_features(encoder: nn.Module, images_or_loader: torch.Tensor | Iterable, batch_size: int = 256,
                     device: str | torch.device | None = None,
                     transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Run the frozen encoder over a set of images: h = f1(x) for every x.

    The encoder is put in eval mode (BatchNorm uses its running statistics, dropout is off)
    and its previous mode is restored afterwards; no gradients are computed.

    Args:
        encoder: f1, a module mapping ``(B, C, H, W)`` to ``(B, D)`` (or more dims, flattened).
        images_or_loader: a tensor ``(N, C, H, W)`` (uint8 is scaled to [0, 1]), an object with
            such an ``.images`` tensor (``data.ImageDataset``), or an iterable of batches
            ``(x, y)`` / ``x``.
        batch_size: images per forward pass when a tensor is given.
        device: where to run; default the encoder's device.
        transform: applied to each float batch before the encoder (e.g. normalisation).

    Returns:
        features ``(N, D)``, float32, on ``device``.
    """
    device = torch.device(device) if device is not None else _module_device(encoder)
    if isinstance(getattr(images_or_loader, "images", None), torch.Tensor):  # an ImageDataset
        images_or_loader = images_or_loader.images
    if isinstance(images_or_loader, torch.Tensor):
        x = images_or_loader
        batches: Iterable = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    else:
        batches = (b[0] if isinstance(b, (list, tuple)) else b for b in images_or_loader)
    # ### BEGIN SOLUTION
    was_training = encoder.training
    encoder.eval()
    try:
        feats = []
        for xb in batches:
            xb = _as_float_images(xb.to(device, non_blocking=True))  # (B, C, H, W) float
            if transform is not None:
                xb = transform(xb)
            feats.append(encoder(xb).float().flatten(1))  # (B, D)
    finally:
        encoder.train(was_training)
    # ### END SOLUTION
    if not feats:
        raise ValueError("extract_features got no images; pass a non-empty tensor or loader.")
    return torch.cat(feats)  # (N, D)


@torch.no_grad()
def knn_accuracy(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor, k: int = 200, t: float = 0.1, chunk_size: int = 1024) -> float:
    """Weighted kNN top-1 accuracy in cosine similarity (InstDisc protocol, arXiv:1805.01978).

    Each test feature finds its k most cosine-similar train features; neighbour j votes for
    its class with weight exp(sim_j / t); the class with the largest total wins (a tie goes to
    the smaller class index). k is clamped to the number of train features.

    Args:
        train_feats, test_feats: ``(N, D)`` and ``(M, D)`` features (L2-normalised inside).
        train_labels, test_labels: ``(N,)`` and ``(M,)`` integer class labels.
        k: neighbours (200 in InstDisc and most SSL papers).
        t: temperature of the vote weights (0.1).
        chunk_size: test rows per block (memory: chunk_size x N similarities).

    Returns:
        top-1 accuracy in [0, 1].
    """
    if len(train_feats) != len(train_labels) or len(test_feats) != len(test_labels) or len(train_feats) == 0:
        raise ValueError(f"knn_accuracy: features and labels must have matching, non-zero lengths; got "
                         f"{len(train_feats)}/{len(train_labels)} train and {len(test_feats)}/{len(test_labels)} test.")
    # ### BEGIN SOLUTION
    device = train_feats.device
    train = F.normalize(train_feats.float(), dim=1)  # (N, D)
    test = F.normalize(test_feats.float().to(device), dim=1)  # (M, D)
    train_labels, test_labels = train_labels.to(device).long(), test_labels.to(device).long()
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    k = min(k, len(train))
    correct = 0
    for i in range(0, len(test), chunk_size):
        sim = test[i:i + chunk_size] @ train.T  # (m, N)
        top_sim, top_idx = sim.topk(k, dim=1)  # (m, k)
        weights = ((top_sim - top_sim[:, :1]) / t).exp()  # (m, k), exp(sim/t) up to a per-row factor
        votes = torch.zeros(len(sim), num_classes, device=device)  # (m, C)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        correct += int((votes.argmax(1) == test_labels[i:i + chunk_size]).sum())
    return correct / len(test)
    # ### END SOLUTION


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor, epochs: int = 100, lr: float = 1e-2, weight_decay: float = 1e-4,
                 batch_size: int | None = None, seed: int = 0) -> float:
    """Top-1 accuracy of one linear layer trained on frozen features.

    Features are standardised with the train mean and std; an ``nn.Linear(D, C)`` minimises
    the cross-entropy + weight_decay/2 ||W||^2. With ``batch_size=None`` (default) it is
    trained full-batch with L-BFGS for ``epochs`` iterations (a convex problem: this converges
    like scikit-learn's LogisticRegression, and is fast even for 50,000 x 512 CIFAR features);
    with a ``batch_size`` it is trained with mini-batch Adam(``lr``, cosine decay) for
    ``epochs`` epochs.

    Args:
        train_feats, test_feats: ``(N, D)`` and ``(M, D)`` frozen features (no gradient flows back).
        train_labels, test_labels: ``(N,)`` and ``(M,)`` integer labels.
        epochs: L-BFGS iterations, or Adam epochs.
        lr: Adam's learning rate (L-BFGS uses a line search).
        weight_decay: L2 penalty on the weights.
        batch_size: None for full-batch L-BFGS, else the Adam mini-batch size.
        seed: initialisation and shuffling.

    Returns:
        top-1 accuracy in [0, 1].
    """
    # ### BEGIN SOLUTION
    device = train_feats.device
    train_x, test_x = train_feats.detach().float(), test_feats.detach().float().to(device)
    train_y, test_y = train_labels.to(device).long(), test_labels.to(device).long()
    mean, std = train_x.mean(0), train_x.std(0, unbiased=False)  # (D,), (D,)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # constant on train: leave unscaled (as sklearn)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std  # (N, D), (M, D)
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    g = torch.Generator().manual_seed(seed)
    head = nn.Linear(train_x.shape[1], num_classes).to(device)
    with torch.no_grad():  # seeded initialisation that does not touch the global RNG
        bound = 1 / math.sqrt(train_x.shape[1])
        head.weight.copy_(torch.rand(head.weight.shape, generator=g) * 2 * bound - bound)
        head.bias.zero_()

    def objective(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(head(x), y) + 0.5 * weight_decay * head.weight.pow(2).sum()

    if batch_size is None:
        opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=epochs, history_size=20,
                                tolerance_grad=1e-7, tolerance_change=1e-10, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss = objective(train_x, train_y)
            loss.backward()
            return loss

        opt.step(closure)
    else:
        n_batches = math.ceil(len(train_x) / batch_size)
        opt = torch.optim.Adam(head.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * n_batches)
        for _ in range(epochs):
            order = torch.randperm(len(train_x), generator=g).to(device)
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]  # (B,)
                loss = objective(train_x[idx], train_y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    with torch.no_grad():
        return float((head(test_x).argmax(1) == test_y).float().mean())
    # ### END SOLUTION


def per_class_subset(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of n random examples of every class (all of a class that has fewer).

    Seeded and nested: the subset for n is contained in the subset for any larger n.

    Shape:
        labels ``(N,)`` -> indices ``(<= n * num_classes,)``, sorted by class.
    """
    labels = labels.cpu().long()
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()  # (N_c,)
        chosen.append(members[torch.randperm(len(members), generator=g)][:n])
    return torch.cat(chosen)


def label_efficiency(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                     test_labels: torch.Tensor, labels_per_class: Iterable[int] = (1, 10, 100),
                     method: str = "linear", seed: int = 0, **kwargs) -> dict[int, float]:
    """Accuracy against the number of labelled examples per class (the label-efficiency curve).

    For each n, ``per_class_subset(train_labels, n, seed)`` picks the labelled examples that
    train the classifier (``linear_probe`` or ``knn_accuracy``, with ``kwargs``); the whole
    test set measures it.

    Returns:
        ``{n: accuracy}``.
    """
    if method not in ("linear", "knn"):
        raise ValueError(f"method must be 'linear' or 'knn', got {method!r}.")
    result = {}
    for n in labels_per_class:
        idx = per_class_subset(train_labels, n, seed).to(train_feats.device)
        sub_x, sub_y = train_feats[idx], train_labels[idx.to(train_labels.device)]
        if method == "linear":
            result[n] = linear_probe(sub_x, sub_y, test_feats, test_labels, seed=seed, **kwargs)
        else:
            result[n] = knn_accuracy(sub_x, sub_y, test_feats, test_labels, **kwargs)
    return result


def probe_encoder(encoder: nn.Module, train_images: torch.Tensor | Iterable, train_labels: torch.Tensor,
                  test_images: torch.Tensor | Iterable, test_labels: torch.Tensor, method: str = "linear",
                  batch_size: int = 256, device: str | torch.device | None = None,
                  transform: Callable | None = None, **kwargs) -> float:
    """Extract frozen features of train and test images and score them (``"linear"`` or ``"knn"``).

    Like MoCo's linear probe, it checks that evaluating did not change the encoder: every
    parameter and buffer (BatchNorm statistics included) is compared before and after.
    """
    before = {name: t.detach().clone() for name, t in encoder.state_dict().items()}
    train_feats = extract_features(encoder, train_images, batch_size, device, transform)
    test_feats = extract_features(encoder, test_images, batch_size, device, transform)
    if method == "linear":
        acc = linear_probe(train_feats, train_labels, test_feats, test_labels, **kwargs)
    elif method == "knn":
        acc = knn_accuracy(train_feats, train_labels, test_feats, test_labels, **kwargs)
    else:
        raise ValueError(f"method must be 'linear' or 'knn', got {method!r}.")
    for name, tensor in encoder.state_dict().items():
        assert torch.equal(before[name], tensor), f"the encoder changed while probing ({name}); it must stay frozen."
    return acc


@torch.no_grad()
def collapse_std(z: torch.Tensor) -> float:
    """SimSiam's collapse diagnostic (Chen & He 2020, arXiv:2011.10566, section 4.1).

    The std over the batch of the L2-normalised embeddings z / ||z||, averaged over the d
    dimensions: about 1/sqrt(d) for embeddings spread over the sphere, 0 when every input
    maps to the same point (complete collapse).

    Shape:
        z ``(N, d)`` with N >= 2 -> a float.
    """
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"collapse_std needs a batch of embeddings (N >= 2, d), got shape {tuple(z.shape)}.")
    # ### BEGIN SOLUTION
    return float(F.normalize(z.float(), dim=1).std(dim=0).mean())  # unbiased std over the batch
    # ### END SOLUTION


@torch.no_grad()
def effective_rank(z: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe's effective rank (Garrido et al. 2023, arXiv:2210.02885; Roy & Vetterli 2007).

    exp(entropy of p), p_k = sigma_k / sum(sigma) + eps, with sigma the singular values of
    z: 1 for a collapsed (rank-one) embedding, close to min(N, d) for an isotropic one.

    Shape:
        z ``(N, d)`` -> a float in [1, min(N, d)].
    """
    if z.ndim != 2:
        raise ValueError(f"effective_rank needs embeddings of shape (N, d), got {tuple(z.shape)}.")
    sigma = torch.linalg.svdvals(z.float())  # (min(N, d),)
    p = sigma / sigma.sum().clamp_min(1e-12) + eps
    return float(torch.exp(-(p * p.log()).sum()))


def baselines(train_images: torch.Tensor, train_labels: torch.Tensor, test_images: torch.Tensor,
              test_labels: torch.Tensor, encoder_factory: Callable[[], nn.Module], k: int = 200, t: float = 0.1,
              transform: Callable | None = None, device: str | torch.device | None = None,
              batch_size: int = 256, seed: int = 0) -> dict[str, float]:
    """The two numbers every SSL accuracy stands beside, measured with the same kNN.

    ``raw_pixels``: kNN on the flattened images scaled to [0, 1]. ``random_init``: kNN on the
    features of a freshly initialised encoder (``encoder_factory()``, built under ``seed``
    without touching the global RNG), passed through ``transform`` like a trained one. Both
    run on ``device`` when given (default: where the images and the new encoder are).

    Returns:
        ``{"raw_pixels": accuracy, "random_init": accuracy}``.
    """
    move = (lambda x: x.to(device)) if device is not None else (lambda x: x)  # a GPU makes CIFAR's kNN fast
    raw_train = _as_float_images(move(train_images)).flatten(1)  # (N, C*H*W)
    raw_test = _as_float_images(move(test_images)).flatten(1)  # (M, C*H*W)
    result = {"raw_pixels": knn_accuracy(raw_train, train_labels, raw_test, test_labels, k=k, t=t)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = encoder_factory()
    if device is not None:
        encoder.to(device)
    result["random_init"] = probe_encoder(encoder, train_images, train_labels, test_images, test_labels,
                                          method="knn", batch_size=batch_size, transform=transform, k=k, t=t)
    return result


class KNNMonitor:
    """A ``fit`` callback: every ``every`` steps, kNN accuracy of ``encoder`` -> history key ``name``.

    ``encoder`` is the module to evaluate (e.g. ``model.encoder``; it is evaluated in eval mode
    and ``fit`` puts the model back in training mode).
    """

    def __init__(self, encoder: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
                 test_images: torch.Tensor, test_labels: torch.Tensor, every: int = 100, k: int = 200,
                 t: float = 0.1, transform: Callable | None = None, batch_size: int = 256, name: str = "knn") -> None:
        self.encoder, self.every, self.name = encoder, every, name
        self.data = (train_images, train_labels, test_images, test_labels)
        self.k, self.t, self.transform, self.batch_size = k, t, transform, batch_size

    def __call__(self, step: int, model: nn.Module, history) -> dict[str, float]:
        train_x, train_y, test_x, test_y = self.data
        acc = probe_encoder(self.encoder, train_x, train_y, test_x, test_y, method="knn", batch_size=self.batch_size,
                            transform=self.transform, k=self.k, t=self.t)
        return {self.name: acc}
