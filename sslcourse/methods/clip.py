"""mini-CLIP: a joint image-text embedding learned from captioned images, small enough for a CPU.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021,
https://arxiv.org/abs/2103.00020.

Lecture notation -> code words:
    image x, caption t                     a pair ``(images[i], captions[i])``
    f1 for images (the image encoder)      ``MiniCLIP.image_encoder`` (SmallCNN or the ResNet-18)
    f1 for text (the text encoder)         ``MiniCLIP.text_encoder``: ``TextTransformer`` (a small
                                           transformer with a [CLS] token) or the ``BagOfWords``
                                           baseline (word order ignored)
    f2, one per modality (projectors)      ``image_projection`` / ``text_projection``: linear maps
                                           into the joint space (as in CLIP)
    s(e1, e2) = cos(e1, e2) / tau          ``clip_loss``; 1/tau = ``logit_scale.exp()`` is learned,
                                           starts at 1/0.07 and is clamped at 100

Kept apart as in open_clip: the model (``MiniCLIP.forward`` returns both embeddings and the
scale), the loss (``sslcourse.losses.clip.clip_loss``), the objective wrapper that the generic
loop trains (``CLIPObjective``) and the run (``sslcourse.recipes.clip``: ``train_clip``, the
``sslcourse train clip`` command, with the run's settings in ``CLIPRunConfig``).

Captions are token ids from the course's one word tokenizer, ``sslcourse.tokenizer.Tokenizer``
(``encode_batch``: [CLS] first, padded with [PAD] = 0); ``CLIPConfig`` here describes the model
only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sslcourse.losses.clip import clip_logits, clip_loss
from sslcourse.nn import SmallCNN, resnet18_cifar
from sslcourse.transformer import TransformerBlock, padding_mask
from sslcourse.utils import to_float_images

__all__ = ["TextTransformer", "BagOfWords", "MiniCLIP", "CLIPObjective", "CLIPConfig",
           "ContrastChannels", "build_clip", "LOGIT_SCALE_INIT", "LOGIT_SCALE_MAX"]

LOGIT_SCALE_INIT = math.log(1 / 0.07)  # CLIP's initial temperature tau = 0.07
LOGIT_SCALE_MAX = math.log(100.0)  # CLIP clamps 1/tau at 100 "to prevent training instability"


# ----------------------------------------------------------------------------- text towers


class TextTransformer(nn.Module):
    """A small bidirectional transformer over word tokens; the caption is the output at [CLS].

    Token + learned position embeddings -> ``layers`` pre-LN blocks (``sslcourse.transformer``)
    with a padding mask -> LayerNorm -> the vector at position 0 ([CLS]). (CLIP's text tower is a
    causal GPT-style transformer read at the end-of-text token; with 10-word captions the
    difference does not matter.)

    Shape:
        ids, mask ``(B, T)`` -> ``(B, width)``.
    """

    def __init__(self, vocab_size: int, width: int = 64, layers: int = 2, heads: int = 4, max_len: int = 16,
                 dropout: float = 0.0, fast: bool = False) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Parameter(torch.zeros(max_len, width))
        nn.init.normal_(self.position_embedding, std=0.02)
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, dropout, fast) for _ in range(layers))
        self.ln_final = nn.LayerNorm(width)
        self.out_dim, self.max_len = width, max_len

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        if T > self.max_len:
            raise ValueError(f"captions of {T} tokens are longer than the text tower's max_len={self.max_len}; "
                             "encode them with a smaller max_len.")
        x = self.token_embedding(ids) + self.position_embedding[:T]  # (B, T, width)
        attn = padding_mask(mask)  # (B, 1, 1, T): never attend to [PAD]
        for block in self.blocks:
            x = block(x, attn)  # (B, T, width)
        return self.ln_final(x[:, 0])  # (B, width): the [CLS] position


class BagOfWords(nn.Module):
    """The baseline text tower: the mean of the word embeddings (word order is thrown away).

    "a red circle on a blue background" and "a blue circle on a red background" get the same
    embedding: a bag of words cannot bind a colour to the object it describes.

    Shape:
        ids, mask ``(B, T)`` -> ``(B, width)``.
    """

    def __init__(self, vocab_size: int, width: int = 64) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.mlp = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.out_dim = width

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, 1:].unsqueeze(-1).to(self.token_embedding.weight.dtype)  # (B, T-1, 1), [CLS] left out
        e = self.token_embedding(ids[:, 1:])  # (B, T-1, width)
        mean = (e * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, width)
        return self.mlp(mean)  # (B, width)


# ----------------------------------------------------------------------------- the model


class MiniCLIP(nn.Module):
    """Two towers and two linear projections into a joint space, plus the learnable temperature.

    Args:
        image_encoder: images ``(B, 3, H, W)`` in [0, 1] -> ``(B, image_encoder.out_dim)``.
        text_encoder: ``(ids, mask)`` -> ``(B, text_encoder.out_dim)``.
        embed_dim: size of the joint space.
        mean, std: per-channel image normalisation applied inside ``encode_image``.

    ``forward(images, ids, mask)`` returns ``(image_emb, text_emb, logit_scale)``: the two
    L2-normalised embeddings ``(B, embed_dim)`` and the multiplier ``exp(t)`` = 1/tau, with the
    learnable ``t`` (``self.logit_scale``) started at log(1/0.07) and clamped at log(100).
    """

    def __init__(self, image_encoder: nn.Module, text_encoder: nn.Module, embed_dim: int = 64,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.25, 0.25, 0.25)) -> None:
        super().__init__()
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_projection = nn.Linear(image_encoder.out_dim, embed_dim, bias=False)
        self.text_projection = nn.Linear(text_encoder.out_dim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.embed_dim = embed_dim

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Images (uint8 in [0, 255] or float in [0, 1]) ``(B, 3, H, W)`` -> ``(B, embed_dim)``."""
        x = to_float_images(images)
        x = (x - self.mean) / self.std  # (B, 3, H, W)
        z = self.image_projection(self.image_encoder(x))  # (B, embed_dim)
        return F.normalize(z, dim=-1) if normalize else z

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Token ids and mask ``(B, T)`` -> ``(B, embed_dim)``."""
        z = self.text_projection(self.text_encoder(ids, mask))  # (B, embed_dim)
        return F.normalize(z, dim=-1) if normalize else z

    def scale(self) -> torch.Tensor:
        """1/tau = exp(t), with t clamped at log(100) (also in the forward pass, before any optimizer step)."""
        return self.logit_scale.clamp(max=LOGIT_SCALE_MAX).exp()

    def forward(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.encode_image(images), self.encode_text(ids, mask), self.scale()

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """Clamp the parameter t in place to [0, log(100)] (CLIP does this after every step)."""
        self.logit_scale.clamp_(0.0, LOGIT_SCALE_MAX)


class CLIPObjective(nn.Module):
    """What ``sslcourse.train.fit`` trains: a batch ``(images, ids, mask)`` -> ``{"loss", ...}``.

    Reports the loss, the temperature 1/scale and the in-batch image->text top-1 accuracy; after
    each optimizer step it clamps the logit scale (``after_step``).
    """

    def __init__(self, model: MiniCLIP) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor | float]:
        images, ids, mask = batch
        image_emb, text_emb, scale = self.model(images, ids, mask)  # (B, e), (B, e), ()
        loss = clip_loss(image_emb, text_emb, scale)
        with torch.no_grad():
            logits = clip_logits(image_emb, text_emb, scale)  # (B, B)
            acc = (logits.argmax(1) == torch.arange(len(logits), device=logits.device)).float().mean()
        return {"loss": loss, "tau": float(1.0 / scale.detach()), "batch_acc": float(acc)}

    def after_step(self, step: int, steps: int) -> None:
        self.model.clamp_logit_scale()


# ----------------------------------------------------------------------------- configuration


@dataclass
class CLIPConfig:
    """A mini-CLIP's architecture: its two towers and the joint space (``build_clip``).

    How it is trained (data, steps, batch, optimizer, seed) is the run's business:
    ``sslcourse.recipes.clip.CLIPRunConfig``. The CPU defaults are the lecture's model; CLIP's
    own values in comments (ViT-L/14).
    """

    image_size: int = 32  # side of the input images (CLIP ViT-L/14: 224, then 336)
    image_tower: str = "cnn"  # "cnn" (SmallCNN) or "resnet18"
    image_width: int = 16  # SmallCNN width w (out_dim 4w)
    contrast_channels: bool = True  # feed the CNN a contrast-normalised copy too (ContrastChannels)
    text_tower: str = "transformer"  # "transformer" or "bow" (bag of words, the baseline)
    text_width: int = 64  # (CLIP: 768)
    text_layers: int = 2  # (CLIP: 12)
    text_heads: int = 4  # (CLIP: 12)
    fast_attention: bool = False  # text tower: fused F.scaled_dot_product_attention (same numbers, faster)
    embed_dim: int = 64  # joint space (CLIP ViT-L/14: 768)


class ContrastChannels(nn.Module):
    """Append a contrast-normalised copy of the image: ``(B, 3, H, W)`` -> ``(B, 6, H, W)``.

    The copy has every channel of every image shifted to mean 0 and scaled to std 1 (per-image
    "local contrast normalisation", as in early CNNs). It removes the image's overall colour, so
    edges and outlines (the shape) stand out from the first layer on, while the original three
    channels keep the colour that captions talk about. On the shapes world it roughly halves
    the steps a small CNN needs to tell the shapes apart.
    """

    def __init__(self, eps: float = 1e-2) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)  # (B, 3, 1, 1)
        std = x.std(dim=(2, 3), keepdim=True)  # (B, 3, 1, 1)
        return torch.cat([x, (x - mean) / (std + self.eps)], dim=1)  # (B, 6, H, W)


def build_clip(cfg: CLIPConfig, vocab_size: int) -> MiniCLIP:
    """The towers named in ``cfg`` joined into a ``MiniCLIP``."""
    if cfg.image_tower == "cnn" and cfg.contrast_channels:
        cnn = SmallCNN(6, cfg.image_width)
        image_encoder: nn.Module = nn.Sequential(ContrastChannels(), cnn)
        image_encoder.out_dim = cnn.out_dim
    elif cfg.image_tower == "cnn":
        image_encoder = SmallCNN(3, cfg.image_width)
    elif cfg.image_tower == "resnet18":
        image_encoder = resnet18_cifar()
    else:
        raise ValueError(f"image_tower must be 'cnn' or 'resnet18', got {cfg.image_tower!r}.")
    if cfg.text_tower == "transformer":
        text_encoder: nn.Module = TextTransformer(vocab_size, cfg.text_width, cfg.text_layers, cfg.text_heads,
                                                    fast=cfg.fast_attention)
    elif cfg.text_tower == "bow":
        text_encoder = BagOfWords(vocab_size, cfg.text_width)
    else:
        raise ValueError(f"text_tower must be 'transformer' or 'bow', got {cfg.text_tower!r}.")
    return MiniCLIP(image_encoder, text_encoder, cfg.embed_dim)
