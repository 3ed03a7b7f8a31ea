"""Joint-embedding methods (topic 04): EMA target, BYOL/SimSiam/VICReg forward passes, collapse claims.

The collapse claims run as small seeded CPU trainings on a toy "nuisance" world where they take
seconds: each point is a class prototype in 4 signal dimensions plus large noise in 28 nuisance
dimensions, and the views g keep the signal but redraw the nuisance. kNN on raw inputs or on a
random-init encoder is dominated by the nuisance; an encoder that learned the invariance is not.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sslcourse.collapse import CollapseMonitor, embeddings
from sslcourse.ema import cosine_momentum, ema_update, make_target
from sslcourse.evaluate import collapse_std, effective_rank, extract_features, knn_accuracy
from sslcourse.losses.joint import byol, covariance_term, invariance_term, variance_term
from sslcourse.methods.byol import BYOL, BYOLConfig
from sslcourse.methods.invariance import Invariance, InvarianceConfig
from sslcourse.methods.simsiam import SimSiam, SimSiamConfig
from sslcourse.methods.vicreg import VICReg, VICRegConfig
from sslcourse.nn import MLP, SmallCNN
from sslcourse.train import TensorBatches, fit
from sslcourse.views import views_of_batch

SIGNAL, NUISANCE, CLASSES = 4, 28, 8


def _prototypes() -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    return 3.0 * F.normalize(torch.randn(CLASSES, SIGNAL, generator=g), dim=1)  # (K, 4)


def _toy(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)
    signal = _prototypes()[y] + 0.3 * torch.randn(n, SIGNAL, generator=g)
    nuisance = 3.0 * torch.randn(n, NUISANCE, generator=g)
    return torch.cat([signal, nuisance], dim=1), y  # (n, 32), (n,)


def _toy_views(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """g: keep the signal (with a little noise), redraw the nuisance for every view."""
    def view() -> torch.Tensor:
        s = x[:, :SIGNAL] + 0.1 * torch.randn_like(x[:, :SIGNAL])
        return torch.cat([s, 3.0 * torch.randn_like(x[:, SIGNAL:])], dim=1)
    return view(), view()


def _encoder() -> MLP:
    return MLP(SIGNAL + NUISANCE, 128, 32)


TRAIN, TEST = _toy(1024, seed=1), _toy(512, seed=2)


def _knn(encoder) -> float:
    ftr, fte = extract_features(encoder, TRAIN[0]), extract_features(encoder, TEST[0])
    return knn_accuracy(ftr, TRAIN[1], fte, TEST[1], k=20)


def _train(model, steps: int = 300, lr: float = 3e-3) -> None:
    fit(model, TensorBatches(*TRAIN, batch_size=128, seed=0), steps=steps, lr=lr, device="cpu", progress=False, seed=0)


def _test_std(model) -> tuple[float, int]:
    z = embeddings(model, TEST[0])  # (M, d), batch statistics as the loss sees them
    return collapse_std(z), z.shape[1]


# --------------------------------------------------------------------------- EMA target
def test_make_target_is_a_frozen_copy():
    online = MLP(6, 8, 4)
    target = make_target(online)
    for p_o, p_t in zip(online.parameters(), target.parameters()):
        assert torch.equal(p_o, p_t) and p_o.data_ptr() != p_t.data_ptr()
        assert p_o.requires_grad and not p_t.requires_grad


def test_ema_update_matches_formula_and_leaves_gradients_alone():
    torch.manual_seed(0)
    online, target = MLP(6, 8, 4), MLP(6, 8, 4)
    for p in target.parameters():
        p.requires_grad_(False)
    online(torch.randn(5, 6)).sum().backward()  # online has gradients; the update must not touch them
    grads = [p.grad.clone() for p in online.parameters()]
    before_t = [p.clone() for p in target.parameters()]
    before_o = [p.clone() for p in online.parameters()]
    online(torch.randn(7, 6))  # changes the online BatchNorm running statistics
    ema_update(target, online, 0.9)
    for t0, o0, p_t, p_o, g in zip(before_t, before_o, target.parameters(), online.parameters(), grads):
        torch.testing.assert_close(p_t, 0.9 * t0 + 0.1 * o0)
        assert torch.equal(p_o, o0) and torch.equal(p_o.grad, g)
        assert p_t.grad is None and not p_t.requires_grad
    for b_t, b_o in zip(target.buffers(), online.buffers()):
        assert torch.equal(b_t, b_o)
    ema_update(target, online, 0.0)  # momentum 0 copies; momentum 1 keeps
    for p_t, p_o in zip(target.parameters(), online.parameters()):
        assert torch.equal(p_t, p_o)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ema_update(target, online, 1.5)


def test_cosine_momentum_schedule():
    assert cosine_momentum(0, 100, 0.996) == pytest.approx(0.996)
    assert cosine_momentum(100, 100, 0.996) == pytest.approx(1.0)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(1 - 0.01 * 0.5)
    k, K, base = 30, 100, 0.9
    assert cosine_momentum(k, K, base) == pytest.approx(1 - (1 - base) * (math.cos(math.pi * k / K) + 1) / 2)
    values = [cosine_momentum(s, 50) for s in range(51)]
    assert all(a <= b for a, b in zip(values, values[1:]))  # rises monotonically


# --------------------------------------------------------------------------- BYOL
def _byol(**kw) -> BYOL:
    torch.manual_seed(0)
    return BYOL(_encoder(), _toy_views, BYOLConfig(hidden_dim=64, out_dim=16, **kw))


def test_byol_loss_is_symmetric_byol_with_stop_gradient():
    model = _byol()
    x1, x2 = _toy_views(TRAIN[0][:64])
    out = model({"x1": x1, "x2": x2})
    # independent computation of the same loss
    z = model.projector(model.encoder(torch.cat([x1, x2])))
    p1, p2 = model.predictor(z).chunk(2)
    with torch.no_grad():
        t1, t2 = model.target_projector(model.target_encoder(torch.cat([x1, x2]))).chunk(2)
    expected = (2 - 2 * F.cosine_similarity(p1, t2)).mean() + (2 - 2 * F.cosine_similarity(p2, t1)).mean()
    torch.testing.assert_close(out["loss"], expected)
    # swapping the views gives the same loss (symmetric)
    torch.testing.assert_close(model({"x1": x2, "x2": x1})["loss"], out["loss"])
    out["loss"].backward()
    assert all(p.grad is None for p in model.target_encoder.parameters())
    assert all(p.grad is None for p in model.target_projector.parameters())
    assert all(not p.requires_grad for p in model.target_encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_byol_after_step_is_the_ema_of_encoder_and_projector():
    model = _byol(base_momentum=0.9)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    target_before = [p.clone() for p in model.target_encoder.parameters()]
    model(_toy_views(TRAIN[0][:64]))["loss"].backward()
    opt.step()
    model.after_step(3, 10)
    tau = cosine_momentum(3, 10, 0.9)
    assert model.momentum == pytest.approx(tau)
    for t0, p_t, p_o in zip(target_before, model.target_encoder.parameters(), model.encoder.parameters()):
        torch.testing.assert_close(p_t, tau * t0 + (1 - tau) * p_o)
    # the optimizer never saw the target, the target is in the state_dict (checkpoints keep it)
    opt_params = {id(p) for group in opt.param_groups for p in group["params"]}
    assert not any(id(p) in opt_params for p in model.target_encoder.parameters())
    assert any(k.startswith("target_encoder.") for k in model.state_dict())


def test_byol_ablation_switches():
    x = _toy_views(TRAIN[0][:32])
    assert isinstance(_byol(use_predictor=False).predictor, torch.nn.Identity)
    online = _byol(target="online")
    assert not hasattr(online, "target_encoder")
    online(x)["loss"].backward()  # gradients flow through both branches
    with pytest.raises(ValueError, match="target"):
        BYOLConfig(target="momentum")


def test_projector_depth_is_a_config_field():
    """BYOL's and SimSiam's projector depth comes from their config, and BYOL's EMA target copies it."""
    def linears(module):
        return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]

    byol_model = _byol(projector_layers=3)
    assert len(linears(byol_model.projector)) == 3 and len(linears(_byol().projector)) == 2
    assert len(linears(byol_model.target_projector)) == 3
    simsiam = SimSiam(_encoder(), _toy_views, SimSiamConfig(hidden_dim=64, out_dim=16, predictor_hidden_dim=8,
                                                            projector_layers=3))
    assert len(linears(simsiam.projector)) == 3
    assert isinstance(list(simsiam.projector.modules())[-1], torch.nn.BatchNorm1d)  # SimSiam's BN on z stays
    x = _toy_views(TRAIN[0][:32])
    assert torch.isfinite(byol_model(x)["loss"]) and torch.isfinite(simsiam(x)["loss"])


