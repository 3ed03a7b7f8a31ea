"""The one checkpoint format (sslcourse.checkpoint), its loader (sslcourse.recipes.load_model),
the shipped checkpoints, and fit's data-parallel batches."""
from __future__ import annotations

import pytest
import torch

from sslcourse import checkpoint
from sslcourse.bert import MiniBERT, fill_mask
from sslcourse.gpt import MiniGPT, generate
from sslcourse.recipes import RECIPES, load_model, recipe
from sslcourse.recipes.text import CHECKPOINT_DIR
from sslcourse.train import TensorBatches, fit


@pytest.mark.parametrize("name", ["bert", "gpt"])
def test_every_shipped_checkpoint_is_in_the_format_and_loads_through_the_one_loader(name):
    path = CHECKPOINT_DIR / f"mini_{name}.pt"
    ckpt = checkpoint.read(path)
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["version"] == checkpoint.VERSION and ckpt["method"] == name
    assert set(ckpt["config"]["model"]) >= {"vocab_size", "d_model", "n_layers", "n_heads"}
    model, tok = load_model(path)
    assert isinstance(model, MiniBERT if name == "bert" else MiniGPT) and not model.training
    assert model.config.d_model == ckpt["config"]["model"]["d_model"]
    if name == "bert":  # an output of the shipped weights, not only their shapes
        assert fill_mask(model, tok, "She [MASK] her coffee.")[0][0] == "drank"
    else:
        assert generate(model, tok, "She drank her", greedy=True).split()[3] in (
            "coffee", "tea", "milk", "juice", "water", "lemonade")


def test_shipped_mini_clip_loads_through_the_one_loader_and_still_classifies():
    """clip_shapes.pt was converted from the earlier layout (recipes.clip.convert_legacy_checkpoint);
    before the conversion the old code measured zero-shot shape accuracy 0.495 on these 200 test
    images (0.521 on the record's 1,000)."""
    from sslcourse.data.shapes import SHAPES
    from sslcourse.methods.clip import CLIPConfig, MiniCLIP
    from sslcourse.pretext.registry import load_images
    from sslcourse.tokenizer import Tokenizer
    from sslcourse import zeroshot

    path = CHECKPOINT_DIR / "clip_shapes.pt"
    ckpt = checkpoint.read(path)
    assert ckpt["format"] == checkpoint.FORMAT and ckpt["method"] == "clip"
    assert set(ckpt["config"]["clip"]) <= set(CLIPConfig.__dataclass_fields__), "the model's config only"
    model, tok = load_model(path)
    assert isinstance(model, MiniCLIP) and isinstance(tok, Tokenizer) and not model.training
    test = load_images("shapes", "test", 200, image_size=32, seed=0)
    classifier = zeroshot.zero_shot_classifier(model, tok, SHAPES, zeroshot.SHAPE_TEMPLATES)
    acc = zeroshot.zero_shot_accuracy(zeroshot.embed_images(model, test.images), test.labels, classifier)
    assert abs(acc - 0.495) <= 0.01, acc


def test_every_command_name_has_a_recipe_with_main_and_load_model():
    for name in RECIPES:
        module = recipe(name)
        assert name in module.NAMES and callable(module.main) and callable(module.load_model), name
    with pytest.raises(ValueError, match="unknown method"):
        recipe("moco")


def test_save_and_read_round_trip_and_clear_errors(tmp_path):
    net = torch.nn.Linear(3, 2)
    path = checkpoint.save(tmp_path / "a.pt", method="demo", config={"width": 3}, model=net.state_dict(), extra=[1])
    ckpt = checkpoint.read(path)
    assert ckpt["method"] == "demo" and ckpt["config"] == {"width": 3} and ckpt["extra"] == [1]
    assert torch.equal(ckpt["model"]["weight"], net.weight)
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, nothing left behind
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint at"):
        checkpoint.read(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a zip")
    with pytest.raises(checkpoint.CheckpointError, match="truncated or corrupted"):
        checkpoint.read(tmp_path / "bad.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(checkpoint.CheckpointError, match="not an sslcourse checkpoint"):
        checkpoint.read(tmp_path / "foreign.pt")
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION + 1}, tmp_path / "new.pt")
    with pytest.raises(checkpoint.CheckpointError, match="upgrade sslcourse"):
        checkpoint.read(tmp_path / "new.pt")
    with pytest.raises(checkpoint.CheckpointError, match="no recipe loads"):
        load_model(path)  # "demo" is nobody's method


