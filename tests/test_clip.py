"""CLIP loss, mini-CLIP model, captions through the course's Tokenizer, the run config, the conversion
of earlier checkpoints, zero-shot classifier, retrieval and a short training run."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sslcourse.losses.clip import clip_logits, clip_loss
from sslcourse import checkpoint, zeroshot
from sslcourse.data.shapes import CAPTION_TEMPLATES, make_captioned_shapes
from sslcourse.methods.clip import (LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, BagOfWords, CLIPConfig, CLIPObjective, MiniCLIP,
                                   TextTransformer, build_clip)
from sslcourse.recipes.clip import CLIPRunConfig, convert_legacy_checkpoint, default_tokenizer, load_model, train_clip
from sslcourse.tokenizer import Tokenizer


def _reference_clip_loss(img: torch.Tensor, txt: torch.Tensor, scale: float) -> torch.Tensor:
    """Written out one row and one column at a time, in float64: -log softmax of the diagonal."""
    img = img.double() / img.double().norm(dim=1, keepdim=True)
    txt = txt.double() / txt.double().norm(dim=1, keepdim=True)
    n = len(img)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        row = torch.stack([scale * (img[i] * txt[j]).sum() for j in range(n)])  # image i vs all captions
        col = torch.stack([scale * (img[j] * txt[i]).sum() for j in range(n)])  # caption i vs all images
        total += -(row[i] - torch.log(torch.exp(row).sum())) - (col[i] - torch.log(torch.exp(col).sum()))
    return total / (2 * n)


def test_clip_loss_matches_an_independent_computation():
    g = torch.Generator().manual_seed(0)
    for n, d, scale in ((2, 3, 1.0), (7, 5, 14.3), (16, 32, 100.0)):
        img, txt = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) * 3
        got = clip_loss(img, txt, scale)
        assert torch.allclose(got.double(), _reference_clip_loss(img, txt, scale), rtol=1e-5, atol=1e-5)
        # and against PyTorch's own cross-entropy on the normalised similarity matrix
        logits = scale * F.normalize(img, dim=1) @ F.normalize(txt, dim=1).T
        y = torch.arange(n)
        assert torch.allclose(got, (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2, atol=1e-6)
        assert torch.allclose(clip_logits(img, txt, scale), logits, atol=1e-5)


def test_clip_loss_is_symmetric_and_scale_invariant_in_the_norms():
    g = torch.Generator().manual_seed(1)
    img, txt = torch.randn(12, 8, generator=g), torch.randn(12, 8, generator=g)
    assert torch.allclose(clip_loss(img, txt, 10.0), clip_loss(txt, img, 10.0), atol=1e-6)
    assert torch.allclose(clip_loss(img * 5, txt * 0.1, 10.0), clip_loss(img, txt, 10.0), atol=1e-5)
    # permuting the pairs together changes nothing
    p = torch.randperm(12, generator=g)
    assert torch.allclose(clip_loss(img[p], txt[p], 10.0), clip_loss(img, txt, 10.0), atol=1e-5)


def test_clip_loss_limits_and_gradient_to_the_scale():
    n = 6
    same = torch.ones(n, 4)
    assert math.isclose(float(clip_loss(same, same, 50.0)), math.log(n), rel_tol=1e-5)  # all similar: log N
    eye = torch.eye(n)
    assert float(clip_loss(eye, eye, 100.0)) < 1e-20 + 1e-6  # perfect, confident matching: ~0
    t = torch.tensor(LOGIT_SCALE_INIT, requires_grad=True)
    g = torch.Generator().manual_seed(2)
    clip_loss(torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g), t.exp()).backward()
    assert t.grad is not None and torch.isfinite(t.grad)


def test_clip_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="equal shape"):
        clip_loss(torch.randn(4, 3), torch.randn(5, 3), 1.0)
    with pytest.raises(ValueError, match="positive"):
        clip_loss(torch.randn(4, 3), torch.randn(4, 3), -1.0)


def _tiny_model(text_tower: str = "transformer") -> tuple[MiniCLIP, Tokenizer]:
    tok = default_tokenizer("shapes")
    torch.manual_seed(0)
    return build_clip(CLIPConfig(image_width=4, text_width=16, text_tower=text_tower, embed_dim=8), len(tok)), tok


def test_logit_scale_starts_at_1_over_0_07_and_clamps_at_100():
    model, tok = _tiny_model()
    assert math.isclose(model.logit_scale.item(), math.log(1 / 0.07), rel_tol=1e-6)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert math.isclose(model.scale().item(), 100.0, rel_tol=1e-5)  # clamped in the forward pass
    ids, mask = tok.encode_batch(["a red circle", "a blue square"])
    _, _, scale = model(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), ids, mask)
    assert math.isclose(float(scale), 100.0, rel_tol=1e-5)
    CLIPObjective(model).after_step(1, 10)  # and the parameter itself after each step
    assert math.isclose(model.logit_scale.item(), LOGIT_SCALE_MAX, rel_tol=1e-6)
    with torch.no_grad():
        model.logit_scale.fill_(-3.0)
    model.clamp_logit_scale()
    assert model.logit_scale.item() == 0.0


def test_forward_returns_unit_embeddings_and_the_objective_trains_the_scale():
    model, tok = _tiny_model()
    ids, mask = tok.encode_batch(["a red circle", "a photo of a small blue square on a green background", "a star"])
    imgs = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    zi, zt, s = model(imgs, ids, mask)
    assert zi.shape == zt.shape == (3, 8)
    assert torch.allclose(zi.norm(dim=1), torch.ones(3), atol=1e-5) and torch.allclose(zt.norm(dim=1), torch.ones(3))
    out = CLIPObjective(model)((imgs, ids, mask))
    out["loss"].backward()
    assert model.logit_scale.grad is not None and model.image_projection.weight.grad is not None


def test_captions_are_encoded_by_the_course_tokenizer():
    tok = Tokenizer(["a", "red", "circle"])  # ids: [PAD] 0, [CLS] 1, [SEP] 2, [MASK] 3, [UNK] 4, a 5, red 6, circle 7
    ids, mask = tok.encode_batch(["A red circle!", "a zebra"])
    assert ids.dtype == torch.int64 and mask.dtype == torch.bool
    assert ids.tolist() == [[1, 5, 6, 7, 4], [1, 5, 4, 0, 0]]  # [CLS] first, "!" and "zebra" -> [UNK], [PAD] after
    assert mask.tolist() == [[True] * 5, [True, True, True, False, False]]
    assert tok.decode(ids[0].tolist(), skip_special=True) == "a red circle [UNK]"
    assert tok.encode_batch(["a a a a a a"], max_len=3)[0].tolist() == [[1, 5, 5]]  # cut at max_len, [CLS] included
    assert tok.encode_batch("red circle", add_cls=False)[0].tolist() == [[6, 7]]  # one string = a batch of one
    assert Tokenizer.from_dict(tok.to_dict()) == tok


def test_caption_vocabulary_has_every_word_and_the_comma_of_the_shapes_world():
    tok = default_tokenizer("shapes")
    # punctuation is a token, as everywhere in the course: the template "a {colour} {shape} , {size}"
    assert any("," in t for t in CAPTION_TEMPLATES)
    ids, _ = tok.encode_batch(["a red circle , small"])
    assert tok.convert_ids_to_tokens(ids[0]) == ["[CLS]", "a", "red", "circle", ",", "small"]
    world = make_captioned_shapes(300, seed=0)
    prompts = [zeroshot.fill(t, "orange circle") for t in (*zeroshot.SHAPE_TEMPLATES, *zeroshot.COMPOSITION_TEMPLATES)]
    ids, mask = tok.encode_batch(list(world.captions) + prompts)
    assert not (ids == tok.unk_id).any() and mask[:, 0].all() and ids.shape[1] <= 16


def test_run_config_keeps_the_model_config_apart():
    cfg = CLIPRunConfig().replace(steps=3, text_tower="bow", image_width=4)
    assert cfg.steps == 3 and cfg.model == CLIPConfig(text_tower="bow", image_width=4)
    assert CLIPRunConfig().model == CLIPConfig() and "steps" not in cfg.model.__dataclass_fields__
    assert cfg.run_settings()["steps"] == 3 and "model" not in cfg.run_settings()
    assert cfg.replace(model={"embed_dim": 8}).model == CLIPConfig(embed_dim=8)
    with pytest.raises(TypeError, match="unknown mini-CLIP setting"):
        CLIPRunConfig().replace(stepz=3)


def test_a_checkpoint_of_the_earlier_layout_converts_to_the_same_text_embeddings(tmp_path):
    # the earlier layout: its own vocabulary ([PAD] 0, [UNK] 1, [CLS] 2, then words) and the run's
    # settings inside config["clip"]
    legacy = ["[PAD]", "[UNK]", "[CLS]", "red", "circle", "a"]
    torch.manual_seed(0)
    old_cfg = {"image_width": 4, "text_width": 16, "embed_dim": 8}
    model = build_clip(CLIPConfig(**old_cfg), len(legacy)).eval()
    old_file = tmp_path / "old.pt"
    checkpoint.save(old_file, method="clip", config={"clip": {**old_cfg, "steps": 5, "dataset": "shapes", "lr": 0.1}},
                    model=model.state_dict(), tokenizer={"itos": legacy}, history=[{"step": 5, "loss": 1.0}])
    with pytest.raises(checkpoint.CheckpointError, match="convert_legacy_checkpoint"):
        load_model(old_file)
    with torch.no_grad():  # "a red circle" in the old ids: [CLS] a red circle
        before = model.encode_text(torch.tensor([[2, 5, 3, 4]]), torch.ones(1, 4, dtype=torch.bool))
    convert_legacy_checkpoint(old_file, tmp_path / "new.pt")
    new, tok = load_model(tmp_path / "new.pt")
    assert tok == default_tokenizer("shapes")
    ck = checkpoint.read(tmp_path / "new.pt")
    assert ck["config"]["clip"] == old_cfg and ck["run"] == {"steps": 5, "dataset": "shapes", "lr": 0.1}
    assert ck["history"] == [{"step": 5, "loss": 1.0}]
    with torch.no_grad():
        ids, mask = tok.encode_batch(["a red circle"])
        assert torch.allclose(new.encode_text(ids, mask), before, atol=1e-6)
        rows = new.text_encoder.token_embedding.weight
        old_rows = model.text_encoder.token_embedding.weight
        assert torch.equal(rows[tok.stoi["red"]], old_rows[3]) and torch.equal(rows[tok.cls_id], old_rows[2])
        for never_seen in ("[SEP]", "[MASK]", ",", "star"):  # tokens the old vocabulary lacked: zero rows
            assert not rows[tok.stoi[never_seen]].any()


def test_text_towers_word_order_and_padding():
    tok = default_tokenizer("shapes")
    a, b = "a red circle on a blue background", "a blue circle on a red background"
    torch.manual_seed(0)
    bow, tr = BagOfWords(len(tok), 16).eval(), TextTransformer(len(tok), 16, 1, 2).eval()
    ids, mask = tok.encode_batch([a, b])
    with torch.no_grad():
        assert torch.allclose(bow(ids, mask)[0], bow(ids, mask)[1], atol=1e-6)  # order is lost
        assert not torch.allclose(tr(ids, mask)[0], tr(ids, mask)[1], atol=1e-4)  # order matters
        # padding does not change a caption's embedding
        short, _ = tok.encode_batch(["a star"]), None
        both = tok.encode_batch(["a star", "a photo of a small star on a red background"])
        for tower in (bow, tr):
            assert torch.allclose(tower(*short)[0], tower(*both)[0], atol=1e-5)


class _LookupModel(torch.nn.Module):
    """A stand-in CLIP whose text embedding is the sum of fixed random word vectors."""

    def __init__(self, vocab: int, dim: int = 6) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, dim)

    def encode_text(self, ids, mask):
        return (self.emb(ids) * mask[..., None]).sum(1)


def test_zero_shot_classifier_averages_normalised_prompt_embeddings():
    tok = default_tokenizer("shapes")
    torch.manual_seed(0)
    m = _LookupModel(len(tok))
    names, templates = ["circle", "orange square"], ["a photo of a {}", "a {}", "a drawing of a {}"]
    clf = zeroshot.zero_shot_classifier(m, tok, names, templates)
    assert clf.shape == (2, 6) and torch.allclose(clf.norm(dim=1), torch.ones(2), atol=1e-6)
    for c, name in enumerate(names):
        vecs = []
        for t in templates:
            text = t.format(name).replace("a orange", "an orange")
            ids, mask = tok.encode_batch([text])
            vecs.append(F.normalize(m.encode_text(ids, mask), dim=1)[0])
        expect = F.normalize(torch.stack(vecs).mean(0), dim=0)
        assert torch.allclose(clf[c], expect.detach(), atol=1e-5)
    # prediction: the class with the most similar text
    imgs = torch.stack([clf[1] * 2, clf[0] + 0.01 * clf[1]])
    assert zeroshot.zero_shot_predict(imgs, clf).tolist() == [1, 0]
    assert zeroshot.zero_shot_accuracy(imgs, torch.tensor([1, 1]), clf) == 0.5


def test_retrieval_recall_small_cases():
    e = torch.eye(5)
    r = zeroshot.retrieval_recall(e, e, ks=(1, 5))
    assert all(v == 1.0 for v in r.values())
    # captions 0 and 1 mostly swapped: those two images miss at @1 and hit at @2
    t = e[[1, 0, 2, 3, 4]] + 0.5 * e
    r = zeroshot.retrieval_recall(e, t, ks=(1, 2))
    assert r["image_to_text@1"] == r["text_to_image@1"] == pytest.approx(0.6)
    assert r["image_to_text@2"] == 1.0
    # identical captions count as hits when grouped
    r = zeroshot.retrieval_recall(e, t, ks=(1,), groups=["x", "x", "a", "b", "c"])
    assert r["image_to_text@1"] == 1.0


def test_captioned_cifar10_or_skip():
    from sslcourse.data import find_shared_data

    if find_shared_data("cifar10-jpeg") is None:
        pytest.skip("no local CIFAR-10 copy")
    try:
        ds = zeroshot.captioned_cifar10("test", subset=20)
    except FileNotFoundError as err:  # pragma: no cover - depends on the machine
        pytest.skip(str(err))
    assert len(ds.captions) == 20 and all(ds.classes[y] in c for y, c in zip(ds.labels.tolist(), ds.captions))


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: one thread is fastest on shared cores
    try:
        run = train_clip(CLIPRunConfig(n_train=2048, steps=300, batch_size=64, progress=False, device="cpu", seed=0))
        metrics = zeroshot.evaluate(run.model, run.tokenizer, n_test=800, n_fewshot_pool=400, few_shot_ks=(4,), seed=0)
    finally:
        torch.set_num_threads(threads)
    return run, metrics


def test_mini_clip_learns_zero_shot_shape_and_colour(trained):
    _, m = trained
    assert m["zero_shot_colour_ensemble"] > 0.5, m  # chance 0.125
    assert m["zero_shot_shape_ensemble"] > 0.18, m  # chance 0.125 (measured 0.24 at this seed)
    assert m["image_to_text@5"] > m["image_to_text@1"] > 0.02, m


def test_mini_clip_is_above_chance_on_heldout_compositions(trained):
    _, m = trained
    assert m["heldout_pair_of_64"] > 3 / 64, m  # chance 1/64


def test_prompt_ensembling_does_not_lose_to_one_prompt(trained):
    _, m = trained
    # 800 test images: a difference of 0.02 is within one standard error
    assert m["zero_shot_shape_ensemble"] >= m["zero_shot_shape_single"] - 0.02, m
    assert m["zero_shot_colour_ensemble"] >= m["zero_shot_colour_single"] - 0.02, m


def test_clip_recipe_writes_checkpoint_and_metrics(tmp_path, capsys):
    import json

    from sslcourse.checkpoint import read
    from sslcourse.recipes.clip import main

    out = tmp_path / "clip.pt"
    argv = ["--steps", "2", "--n-train", "64", "--batch-size", "32", "--image-width", "4", "--n-test", "64",
            "--n-pool", "64", "--device", "cpu", "--no-progress", "--out", str(out)]
    assert main("clip", argv) == 0
    metrics = json.loads(out.with_suffix(".json").read_text())
    assert 0.0 <= metrics["zero_shot_shape_ensemble"] <= 1.0 and "few_shot_shape" in metrics
    model, tok = load_model(out)
    ck = read(out)
    cfg, run = CLIPConfig(**ck["config"]["clip"]), ck["run"]  # the model's config; the run's settings beside it
    assert run["steps"] == 2 and run["n_train"] == 64 and cfg.image_width == 4
    assert tok == default_tokenizer("shapes") and tok.vocab_size == model.text_encoder.token_embedding.num_embeddings
    # the reloaded model is the trained one: the same zero-shot number again
    again = zeroshot.evaluate(model, tok, n_test=64, n_fewshot_pool=64, seed=run["seed"], image_size=cfg.image_size)
    assert again["zero_shot_shape_ensemble"] == metrics["zero_shot_shape_ensemble"]
    assert (tmp_path / "clip.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="clip"):
        main("simclr", [])


def test_retrieval_recall_ranks_distinct_captions_when_grouped():
    # 3 images; captions 0 and 1 are the same text ("x"); image 2's nearest captions are 0 and 1 (the
    # duplicate), its own caption 2 comes third among captions but second among distinct captions
    img = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    txt = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    txt[2] = torch.tensor([-0.3, 1.0])
    strict = zeroshot.retrieval_recall(img, txt, ks=(2,))
    grouped = zeroshot.retrieval_recall(img, txt, ks=(2,), groups=["x", "x", "y"])
    assert grouped["image_to_text@2"] == 1.0
    assert strict["image_to_text@2"] == pytest.approx(2 / 3)