def test_two_views_batch_forms():
    x = torch.randn(4, 32)
    v1, v2 = views_of_batch((x, torch.zeros(4)), _toy_views)
    assert v1.shape == v2.shape == x.shape
    a, b = views_of_batch((x, x + 1), None)
    assert torch.equal(b, x + 1)
    assert views_of_batch({"x1": x, "x2": x}, None)[0] is x
    assert views_of_batch({"x1": x, "x2": x}, _toy_views)[0] is x  # ready-made views win
    with pytest.raises(ValueError, match="views"):
        views_of_batch(x, None)


# --------------------------------------------------------------------------- SimSiam and VICReg
def test_simsiam_loss_and_stop_gradient():
    torch.manual_seed(0)
    model = SimSiam(_encoder(), _toy_views, SimSiamConfig(hidden_dim=64, out_dim=16, predictor_hidden_dim=8))
    x1, x2 = _toy_views(TRAIN[0][:64])
    out = model({"x1": x1, "x2": x2})
    z1, z2 = model.embed(torch.cat([x1, x2])).chunk(2)
    p1, p2 = model.predictor(torch.cat([z1, z2])).chunk(2)
    expected = -(F.cosine_similarity(p1, z2).mean() + F.cosine_similarity(p2, z1).mean()) / 2
    torch.testing.assert_close(out["loss"], expected)
    assert -1.0 <= out["loss"].item() <= 1.0
    # with the stop-gradient, the loss gradient w.r.t. z reaches z only through the predictor
    z = torch.randn(8, 4, requires_grad=True)
    p = torch.randn(8, 4, requires_grad=True)
    from sslcourse.methods.simsiam import negative_cosine
    negative_cosine(p, z).backward()
    assert z.grad is None and p.grad is not None