def test_int8_weights_round_trip_within_half_a_step_per_row(tmp_path):
    torch.manual_seed(0)
    conv, norm = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        conv.weight[1].zero_()                      # a dead filter: scale 1, stored as zeros
        conv.weight[2].mul_(1000)                   # rows far apart in size get their own scales
    state = {**{f"conv.{k}": v for k, v in conv.state_dict().items()},
             **{f"norm.{k}": v for k, v in norm.state_dict().items()}}
    path = checkpoint.save(tmp_path / "q.pt", method="demo", config={}, model=state, int8=True)
    raw = torch.load(path, weights_only=True)
    assert raw["version"] == 3 and raw["model"]["conv.weight"].dtype == torch.int8
    assert set(raw["int8_scales"]) == {"conv.weight"}            # vectors and integer buffers stay as they are
    q = raw["model"]["conv.weight"].int()
    assert q.abs().max() <= 127 and torch.equal(q.flatten(1).abs().amax(1), torch.tensor([127, 0, 127, 127]))
    back = checkpoint.read(path)["model"]
    step = conv.weight.abs().flatten(1).amax(1) / 127                              # s_i of each row
    err = (back["conv.weight"] - conv.weight).abs().flatten(1).amax(1)
    assert back["conv.weight"].dtype == torch.float32 and torch.all(err <= step / 2 + 1e-6), (err, step)
    assert torch.equal(back["conv.weight"][1], torch.zeros(3, 3, 3))
    assert torch.equal(back["conv.bias"], conv.bias) and torch.equal(back["norm.num_batches_tracked"],
                                                                      norm.num_batches_tracked)
    with pytest.raises(checkpoint.CheckpointError, match="int8 scales for weights"):
        checkpoint.dequantize_int8({}, raw["int8_scales"])
    # a version-2 file (float weights, no scales) still reads
    torch.save({"format": checkpoint.FORMAT, "version": 2, "method": "demo", "config": {}, "model": state},
               tmp_path / "v2.pt")
    assert torch.equal(checkpoint.read(tmp_path / "v2.pt")["model"]["conv.weight"], conv.weight)


def test_fit_writes_method_and_config_into_its_checkpoint(tmp_path):
    model = _Regression(torch.nn.Linear(4, 1))
    fit(model, TensorBatches(torch.randn(32, 4), batch_size=8), steps=3, device="cpu", progress=False,
        checkpoint=tmp_path / "run.pt", method="regression", config={"in": 4})
    ckpt = checkpoint.read(tmp_path / "run.pt")
    assert ckpt["method"] == "regression" and ckpt["config"] == {"in": 4} and ckpt["step"] == 3
    assert torch.equal(ckpt["model"]["net.weight"], model.net.weight)


class _Regression(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net(x) - x.sum(1, keepdim=True)).pow(2).mean()


def test_tensor_batches_split_every_global_batch_over_processes():
    x = torch.arange(40)
    one = list(TensorBatches(x, batch_size=8, seed=3))
    parts = [list(TensorBatches(x, batch_size=8, seed=3, rank=r, world=4)) for r in range(4)]
    assert all(len(p) == len(one) for p in parts)
    for i, batch in enumerate(one):  # the 4 slices of step i, in rank order, are the global batch
        assert torch.equal(torch.cat([p[i] for p in parts]), batch)
    with pytest.raises(ValueError, match="split evenly"):
        TensorBatches(x, batch_size=6, world=4)
