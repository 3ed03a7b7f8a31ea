"""The one checkpoint format of the course: a dict saved with ``torch.save``.

Every file the course writes or ships (a ``fit`` run, SimCLR, CLIP, the shipped mini-BERT and
mini-GPT) has these keys, so one loader (``sslcourse.recipes.load_model``) rebuilds any of them:

    format    "sslcourse-checkpoint"
    version   3 (version 2 had no int8 weights, version 1 was ``fit``'s older file without
              ``method``/``config``; both still readable)
    method    the recipe that made it ("simclr", "bert", "clip", ...), or None for a bare ``fit`` run
    config    a plain dict: everything needed to rebuild the model (sizes, data statistics, ...)
    model     the model's ``state_dict()``
    int8_scales  only in a file saved with ``int8=True`` (the shipped ones): the scale of each weight
              stored as int8, one per row; ``read`` turns those weights back into float32
    ...       whatever the writer adds: optimizer/scheduler/RNG/data state for exact resume
              (``sslcourse.train.fit``), the tokenizer, the training history

Files are written atomically (a temporary file, then a rename) and read with
``weights_only=True``: a checkpoint is data, never code.

Shipping int8 weights. A weight matrix W (a Linear's, a convolution's, an embedding table) is stored
as int8 with one float scale per row (per output channel): s_i = max_j |W_ij| / 127 and
Q_ij = round(W_ij / s_i), read back as W_ij ~ s_i Q_ij, an error of at most s_i / 2 per entry. That is
a quarter of float32; vectors (biases, BatchNorm, LayerNorm) stay as they are. The shipped encoders'
kNN accuracies, spreads and effective ranks are measured again on the int8 files by
tests/test_pretrained.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sslcourse.utils import atomic_torch_save

__all__ = ["FORMAT", "VERSION", "CheckpointError", "save", "read", "quantize_int8", "dequantize_int8"]

FORMAT = "sslcourse-checkpoint"
VERSION = 3
_V1 = "sslcourse-checkpoint-v1"  # fit's format before the config went inside


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used (missing, truncated, corrupted, from another model)."""


def save(path: str | Path, *, method: str | None, config: dict[str, Any], model: dict[str, Any],
         int8: bool = False, **fields: Any) -> Path:
    """Write one checkpoint atomically; ``model`` is a ``state_dict()``, ``config`` plain data.

    ``int8=True`` stores every floating-point matrix of ``model`` as int8 with a scale per row
    (``quantize_int8``); ``read`` restores float32 weights, so loaders do not change.
    """
    if int8:
        model, fields["int8_scales"] = quantize_int8(model)
    atomic_torch_save({"format": FORMAT, "version": VERSION, "method": method, "config": dict(config),
                       "model": model, **fields}, path)
    return Path(path)


def quantize_int8(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Per-row symmetric int8 for each floating-point tensor with 2 or more dimensions.

    Returns:
        (the state with those tensors as int8, {key: scales}); a row of shape (out, ...) gets the
        scale s = max |row| / 127 (1 for a row of zeros), with scales of shape (out, 1, ..., 1).
    """
    out, scales = dict(state), {}
    for key, w in state.items():
        if not (torch.is_tensor(w) and w.is_floating_point() and w.dim() >= 2):
            continue
        w = w.detach().float()
        s = w.abs().flatten(1).amax(1) / 127                         # (out,)
        s = torch.where(s > 0, s, torch.ones_like(s)).view(-1, *[1] * (w.dim() - 1))
        out[key] = torch.round(w / s).clamp(-127, 127).to(torch.int8)
        scales[key] = s
    return out, scales


def dequantize_int8(state: dict[str, Any], scales: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The inverse of ``quantize_int8`` (up to the rounding): float32 ``s * Q`` for each key in ``scales``."""
    missing = set(scales) - set(state)
    if missing:
        raise CheckpointError(f"int8 scales for weights the checkpoint does not hold: {sorted(missing)[:3]}")
    return {k: (v.float() * scales[k].float() if k in scales else v) for k, v in state.items()}


def _reason(err: Exception) -> str:
    """The exception's type and first sentence, on one line."""
    first = str(err).strip().splitlines()[0].split(". ")[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first[:100]}" if first else type(err).__name__


def read(path: str | Path, fix: str = "delete it and train again.") -> dict[str, Any]:
    """Load and check a checkpoint; ``fix`` (what to do about a bad file) ends every error message.

    Returns:
        the checkpoint dict; a version-1 file gets ``version=1``, ``method=None`` and ``config={}``.

    Raises:
        CheckpointError: the file is missing, unreadable, or not an sslcourse checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; {fix}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, foreign pickles ...
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted ({_reason(err)}); {fix}") from None
    if isinstance(ckpt, dict) and ckpt.get("format") == _V1:
        return {**ckpt, "format": FORMAT, "version": 1, "method": None, "config": {}}
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an sslcourse checkpoint; {fix}")
    if int(ckpt.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {ckpt['version']}, newer than this sslcourse "
                              f"(reads up to {VERSION}); upgrade sslcourse.")
    if "int8_scales" in ckpt:
        ckpt["model"] = dequantize_int8(ckpt["model"], ckpt.pop("int8_scales"))
    return ckpt
