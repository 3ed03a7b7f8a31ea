"""Tests for sslcourse.evaluate against brute-force references, closed forms and limits."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from sslcourse.evaluate import (KNNMonitor, baselines, collapse_std, effective_rank, extract_features, knn_accuracy,
                                label_efficiency, linear_probe, per_class_subset, probe_encoder)
from sslcourse.nn import SmallCNN


def knn_brute_force(train, train_y, test, test_y, k, t):
    """The InstDisc weighted kNN written with python loops in float64 (an independent reference)."""
    train, test = np.asarray(train, dtype=np.float64), np.asarray(test, dtype=np.float64)
    correct = 0
    for q, label in zip(test, test_y):
        sims = [float(q @ x / (np.linalg.norm(q) * np.linalg.norm(x))) for x in train]
        order = sorted(range(len(train)), key=lambda j: -sims[j])[:min(k, len(train))]
        votes = {}
        for j in order:
            votes[int(train_y[j])] = votes.get(int(train_y[j]), 0.0) + math.exp(sims[j] / t)
        best = max(votes.values())
        pred = min(c for c, v in votes.items() if v == best)  # a tie goes to the smaller class
        correct += int(pred == int(label))
    return correct / len(test)


@pytest.mark.parametrize("k,t", [(1, 0.1), (7, 0.1), (20, 0.5), (200, 0.1)])  # k=200 > N_train: clamped
def test_knn_matches_brute_force(k, t):
    g = torch.Generator().manual_seed(k)
    centers = torch.randn(4, 6, generator=g)
    train_y, test_y = torch.randint(0, 4, (60,), generator=g), torch.randint(0, 4, (25,), generator=g)
    train = centers[train_y] + 1.2 * torch.randn(60, 6, generator=g)
    test = centers[test_y] + 1.2 * torch.randn(25, 6, generator=g)
    expected = knn_brute_force(train.numpy(), train_y.numpy(), test.numpy(), test_y.numpy(), k, t)
    assert 0.0 < expected < 1.0  # a case where the classifier makes some mistakes
    assert knn_accuracy(train, train_y, test, test_y, k=k, t=t, chunk_size=7) == pytest.approx(expected)
    assert knn_accuracy(train * 3.0, train_y, test, test_y, k=k, t=t) == pytest.approx(expected)  # cosine: scale-free


def test_knn_vote_ties_and_weights():
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    train = torch.cat([e1, e1, e2])
    train_y = torch.tensor([2, 0, 1])
    # two identical neighbours of classes 2 and 0 tie: the smaller class wins
    assert knn_accuracy(train, train_y, e1, torch.tensor([0]), k=2) == 1.0
    assert knn_accuracy(train, train_y, e1, torch.tensor([2]), k=2) == 0.0
    # weights exp(sim/t): one very close neighbour beats two far ones at small t, not at large t
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    query = torch.tensor([[1.0, 0.3]])
    train_y = torch.tensor([0, 1, 1])
    assert knn_accuracy(train, train_y, query, torch.tensor([0]), k=3, t=0.1) == 1.0
    assert knn_accuracy(train, train_y, query, torch.tensor([1]), k=3, t=10.0) == 1.0
    # tiny temperatures do not overflow
    assert knn_accuracy(train, train_y, query, torch.tensor([0]), k=3, t=1e-3) == 1.0
    with pytest.raises(ValueError, match="matching"):
        knn_accuracy(train, train_y[:2], query, torch.tensor([0]))


def _blobs(n_train=300, n_test=200, d=10, classes=3, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 2.0 * torch.randn(classes, d, generator=g)
    ytr, yte = torch.arange(n_train) % classes, torch.arange(n_test) % classes
    return (centers[ytr] + noise * torch.randn(n_train, d, generator=g), ytr,
            centers[yte] + noise * torch.randn(n_test, d, generator=g), yte)


def test_linear_probe_against_logistic_regression():
    sklearn = pytest.importorskip("sklearn.linear_model")
    xtr, ytr, xte, yte = _blobs(noise=3.0)
    ref = sklearn.LogisticRegression(max_iter=2000).fit(xtr.numpy(), ytr.numpy()).score(xte.numpy(), yte.numpy())
    assert 0.5 < ref < 0.97
    acc = linear_probe(xtr, ytr, xte, yte, seed=0)
    assert abs(acc - ref) <= 0.05
    # standardisation with train statistics: an affine change of the features changes almost nothing
    scale, shift = torch.logspace(-2, 3, 10), torch.linspace(-100, 100, 10)
    assert abs(linear_probe(xtr * scale + shift, ytr, xte * scale + shift, yte, seed=0) - acc) <= 0.02
    # a feature that is constant on the train set (a border pixel) must not blow up on test
    pad_tr, pad_te = torch.zeros(300, 1), torch.rand(200, 1, generator=torch.Generator().manual_seed(2))
    padded = linear_probe(torch.cat([xtr, pad_tr], 1), ytr, torch.cat([xte, pad_te], 1), yte, seed=0)
    assert abs(padded - acc) <= 0.03
    # mini-batches give the same quality
    assert abs(linear_probe(xtr, ytr, xte, yte, batch_size=32, epochs=30) - ref) <= 0.05
    # random labels: chance level on test
    rand = torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(1))
    assert linear_probe(xtr, rand, xte, yte, seed=0) < 0.55
    assert linear_probe(xtr, ytr, xte, yte, seed=3) == linear_probe(xtr, ytr, xte, yte, seed=3)  # seeded


def test_per_class_subset_and_label_efficiency():
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 8)
    one, three = per_class_subset(labels, 1, seed=0), per_class_subset(labels, 3, seed=0)
    assert torch.bincount(labels[one]).tolist() == [1, 1, 1]
    assert torch.bincount(labels[three]).tolist() == [3, 3, 3] and len(set(three.tolist())) == 9
    assert set(one.tolist()) <= set(three.tolist())  # nested
    assert torch.bincount(labels[per_class_subset(labels, 100)]).tolist() == [5, 3, 8]  # capped by the class size
    assert not torch.equal(per_class_subset(labels, 3, seed=0), per_class_subset(labels, 3, seed=1))

    xtr, ytr, xte, yte = _blobs(noise=2.0)
    curve = label_efficiency(xtr, ytr, xte, yte, labels_per_class=(1, 10, 1000), method="knn", k=20)
    assert list(curve) == [1, 10, 1000] and all(0 <= v <= 1 for v in curve.values())
    assert curve[1000] == knn_accuracy(xtr, ytr, xte, yte, k=20)  # all labels = the full kNN
    idx = per_class_subset(ytr, 10, seed=0)
    assert curve[10] == knn_accuracy(xtr[idx], ytr[idx], xte, yte, k=20)
    lin = label_efficiency(xtr, ytr, xte, yte, labels_per_class=(2, 100), epochs=30)
    assert lin[100] > 0.8 and lin[2] >= 1 / 3 - 0.1
    with pytest.raises(ValueError):
        label_efficiency(xtr, ytr, xte, yte, method="svm")


def test_extract_features_inputs_and_modes():
    images = torch.randint(0, 256, (10, 1, 2, 2), dtype=torch.uint8)
    enc = nn.Flatten()
    feats = extract_features(enc, images, batch_size=3)
    assert feats.shape == (10, 4) and feats.dtype == torch.float32
    assert torch.allclose(feats, images.float().flatten(1) / 255)
    halves = extract_features(enc, images, transform=lambda x: x - 0.5)
    assert torch.allclose(halves, feats - 0.5)
    loader = [(images[i:i + 4], torch.zeros(4)) for i in range(0, 10, 4)]
    assert torch.equal(extract_features(enc, loader), feats)

    class Dataset:  # like sslcourse.data.ImageDataset: an .images tensor, items are single images
        def __init__(self, images):
            self.images = images

    assert torch.equal(extract_features(enc, Dataset(images)), feats)
    cnn = SmallCNN(1, width=4)
    cnn.train()
    assert extract_features(cnn, images).shape == (10, 16) and cnn.training  # mode restored
    cnn.eval()
    extract_features(cnn, images)
    assert not cnn.training


class Leaky(nn.Module):
    """An encoder that (wrongly) updates a buffer in eval mode."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return self.net(x)


