"""Tests for sslcourse.train: the loop, exact resume, the NaN guard, checkpoint errors, TensorBatches."""
import random

import numpy as np
import pytest
import torch
from torch import nn

from sslcourse.train import CheckpointError, History, TensorBatches, fit, load_weights


class Regressor(nn.Module):
    """A tiny model whose loss uses the global torch and numpy RNGs (like augmentations would)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
        self.ema = nn.Linear(4, 8)
        self.after = []

    def forward(self, batch):
        x, y = batch
        x = x + 0.01 * torch.randn_like(x) + float(np.random.rand()) * 1e-3 + random.random() * 1e-3
        loss = ((self.net(x).squeeze(1) - y) ** 2).mean()
        return {"loss": loss, "mae": (self.net(x).squeeze(1) - y).abs().mean()}

    @torch.no_grad()
    def after_step(self, step, steps):
        self.after.append((step, steps))
        for p, q in zip(self.ema.parameters(), self.net[0].parameters()):
            p.mul_(0.9).add_(0.1 * q)


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0])


def _model():
    torch.manual_seed(123)
    return Regressor()


def test_fit_reduces_loss_and_records_history():
    x, y = _data()
    model = _model()
    hist = fit(model, TensorBatches(x, y, batch_size=16), steps=60, lr=3e-2, progress=False)
    assert isinstance(hist, History) and len(hist) == 60
    assert hist.column("step") == list(range(1, 61))
    assert set(hist.rows[0]) >= {"step", "loss", "mae", "lr", "items_per_s"}
    assert np.mean(hist.column("loss")[-10:]) < 0.5 * np.mean(hist.column("loss")[:5])
    assert all(v > 0 for v in hist.column("items_per_s"))
    assert model.after == [(s, 60) for s in range(1, 61)]  # after_step after every optimizer step


def test_cosine_schedule_with_warmup():
    x, y = _data()
    hist = fit(_model(), TensorBatches(x, y, batch_size=16), steps=20, lr=0.1, warmup_steps=4, progress=False)
    lrs = hist.column("lr")
    assert lrs[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))  # decays monotonically after the warmup
    assert lrs[-1] == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 15 / 16)))
    const = fit(_model(), TensorBatches(x, y, batch_size=16), steps=5, lr=0.1, scheduler=None, progress=False)
    assert const.column("lr") == pytest.approx([0.1] * 5)


class Crash:
    """A callback that interrupts training (like a killed job) at a given step."""
    every = 1

    def __init__(self, at):
        self.at = at

    def __call__(self, step, model, history):
        if step == self.at:
            raise KeyboardInterrupt


class EpochShuffled:
    """A re-iterable without state_dict whose order depends on set_epoch (like DistributedSampler)."""

    def __init__(self, x, y):
        self.x, self.y, self.epoch = x, y, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(self.epoch))
        for i in range(0, len(order), 16):
            yield self.x[order[i:i + 16]], self.y[order[i:i + 16]]


@pytest.mark.parametrize("data_kind,crash_at", [("tensor_batches", 7), ("tensor_batches", 5), ("list", 7),
                                                ("set_epoch", 5)])
def test_resume_reproduces_uninterrupted_run_exactly(tmp_path, data_kind, crash_at):
    x, y = _data(48)
    make_data = {"tensor_batches": lambda: TensorBatches(x, y, batch_size=16, seed=3),
                 "list": lambda: [(x[i:i + 16], y[i:i + 16]) for i in range(0, 48, 16)],
                 "set_epoch": lambda: EpochShuffled(x, y)}[data_kind]
    kw = dict(steps=10, lr=1e-2, weight_decay=1e-2, warmup_steps=2, progress=False, seed=5)
    straight = _model()
    h_straight = fit(straight, make_data(), **kw)

    ckpt = tmp_path / "run.pt"
    interrupted = _model()
    with pytest.raises(KeyboardInterrupt):  # killed during step crash_at, after the checkpoint of crash_at - 1
        fit(interrupted, make_data(), checkpoint=ckpt, checkpoint_every=2, callbacks=[Crash(crash_at)], **kw)
    assert ckpt.exists() and not list(tmp_path.glob("*.tmp"))
    resumed = _model()  # a fresh process: new model, new data iterable
    h_resumed = fit(resumed, make_data(), checkpoint=ckpt, checkpoint_every=2, **kw)

    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert h_resumed.column("step") == list(range(1, 11))
    assert h_resumed.column("loss") == h_straight.column("loss")
    # the data order matters: a differently shuffled run ends elsewhere
    if data_kind == "tensor_batches":
        other = _model()
        fit(other, TensorBatches(x, y, batch_size=16, seed=4), **kw)
        assert not torch.equal(other.net[0].weight, straight.net[0].weight)
    # a finished checkpoint: nothing left to do; load_weights restores the final parameters
    assert len(fit(_model(), make_data(), checkpoint=ckpt, **kw)) == 10
    assert torch.equal(load_weights(_model(), ckpt).net[0].weight, straight.net[0].weight)


class Exploding(nn.Module):
    """Loss 2.5 until call ``nan_from``, NaN from then on."""

    def __init__(self, nan_from):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.calls, self.nan_from = 0, nan_from

    def forward(self, batch):
        self.calls += 1
        return self.w * (2.5 if self.calls < self.nan_from else float("nan"))


def test_nan_loss_names_step_and_last_finite_loss():
    with pytest.raises(FloatingPointError, match=r"step 4 .*last finite loss was 2\.5 at step 3"):
        fit(Exploding(nan_from=4), [torch.zeros(2)], steps=10, lr=0.0, progress=False)


def test_sync_every_gives_the_same_run_and_reads_the_device_less_often(monkeypatch):
    """sync_every only changes when the host reads the losses back: same rows, same model, and one
    read per sync_every steps (plus one before each callback and at the end)."""
    import sslcourse.train as train_module

    x, y = _data()
    reads = []
    real_flush = train_module._flush
    monkeypatch.setattr(train_module, "_flush", lambda pending, *a: reads.append(len(pending)) or real_flush(pending, *a))

    class Every7:
        every = 7

        def __call__(self, step, model, history):
            assert history.rows[-1]["step"] == step  # the callback sees this step's row
            return {"seen": float(step)}

    runs = {}
    for sync_every in (1, 5):
        reads.clear()
        model = _model()
        hist = fit(model, TensorBatches(x, y, batch_size=16), steps=23, lr=3e-2, progress=False, seed=3,
                   sync_every=sync_every, callbacks=[Every7()])
        runs[sync_every] = (hist, model, list(reads))
    (h1, m1, r1), (h5, m5, r5) = runs[1], runs[5]
    assert r1 == [1] * 23
    # syncs at 5, 7 (callback), 10, 14 (callback), 15, 20, 21 (callback), 23 (end)
    assert r5 == [5, 2, 3, 4, 1, 5, 1, 2], r5
    assert h5.column("step") == list(range(1, 24))
    for key in ("loss", "mae", "lr"):
        assert h5.column(key) == h1.column(key), key
    assert [r.get("seen") for r in h5.rows] == [r.get("seen") for r in h1.rows]
    assert torch.equal(m5.net[0].weight, m1.net[0].weight)
    with pytest.raises(ValueError, match="sync_every"):
        fit(_model(), TensorBatches(x, y, batch_size=16), steps=2, progress=False, sync_every=0)


def test_nan_loss_found_at_a_later_sync_still_names_its_step():
    model = Exploding(nan_from=6)
    with pytest.raises(FloatingPointError, match=r"step 6 .*last finite loss was 2\.5 at step 5"):
        fit(model, [torch.zeros(2)], steps=20, lr=0.0, progress=False, sync_every=4)
    assert model.calls == 8  # found at the sync after step 8, not at the end of the run


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "truncate"])
def test_corrupted_checkpoint_is_one_clear_error(tmp_path, content):
    x, y = _data()
    ckpt = tmp_path / "run.pt"
    if content == "truncate":
        fit(_model(), TensorBatches(x, y, batch_size=16), steps=2, checkpoint=ckpt, progress=False)
        content = ckpt.read_bytes()[:200]
    ckpt.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        fit(_model(), TensorBatches(x, y, batch_size=16), steps=4, checkpoint=ckpt, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and str(ckpt) in msg and "resume=False" in msg
    # resume=False starts over and overwrites the bad file
    assert len(fit(_model(), TensorBatches(x, y, batch_size=16), steps=4, checkpoint=ckpt, resume=False,
                   progress=False)) == 4
    assert load_weights(_model(), ckpt) is not None


def test_mismatched_checkpoint_is_one_clear_error(tmp_path):
    x, y = _data()
    ckpt = tmp_path / "run.pt"
    fit(_model(), TensorBatches(x, y, batch_size=16), steps=2, checkpoint=ckpt, progress=False)
    other = nn.Linear(4, 1)
    with pytest.raises(CheckpointError, match="does not match"):
        fit(other, TensorBatches(x, y, batch_size=16), steps=4, checkpoint=ckpt, progress=False)


def test_callbacks_add_metrics_and_run_at_the_end():
    x, y = _data()
    calls = []

    class Probe:
        every = 4

        def __call__(self, step, model, history):
            calls.append((step, model.training, history.rows[-1]["step"]))
            model.eval()
            return {"probe": float(step)}

    hist = fit(_model(), TensorBatches(x, y, batch_size=16), steps=10, callbacks=[Probe()], progress=False)
    assert [c[0] for c in calls] == [4, 8, 10] and all(c[0] == c[2] for c in calls)
    assert hist.series("probe") == ([4, 8, 10], [4.0, 8.0, 10.0])
    assert all(c[1] for c in calls)  # the model is back in training mode after a callback


def test_scalar_loss_and_bad_return():
    class Mean(nn.Linear):
        def forward(self, x):
            return super().forward(x).pow(2).mean()  # a plain scalar tensor, no dict

    data = [torch.randn(5, 3), torch.randn(7, 3)]
    hist = fit(Mean(3, 1), data, steps=5, progress=False, scheduler=None)
    assert len(hist) == 5 and [r["step"] for r in hist.rows] == [1, 2, 3, 4, 5]

    class Vector(nn.Linear):
        def forward(self, x):
            return super().forward(x)  # (N, 1): not a scalar

    with pytest.raises(TypeError, match=r"scalar loss.*\(5, 1\)"):
        fit(Vector(3, 1), data, steps=1, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        fit(nn.Linear(3, 1), [], steps=1, progress=False)


def test_tensor_batches_order_and_state():
    x = torch.arange(10)
    tb = TensorBatches(x, batch_size=3, seed=1)
    assert len(tb) == 3
    epoch0 = torch.cat(list(tb))
    epoch1 = torch.cat(list(tb))
    assert len(set(epoch0.tolist())) == 9 and not torch.equal(epoch0, epoch1)
    # the order depends only on (seed, epoch)
    tb2 = TensorBatches(x, batch_size=3, seed=1)
    assert torch.equal(torch.cat(list(tb2)), epoch0)
    # resuming mid-epoch skips exactly the batches already drawn
    it = iter(TensorBatches(x, batch_size=3, seed=1))
    first = next(it)
    tb3 = TensorBatches(x, batch_size=3, seed=1)
    tb3.load_state_dict({"epoch": 0, "position": 1})
    assert torch.equal(torch.cat([first, *tb3]), epoch0)
    assert torch.equal(torch.cat(list(TensorBatches(x, batch_size=4, shuffle=False, drop_last=False))), x)
    pairs = next(iter(TensorBatches(x, x * 2, batch_size=5)))
    assert torch.equal(pairs[1], pairs[0] * 2)
    with pytest.raises(ValueError):
        TensorBatches(x, batch_size=11)
    with pytest.raises(ValueError):
        TensorBatches(x, x[:5], batch_size=2)


def test_progress_bar_shows_loss_and_items_per_second(capsys):
    x, y = _data()
    fit(_model(), TensorBatches(x, y, batch_size=16), steps=3, desc="demo", progress=True)
    err = capsys.readouterr().err
    assert "demo" in err and "3/3" in err and "loss=" in err and "items_s=" in err


def test_channels_last_and_grad_clip():
    from sslcourse.nn import SmallCNN

    class Images(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = SmallCNN(3, width=4)

        def forward(self, x):
            return 1e3 * self.encoder(x).pow(2).mean()  # large gradients

    torch.manual_seed(0)
    model = Images()
    start = [p.detach().clone() for p in model.parameters()]
    images = torch.randn(8, 3, 8, 8)
    fit(model, [images], steps=1, lr=1.0, optimizer=lambda params: torch.optim.SGD(params, lr=1.0),
        scheduler=None, grad_clip=1e-3, channels_last=True, progress=False)
    assert model.encoder.features[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    step = torch.sqrt(sum(((p.detach() - s) ** 2).sum() for p, s in zip(model.parameters(), start)))
    assert float(step) == pytest.approx(1e-3, rel=1e-3)  # SGD lr=1 moves by the clipped gradient norm
