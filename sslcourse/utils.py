"""Small helpers every module uses: seeding, devices, autocast, uint8 -> float, atomic files.

Nothing here knows about self-supervised learning; it keeps the other modules short.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> the first CUDA GPU if there is one, else the CPU; anything else is passed to torch.device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(device)


def autocast(device: str | torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (no loss scaling needed); a no-op on the CPU, where fp32 is the safe default."""
    device = get_device(device)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [0, 1]; float images pass through unchanged.

    The one place the course turns stored pixels into network inputs.

    Shape:
        ``(N, C, H, W)`` (or any shape) -> the same shape.
    """
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 in [0, 255] or float in [0, 1], got dtype {images.dtype}")
    return images


def to_device(batch: Any, device: str | torch.device, non_blocking: bool = True) -> Any:
    """Move tensors (also inside tuples, lists and dicts) to `device`; leave everything else alone."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [to_device(v, device, non_blocking) for v in batch]
        return type(batch)(moved) if not hasattr(batch, "_fields") else type(batch)(*moved)
    return batch


# --------------------------------------------------------------------------- files


def cache_dir() -> Path:
    """Where decoded datasets and other derived files are cached: $SSLCOURSE_CACHE or ~/.cache/sslcourse."""
    path = Path(os.environ.get("SSLCOURSE_CACHE") or Path.home() / ".cache" / "sslcourse")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    """The process's umask, read without changing it (Linux: /proc/self/status; else the usual 022)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A crash or an exception leaves the old file (or no file) in place, never a half-written one.
    The file gets the permissions a plain ``open(path, "w")`` would give it (the old file's mode, or
    0666 minus the umask: readable by others), not the 0600 of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through a temporary file and a rename (see `atomic_write`)."""
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)