def test_probe_encoder_checks_the_encoder_is_frozen():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.arange(40) % 2
    enc = SmallCNN(3, width=4)
    enc.train()
    params = {k: v.clone() for k, v in enc.state_dict().items()}
    for method, kwargs in (("linear", {"epochs": 5}), ("knn", {"k": 5})):
        acc = probe_encoder(enc, images[:30], labels[:30], images[30:], labels[30:], method=method, **kwargs)
        assert 0.0 <= acc <= 1.0
    assert enc.training and all(torch.equal(params[k], v) for k, v in enc.state_dict().items())
    with pytest.raises(AssertionError, match="calls"):
        probe_encoder(Leaky(), images[:30], labels[:30], images[30:], labels[30:], method="knn")


def test_collapse_std_limits():
    torch.manual_seed(0)
    assert collapse_std(torch.ones(100, 32) * 3.0) == pytest.approx(0.0, abs=1e-6)
    d = 64
    assert collapse_std(torch.randn(4000, d)) == pytest.approx(1 / math.sqrt(d), rel=0.05)
    assert collapse_std(torch.randn(4000, d) + 10.0) < 0.3 / math.sqrt(d)  # a shared offset = partial collapse
    with pytest.raises(ValueError):
        collapse_std(torch.randn(1, 8))