def test_vicreg_forward_logs_its_three_terms():
    torch.manual_seed(0)
    model = VICReg(_encoder(), _toy_views, VICRegConfig(hidden_dim=64, out_dim=64))
    x1, x2 = _toy_views(TRAIN[0][:64])
    out = model({"x1": x1, "x2": x2})
    z1, z2 = model.embed(torch.cat([x1, x2])).chunk(2)
    torch.testing.assert_close(out["invariance"], invariance_term(z1, z2))
    torch.testing.assert_close(out["variance"], (variance_term(z1) + variance_term(z2)) / 2)
    torch.testing.assert_close(out["covariance"], covariance_term(z1) + covariance_term(z2))
    torch.testing.assert_close(out["loss"], 25 * out["invariance"] + 25 * out["variance"] + out["covariance"])


def test_image_methods_run_one_fit_step_on_images():
    views = lambda x: (x.float() / 255, x.float().flip(-1) / 255)  # noqa: E731
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8)
    for make in (lambda e: BYOL(e, views, BYOLConfig(hidden_dim=32, out_dim=16)),
                 lambda e: SimSiam(e, views, SimSiamConfig(hidden_dim=32, out_dim=16, predictor_hidden_dim=8)),
                 lambda e: VICReg(e, views, VICRegConfig(hidden_dim=32, out_dim=32)),
                 lambda e: Invariance(e, views, InvarianceConfig(hidden_dim=32, out_dim=16))):
        model = make(SmallCNN(3, width=4))
        before = [p.detach().clone() for p in model.encoder.parameters()]
        hist = fit(model, TensorBatches(images, torch.zeros(16), batch_size=8), steps=2, device="cpu", progress=False)
        assert len(hist.rows) == 2 and math.isfinite(hist.rows[-1]["loss"])
        assert any(not torch.equal(a, b) for a, b in zip(before, model.encoder.parameters())), type(model).__name__


