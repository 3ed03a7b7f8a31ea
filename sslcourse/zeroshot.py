"""Using a joint image-text embedding: zero-shot classification, retrieval, few-shot probes.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision" (CLIP),
2021, https://arxiv.org/abs/2103.00020, sections 3.1.4 (prompt engineering and ensembling) and
3.2 (few-shot linear probes against zero-shot).

Lecture notation -> code words:
    "a photo of a [class]"          a prompt template, ``"a photo of a {}"``
    e_c, the text embedding         ``zero_shot_classifier``: one unit vector per class; with several
      of class c                    templates, the mean of their normalised text embeddings,
                                    renormalised (prompt ensembling)
    argmax_c cos(f(x), e_c)         ``zero_shot_predict``: the class whose text is closest to the image
    recall@k                        ``retrieval_recall``: is the true partner among the k nearest?
    few-shot                        ``few_shot_curve``: a linear probe on the frozen image embeddings
                                    with k labelled images per class

Zero-shot means that no labelled image of the task was ever used: the classifier's weights come
from the text tower. The shapes world (``sslcourse.data.shapes``) adds held-out compositions:
colour-shape pairs that never occur in training, named correctly only if the embedding composes
"yellow" and "circle".
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.data import CIFAR10_CLASSES
from sslcourse.data.captions import CIFAR_CAPTION_TEMPLATES, CaptionedImages, captioned_cifar10, fill
from sslcourse.data.shapes import CAPTION_TEMPLATES, COLOURS, HELDOUT_COMBOS, SHAPES, SIZES, make_captioned_shapes
from sslcourse.evaluate import linear_probe, per_class_subset
from sslcourse.tokenizer import Tokenizer

__all__ = ["SHAPE_TEMPLATES", "COLOUR_TEMPLATES", "COMPOSITION_TEMPLATES", "CIFAR_CAPTION_TEMPLATES",
           "CIFAR_PROMPT_TEMPLATES", "SINGLE_PROMPT", "vocabulary", "embed_images", "embed_texts",
           "zero_shot_classifier", "zero_shot_predict", "zero_shot_accuracy", "retrieval_recall",
           "few_shot_curve", "fill", "CaptionedImages", "captioned_cifar10", "evaluate"]

SINGLE_PROMPT = "a photo of a {}"  # CLIP's default prompt
# Prompt ensembles for the shapes world (CLIP used 80 templates for ImageNet).
SHAPE_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}", "a {}", "a drawing of a {}", "a picture of a small {}", "a large {}",
    "a photo of a small {}",
)
COLOUR_TEMPLATES: tuple[str, ...] = (
    "a photo of a {} shape", "something {}", "a {} shape", "a {} object", "a photo of a {} object",
)
COMPOSITION_TEMPLATES: tuple[str, ...] = ("a photo of a {}", "a {}", "a drawing of a {}", "a small {}", "a large {}")
# CIFAR-10 with templated captions: the training captions (CIFAR_CAPTION_TEMPLATES, in
# sslcourse.data.captions) and, different from them, the zero-shot prompts.
CIFAR_PROMPT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}", "a blurry photo of the {}", "a low resolution photo of the {}", "a good photo of a {}",
    "a photo of the {}",
)


def vocabulary(dataset: str = "shapes") -> list[str]:
    """Texts that hold every word the dataset's captions and prompts can use (for the tokenizer).

    Template slots are blanked, punctuation is kept: ``"a {colour} {shape} , {size}"`` gives
    ``"a   ,  "``, so the comma, a token of ``Tokenizer``, is in the vocabulary too.
    """
    strip = lambda t: re.sub(r"\{[a-z]*\}", " ", t)  # noqa: E731 - drop the template slots
    if dataset == "shapes":
        templates = (*CAPTION_TEMPLATES, *SHAPE_TEMPLATES, *COLOUR_TEMPLATES, *COMPOSITION_TEMPLATES)
        return [*SHAPES, *COLOURS, *SIZES, "an", *(strip(t) for t in templates)]
    if dataset == "cifar10":
        return [*CIFAR10_CLASSES, "an", *(strip(t) for t in (*CIFAR_CAPTION_TEMPLATES, *CIFAR_PROMPT_TEMPLATES))]
    raise ValueError(f"no caption vocabulary for dataset {dataset!r}; use 'shapes' or 'cifar10'.")


# ----------------------------------------------------------------------------- embeddings


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def embed_images(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Unit image embeddings of a frozen model (eval mode, mode restored). ``(N, 3, H, W)`` -> ``(N, e)``."""
    was_training = model.training
    model.eval()
    try:
        dev = _device(model)
        out = [model.encode_image(images[i:i + batch_size].to(dev)) for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return F.normalize(torch.cat(out).float(), dim=-1)  # (N, e)


@torch.no_grad()
def embed_texts(model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int = 1024) -> torch.Tensor:
    """Unit text embeddings of a frozen model. N strings -> ``(N, e)`` (``tokenizer.encode_batch``: [CLS] first)."""
    was_training = model.training
    model.eval()
    try:
        dev, out = _device(model), []
        for i in range(0, len(texts), batch_size):
            ids, mask = tokenizer.encode_batch(list(texts[i:i + batch_size]))  # (b, T), (b, T)
            out.append(model.encode_text(ids.to(dev), mask.to(dev)))
    finally:
        model.train(was_training)
    return F.normalize(torch.cat(out).float(), dim=-1)  # (N, e)


# ----------------------------------------------------------------------------- zero-shot


@torch.no_grad()
def zero_shot_classifier(model: nn.Module, tokenizer: Tokenizer, class_names: Sequence[str],
                         templates: Sequence[str] = (SINGLE_PROMPT,)) -> torch.Tensor:
    """Class weights from text alone: one unit vector per class, averaged over prompt templates.

    For class c, every template is filled with the class name ("a photo of a circle", "a drawing
    of a circle", ...), embedded and L2-normalised; the mean of these unit vectors, normalised
    again, is e_c (CLIP's prompt ensembling: the average is taken in the embedding space).

    Args:
        model: has ``encode_text(ids, mask)``.
        tokenizer: the model's ``Tokenizer`` (``encode_batch(texts) -> (ids, mask)``).
        class_names: C names.
        templates: P format strings with one ``{}``.

    Returns:
        ``(C, e)`` unit rows.
    """
    if not class_names or not templates:
        raise ValueError("zero_shot_classifier needs at least one class name and one template.")
    texts = [fill(t, c) for c in class_names for t in templates]  # C * P prompts, class-major
    e = embed_texts(model, tokenizer, texts)  # (C * P, e), unit rows
    e = e.view(len(class_names), len(templates), -1).mean(1)  # (C, e): prompt ensemble
    return F.normalize(e, dim=-1)  # (C, e)


def zero_shot_predict(image_emb: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
    """argmax_c cos(image, e_c). ``(N, e)``, ``(C, e)`` -> ``(N,)`` class indices."""
    return (F.normalize(image_emb, dim=-1) @ classifier.to(image_emb.device).T).argmax(1)  # (N,)


def zero_shot_accuracy(image_emb: torch.Tensor, labels: torch.Tensor, classifier: torch.Tensor) -> float:
    """Fraction of images whose nearest class text is their label."""
    return float((zero_shot_predict(image_emb, classifier).cpu() == labels.cpu()).float().mean())


# ----------------------------------------------------------------------------- retrieval


@torch.no_grad()
def retrieval_recall(image_emb: torch.Tensor, text_emb: torch.Tensor, ks: Iterable[int] = (1, 5),
                     groups: Sequence | torch.Tensor | None = None) -> dict[str, float]:
    """Recall@k in both directions for N paired embeddings (row i of each is a pair).

    image->text recall@k: the fraction of images whose caption is among the k captions most
    cosine-similar to the image; text->image likewise for captions. With ``groups`` (e.g. the
    caption strings), identical captions ("a photo of a circle") count as one: image->text ranks
    the distinct groups (a group scores its best member), and text->image counts any image whose
    caption is in the query's group as a hit (identical captions cannot tell their images apart).

    Args:
        image_emb, text_emb: ``(N, e)``.
        ks: the k values.
        groups: N hashable labels or an ``(N,)`` tensor; None = only the true partner counts.

    Returns:
        ``{"image_to_text@1": ..., "text_to_image@1": ..., ...}`` for every k.
    """
    if image_emb.shape != text_emb.shape or image_emb.ndim != 2:
        raise ValueError(f"retrieval_recall needs paired (N, e) embeddings, got {tuple(image_emb.shape)} "
                         f"and {tuple(text_emb.shape)}.")
    n = len(image_emb)
    sim = F.normalize(image_emb.float(), dim=-1) @ F.normalize(text_emb.float(), dim=-1).T  # (N, N)
    if groups is None:
        g = torch.arange(n)
    elif isinstance(groups, torch.Tensor):
        g = groups.cpu()
    else:
        index: dict = {}
        g = torch.tensor([index.setdefault(x, len(index)) for x in groups])
    g = torch.unique(g.to(sim.device), return_inverse=True)[1]  # (N,) group ids 0..G-1
    n_groups = int(g.max()) + 1
    # image -> text ranks distinct captions: the best similarity within each group of captions
    sim_groups = torch.full((n, n_groups), float("-inf"), device=sim.device, dtype=sim.dtype)
    sim_groups = sim_groups.scatter_reduce(1, g.expand(n, n), sim, reduce="amax")  # (N, G)
    out = {}
    for k in ks:
        top_t = sim_groups.topk(min(int(k), n_groups), dim=1).indices  # (N, k): caption groups nearest to each image
        top_i = sim.T.topk(min(int(k), n), dim=1).indices  # (N, k): images nearest to each caption
        out[f"image_to_text@{k}"] = float((top_t == g[:, None]).any(1).float().mean())
        out[f"text_to_image@{k}"] = float((g[top_i] == g[:, None]).any(1).float().mean())
    return out


# ----------------------------------------------------------------------------- few-shot


def few_shot_curve(train_emb: torch.Tensor, train_labels: torch.Tensor, test_emb: torch.Tensor,
                   test_labels: torch.Tensor, ks: Iterable[int] = (1, 2, 4, 8, 16), repeats: int = 3,
                   seed: int = 0) -> dict[int, float]:
    """Linear probe on frozen embeddings with k labelled images per class, averaged over draws.

    Uses ``sslcourse.evaluate.linear_probe`` on ``per_class_subset(train_labels, k)`` for
    ``repeats`` seeds (one labelled image per class is a noisy estimate).

    Returns:
        ``{k: mean accuracy}``.
    """
    result = {}
    for k in ks:
        accs = []
        for r in range(repeats):
            idx = per_class_subset(train_labels, int(k), seed=seed + r)
            accs.append(linear_probe(train_emb[idx], train_labels[idx], test_emb, test_labels, seed=seed + r))
        result[int(k)] = sum(accs) / len(accs)
    return result


# ----------------------------------------------------------------------------- one report


def evaluate(model: nn.Module, tokenizer: Tokenizer, dataset: str = "shapes", n_test: int = 1000, n_fewshot_pool: int = 2000,
             seed: int = 0, image_size: int = 32, few_shot_ks: Iterable[int] = (1, 2, 4, 8, 16)) -> dict:
    """Zero-shot (one prompt and the ensemble), held-out compositions, retrieval and few-shot of a model.

    On ``"shapes"``: shape and colour zero-shot on the test split; on the held-out split the
    shape accuracy, the colour-shape accuracy among all 64 pairs (chance 1/64) and among the 8
    held-out pairs (chance 1/8); recall@1/5 on test captions (identical captions count as hits);
    the few-shot curve of a linear probe on image embeddings of the train split.
    On ``"cifar10"``: class zero-shot, retrieval and few-shot on the CIFAR-10 test set.
    """
    out: dict = {}
    if dataset == "shapes":
        test = make_captioned_shapes(n_test, seed=seed, image_size=image_size, split="test")
        held = make_captioned_shapes(n_test, seed=seed, image_size=image_size, split="heldout")
        pool = make_captioned_shapes(n_fewshot_pool, seed=seed + 1, image_size=image_size, split="train")
        z_test, z_held, z_pool = (embed_images(model, w.images) for w in (test, held, pool))
        for task, names, labels, templates in (("shape", SHAPES, test.shape, SHAPE_TEMPLATES),
                                               ("colour", COLOURS, test.colour, COLOUR_TEMPLATES)):
            single = zero_shot_classifier(model, tokenizer, names, (templates[0],))
            ens = zero_shot_classifier(model, tokenizer, names, templates)
            out[f"zero_shot_{task}_single"] = zero_shot_accuracy(z_test, labels, single)
            out[f"zero_shot_{task}_ensemble"] = zero_shot_accuracy(z_test, labels, ens)
        shape_clf = zero_shot_classifier(model, tokenizer, SHAPES, SHAPE_TEMPLATES)
        out["heldout_shape"] = zero_shot_accuracy(z_held, held.shape, shape_clf)
        out["seen_shape"] = out["zero_shot_shape_ensemble"]
        pairs = [(s, c) for s in range(len(SHAPES)) for c in range(len(COLOURS))]
        pair_clf = zero_shot_classifier(model, tokenizer, [f"{COLOURS[c]} {SHAPES[s]}" for s, c in pairs],
                                        COMPOSITION_TEMPLATES)
        label_all = held.shape * len(COLOURS) + held.colour  # index into pairs
        out["heldout_pair_of_64"] = zero_shot_accuracy(z_held, label_all, pair_clf)
        test_pair = test.shape * len(COLOURS) + test.colour
        out["seen_pair_of_64"] = zero_shot_accuracy(z_test, test_pair, pair_clf)
        held_rows = torch.tensor([s * len(COLOURS) + c for s, c in HELDOUT_COMBOS])
        remap = {int(r): i for i, r in enumerate(held_rows)}
        out["heldout_pair_of_8"] = zero_shot_accuracy(z_held, torch.tensor([remap[int(v)] for v in label_all]),
                                                      pair_clf[held_rows])
        z_text = embed_texts(model, tokenizer, test.captions)
        out.update(retrieval_recall(z_test, z_text, (1, 5), groups=test.captions))
        out["few_shot_shape"] = few_shot_curve(z_pool, pool.shape, z_test, test.shape, few_shot_ks, seed=seed)
        out["chance_shape"], out["chance_colour"] = 1 / len(SHAPES), 1 / len(COLOURS)
    elif dataset == "cifar10":
        test = captioned_cifar10("test", subset=n_test, seed=seed)
        pool = captioned_cifar10("train", subset=n_fewshot_pool, seed=seed + 1)
        z_test, z_pool = embed_images(model, test.images), embed_images(model, pool.images)
        single = zero_shot_classifier(model, tokenizer, test.classes, (SINGLE_PROMPT,))
        ens = zero_shot_classifier(model, tokenizer, test.classes, CIFAR_PROMPT_TEMPLATES)
        out["zero_shot_class_single"] = zero_shot_accuracy(z_test, test.labels, single)
        out["zero_shot_class_ensemble"] = zero_shot_accuracy(z_test, test.labels, ens)
        out.update(retrieval_recall(z_test, embed_texts(model, tokenizer, test.captions), (1, 5),
                                    groups=test.captions))
        out["few_shot_class"] = few_shot_curve(z_pool, pool.labels, z_test, test.labels, few_shot_ks, seed=seed)
        out["chance_class"] = 1 / len(test.classes)
    else:
        raise ValueError(f"evaluate knows 'shapes' and 'cifar10', not {dataset!r}.")
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