def test_effective_rank_limits():
    torch.manual_seed(0)
    assert effective_rank(torch.ones(100, 32)) == pytest.approx(1.0, rel=1e-3)
    assert effective_rank(torch.randn(4000, 64)) > 0.9 * 64
    q, _ = torch.linalg.qr(torch.randn(50, 50))
    for r in (1, 5, 20):
        assert effective_rank(q[:, :r] * 7.0) == pytest.approx(r, rel=1e-4)  # r equal singular values
    assert effective_rank(torch.randn(4000, 5) @ torch.randn(5, 64)) < 5.0 + 1e-3  # rank 5 in 64 dims


def test_baselines_and_knn_monitor():
    g = torch.Generator().manual_seed(0)
    ytr, yte = torch.arange(60) % 3, torch.arange(30) % 3
    base = torch.randint(0, 256, (3, 3, 8, 8), generator=g)
    noise = lambda n: torch.randint(-60, 60, (n, 3, 8, 8), generator=g)
    xtr = (base[ytr] + noise(60)).clamp(0, 255).to(torch.uint8)
    xte = (base[yte] + noise(30)).clamp(0, 255).to(torch.uint8)
    state = torch.get_rng_state()
    res = baselines(xtr, ytr, xte, yte, lambda: SmallCNN(3, width=4), k=10)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is untouched
    assert set(res) == {"raw_pixels", "random_init"}
    assert res["raw_pixels"] == knn_accuracy(xtr.float().flatten(1) / 255, ytr, xte.float().flatten(1) / 255, yte, k=10)
    assert res["raw_pixels"] > 0.9  # the classes differ by their mean image
    assert baselines(xtr, ytr, xte, yte, lambda: SmallCNN(3, width=4), k=10) == res  # seeded

    from sslcourse.train import TensorBatches, fit

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = SmallCNN(3, width=4)

        def forward(self, x):
            return self.encoder(x.float() / 255).pow(2).mean()

    model = Model()
    monitor = KNNMonitor(model.encoder, xtr, ytr, xte, yte, every=2, k=10)
    hist = fit(model, TensorBatches(xtr, batch_size=20), steps=3, callbacks=[monitor], progress=False)
    steps, accs = hist.series("knn")
    assert steps == [2, 3] and all(0 <= a <= 1 for a in accs)