# --------------------------------------------------------------------------- collapse claims
def test_toy_world_baselines_are_weak():
    raw = knn_accuracy(TRAIN[0], TRAIN[1], TEST[0], TEST[1], k=20)
    torch.manual_seed(0)
    rand = _knn(_encoder())
    assert raw < 0.45 and rand < 0.45  # chance is 1/8; the nuisance dominates the distances


@pytest.mark.parametrize("name", ["invariance", "byol_target_is_online"])
def test_naive_invariance_and_byol_without_target_collapse(name):
    torch.manual_seed(0)
    if name == "invariance":
        model = Invariance(_encoder(), _toy_views, InvarianceConfig(hidden_dim=64, out_dim=16))
    else:  # BYOL whose target is the online network itself: no EMA, no stop-gradient
        model = BYOL(_encoder(), _toy_views, BYOLConfig(hidden_dim=64, out_dim=16, target="online"))
    _train(model, steps=200)
    std, d = _test_std(model)
    assert std < 0.1 / math.sqrt(d)


@pytest.mark.parametrize("name", ["byol", "vicreg", "simsiam"])
def test_repairs_do_not_collapse_and_beat_random_init(name):
    torch.manual_seed(0)
    rand = _knn(_encoder())
    torch.manual_seed(0)
    if name == "byol":
        model = BYOL(_encoder(), _toy_views, BYOLConfig(hidden_dim=64, out_dim=16))
    elif name == "vicreg":
        model = VICReg(_encoder(), _toy_views, VICRegConfig(hidden_dim=64, out_dim=64))
    else:
        model = SimSiam(_encoder(), _toy_views, SimSiamConfig(hidden_dim=64, out_dim=16, predictor_hidden_dim=8))
    _train(model)
    std, d = _test_std(model)
    assert std > 0.5 / math.sqrt(d)
    acc = _knn(model.encoder)
    # measured (seeds 0/1): BYOL 0.54/0.80, VICReg 0.79/0.89, SimSiam 0.48/0.48 against random init 0.20
    assert acc > rand + (0.15 if name == "simsiam" else 0.2), (acc, rand)
    z = model.embed(TEST[0]).detach()
    assert effective_rank(z) > 2.0


# --------------------------------------------------------------------------- the monitor callback
def test_collapse_monitor_logs_into_fit_history_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = BYOL(_encoder(), _toy_views, BYOLConfig(hidden_dim=64, out_dim=16))
    monitor = CollapseMonitor(TEST[0][:256], *TRAIN, *TEST, every=5, k=20)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    first = monitor.measure(model)
    assert not model.training  # the mode is restored
    for k, v in model.state_dict().items():  # probing changes no weight and no BatchNorm statistic
        assert torch.equal(v, state[k]), k
    assert set(first) == {"collapse_std", "spread", "effective_rank", "dim", "knn", "knn_embedding"}
    assert first["dim"] == 16
    model.train()
    torch.testing.assert_close(torch.tensor(first["collapse_std"]),
                               torch.tensor(collapse_std(embeddings(model, TEST[0][:256]))))
    assert first["spread"] == pytest.approx(first["collapse_std"] * 4.0)  # collapse_std * sqrt(16)
    f1_only = CollapseMonitor(TEST[0][:256], *TRAIN, *TEST, k=20, embedding_knn=False).measure(model)
    assert "knn_embedding" not in f1_only and f1_only["knn"] == pytest.approx(first["knn"])
    hist = fit(model, TensorBatches(*TRAIN, batch_size=64), steps=10, device="cpu", progress=False, callbacks=[monitor])
    assert [r["step"] for r in hist.rows if "collapse_std" in r] == [5, 10]
    assert all(0.0 <= r["knn"] <= 1.0 and r["effective_rank"] >= 1.0 for r in hist.rows if "knn" in r)
    with pytest.raises(ValueError, match="all four"):
        CollapseMonitor(TEST[0], TRAIN[0])


