"""The one checkpoint format of the course: a dict saved with ``torch.save``.

Every file the course writes or ships (a ``fit`` run, SimCLR, CLIP, the shipped mini-BERT and
mini-GPT) has these keys, so one loader (``sslcourse.recipes.load_model``) rebuilds any of them:

    format    "sslcourse-checkpoint"
    version   2 (version 1 was ``fit``'s older file without ``method``/``config``; still readable)
    method    the recipe that made it ("simclr", "bert", "clip", ...), or None for a bare ``fit`` run
    config    a plain dict: everything needed to rebuild the model (sizes, data statistics, ...)
    model     the model's ``state_dict()``
    ...       whatever the writer adds: optimizer/scheduler/RNG/data state for exact resume
              (``sslcourse.train.fit``), the tokenizer, the training history

Files are written atomically (a temporary file, then a rename) and read with
``weights_only=True``: a checkpoint is data, never code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sslcourse.utils import atomic_torch_save

__all__ = ["FORMAT", "VERSION", "CheckpointError", "save", "read"]

FORMAT = "sslcourse-checkpoint"
VERSION = 2
_V1 = "sslcourse-checkpoint-v1"  # fit's format before the config went inside


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used (missing, truncated, corrupted, from another model)."""


def save(path: str | Path, *, method: str | None, config: dict[str, Any], model: dict[str, Any],
         **fields: Any) -> Path:
    """Write one checkpoint atomically; ``model`` is a ``state_dict()``, ``config`` plain data."""
    atomic_torch_save({"format": FORMAT, "version": VERSION, "method": method, "config": dict(config),
                       "model": model, **fields}, path)
    return Path(path)


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
    return ckpt