@pytest.mark.parametrize("method,extra", [("byol", ["--target", "online"]), ("vicreg", ["--var-weight", "0"]),
                                          ("simsiam", ["--standardize-input"])])
def test_joint_recipe_runs_and_reports_baselines(tmp_path, method, extra):
    import json
    from sslcourse.nn import Standardized
    from sslcourse.recipes import load_model
    from sslcourse.recipes.joint import main

    out, ckpt = tmp_path / "run.json", tmp_path / "run.pt"
    code = main(method, ["--data", "shapes", "--train-size", "64", "--test-size", "32", "--steps", "2",
                         "--batch-size", "16", "--width", "4", "--eval-every", "1", "--device", "cpu",
                         "--out", str(out), "--checkpoint", str(ckpt), "--no-progress", *extra])
    assert code == 0
    result = json.loads(out.read_text())
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0.0 <= result["collapse_std"] <= 1.0 and 1.0 <= result["effective_rank"] <= result["dim"]
    # the final numbers are those of the last monitored step (the same model) ...
    assert result["history"][-1]["knn"] == result["knn"]
    # ... and the checkpoint holds that model: its f1 gives the reported kNN again, measured independently
    from sslcourse.data import load_dataset

    model = load_model(ckpt)
    assert type(model).__name__.lower() == method
    assert isinstance(model.encoder, Standardized) == ("--standardize-input" in extra)
    train, test = load_dataset("shapes", "train", subset=64, seed=0), load_dataset("shapes", "test", subset=32, seed=0)
    acc = knn_accuracy(extract_features(model.encoder, train.images), train.labels,
                       extract_features(model.encoder, test.images), test.labels)
    assert acc == pytest.approx(result["knn"])
    raw = knn_accuracy(train.images.flatten(1).float() / 255, train.labels, test.images.flatten(1).float() / 255,
                       test.labels)
    assert result["raw_pixels"] == pytest.approx(raw)
    assert [r["step"] for r in result["history"] if "collapse_std" in r] == [1, 2]


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_joint_optimizer_groups(name, cls):
    """--optimizer / --predictor-lr: every trainable parameter exactly once; no weight decay on biases and
    BatchNorm; the predictor's lr scaled; the EMA target left out."""
    from sslcourse.recipes.joint import make_optimizer

    model = BYOL(_encoder(), _toy_views, BYOLConfig(hidden_dim=16, out_dim=8))
    opt = make_optimizer(model, name, lr=0.1, weight_decay=5e-4, predictor_lr=10.0)
    assert isinstance(opt, cls)
    seen = [id(p) for g in opt.param_groups for p in g["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert sorted(seen) == sorted(trainable) and len(seen) == len(set(seen))
    predictor = {id(p) for p in model.predictor.parameters()}
    for g in opt.param_groups:
        assert g["weight_decay"] == (5e-4 if g["params"][0].ndim > 1 else 0.0)
        assert all((p.ndim > 1) == (g["params"][0].ndim > 1) for p in g["params"])
        in_pred = {id(p) in predictor for p in g["params"]}
        assert len(in_pred) == 1 and g["lr"] == pytest.approx(1.0 if in_pred.pop() else 0.1)
    with pytest.raises(ValueError, match="'adamw' or 'sgd'"):
        make_optimizer(model, "lamb", lr=0.1, weight_decay=0.0)
