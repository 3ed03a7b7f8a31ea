"""The one generic training loop every method uses: ``fit(model, data, steps=...)``.

The model owns its objective: ``model(batch)`` returns the scalar loss (or a dict with a
``"loss"`` entry and any other metrics), so the same loop trains a rotation classifier,
SimCLR, BYOL or a mini-BERT. The loop adds what every run needs: the device and bf16
autocast on CUDA, an optimizer with a warmup + cosine schedule, a progress bar with the
live loss and items/s, callbacks (kNN monitoring, plots), a NaN/inf guard, and
checkpoints written atomically every N steps from which a run resumes *exactly*: the
parameters after an interrupted-and-resumed run equal those of an uninterrupted one.

Exact resume needs the data order to be reproducible: use ``TensorBatches`` (below), or
any iterable with ``state_dict()/load_state_dict()``; a plain re-iterable (a list of batches,
a DataLoader without shuffling) is fast-forwarded by skipping the batches already seen.
"""
from __future__ import annotations

import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .utils import atomic_torch_save, autocast, get_device, seed_everything, to_device

__all__ = ["fit", "History", "TensorBatches", "CheckpointError", "load_weights"]

CHECKPOINT_FORMAT = "sslcourse-checkpoint-v1"


@dataclass
class History:
    """What ``fit`` measured: one dict per step (``step``, ``loss``, other metrics, ``lr``,
    ``items_per_s``); callbacks may add keys (e.g. ``knn``) to the row of their step."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def column(self, name: str) -> list[float]:
        """The values of ``name`` over the rows that have it, in step order."""
        return [row[name] for row in self.rows if name in row]

    def series(self, name: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of ``name``, e.g. for plotting a metric logged every 100 steps."""
        return [r["step"] for r in self.rows if name in r], self.column(name)

    def last(self, name: str = "loss") -> float | None:
        values = self.column(name)
        return values[-1] if values else None

    def __len__(self) -> int:
        return len(self.rows)


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used (truncated, corrupted, from another model)."""


class TensorBatches:
    """Mini-batches of in-memory tensors, reshuffled every epoch, with a resumable position.

    The order of epoch e depends only on ``(seed, e)``, and ``state_dict()`` records the epoch
    and the number of batches already drawn from it, so a resumed run sees exactly the batches
    an uninterrupted one would. Tensors may already live on the GPU (``device=``): batches are
    then cut by indexing on the device, with no DataLoader or worker processes involved.

    Args:
        *tensors: tensors with the same first dimension N (e.g. images and labels).
        batch_size: B.
        shuffle: a fresh seeded permutation per epoch (else the stored order).
        seed: seed of the permutations.
        drop_last: drop the last incomplete batch (keeps B constant for contrastive losses).
        device: move the tensors there once.

    Yields:
        a tensor ``(B, ...)`` when one tensor was given, else a tuple of tensors.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True, device: str | torch.device | None = None) -> None:
        if not tensors or len({len(t) for t in tensors}) != 1:
            raise ValueError(f"TensorBatches needs tensors with the same first dimension, got {[len(t) for t in tensors]}.")
        n = len(tensors[0])
        if batch_size < 1 or (drop_last and n < batch_size):
            raise ValueError(f"batch_size={batch_size} does not fit {n} items; use a batch size between 1 and {n}.")
        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.epoch, self.position = 0, 0

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def _order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[Any]:
        if self.position >= len(self):  # the previous epoch is used up: start the next one
            self.epoch, self.position = self.epoch + 1, 0
        order = self._order(self.epoch).to(self.tensors[0].device)
        while self.position < len(self):
            idx = order[self.position * self.batch_size:(self.position + 1) * self.batch_size]  # (B,)
            self.position += 1
            batch = tuple(t[idx] for t in self.tensors)
            yield batch[0] if len(batch) == 1 else batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class _DataStream:
    """An endless stream of batches from a re-iterable, with a position that can be saved."""

    def __init__(self, data: Iterable) -> None:
        self.data, self.epoch, self.position = data, 0, 0
        self.stateful = hasattr(data, "state_dict") and hasattr(data, "load_state_dict")

    def state_dict(self) -> dict[str, Any]:
        if self.stateful:
            return {"data": self.data.state_dict()}
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.stateful:
            self.data.load_state_dict(state["data"])
        else:
            self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def __iter__(self) -> Iterator[Any]:
        skip = self.position
        while True:
            if hasattr(self.data, "set_epoch"):  # DistributedSampler-style epoch seeding
                self.data.set_epoch(self.epoch)
            seen = 0
            for seen, batch in enumerate(self.data, start=1):
                if seen <= skip:  # fast-forward after a resume
                    continue
                self.position = seen
                yield batch
            if seen == 0:
                raise ValueError("fit: `data` yielded no batches; pass a non-empty, re-iterable collection of batches.")
            self.epoch, self.position, skip = self.epoch + 1, 0, 0


def _batch_size(batch: Any) -> int:
    """Items in a batch = the first dimension of its first tensor (1 if there is none)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.ndim else 1
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    for value in values:
        n = _batch_size(value)
        if n:
            return n
    return 0


def _unpack(out: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
    """``model(batch)`` -> (loss tensor, {metric: float})."""
    loss, metrics = (out["loss"], {k: v for k, v in out.items() if k != "loss"}) if isinstance(out, dict) else (out, {})
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"step {step}: model(batch) must return a scalar loss tensor or a dict with one; got {tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__}.")
    return loss.reshape(()), {k: float(v.detach().float()) if isinstance(v, torch.Tensor) else float(v) for k, v in metrics.items()}


def _lr_factor(steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Linear warmup over ``warmup_steps``, then a cosine decay towards 0 at ``steps``."""
    def factor(s: int) -> float:
        if s < warmup_steps:
            return (s + 1) / warmup_steps
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (s - warmup_steps) / max(1, steps - warmup_steps))))
    return factor


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(), "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:])}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickle errors ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is unreadable ({first}); delete it or pass resume=False to start over.") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an sslcourse training checkpoint; delete it or pass resume=False to start over.")
    return ckpt


def load_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Load the model parameters of a ``fit`` checkpoint into ``model`` (e.g. to evaluate it)."""
    ckpt = _load_checkpoint(Path(path))
    model.load_state_dict(ckpt["model"])
    return model


def fit(model: torch.nn.Module, data: Iterable, *, steps: int, optimizer: torch.optim.Optimizer | Callable | None = None,
        lr: float = 1e-3, weight_decay: float = 0.0, scheduler: str | None = "cosine", warmup_steps: int = 0,
        device: str | torch.device = "auto", callbacks: Iterable = (), checkpoint: str | Path | None = None,
        checkpoint_every: int = 0, resume: bool = True, grad_clip: float | None = None, progress: bool = True,
        desc: str = "train", seed: int = 0, channels_last: bool = False) -> History:
    """Train ``model`` for ``steps`` optimizer steps on batches drawn from ``data``.

    Args:
        model: ``model(batch)`` returns a scalar loss or ``{"loss": loss, metric: value, ...}``;
            ``model.after_step(step, steps)`` is called after every optimizer step if it exists
            (BYOL's EMA update of the target lives there).
        data: re-iterable of batches (tensors, tuples or dicts of tensors), cycled over epochs.
        steps: total number of optimizer steps (the run length, also after a resume).
        optimizer: an optimizer over the model's parameters, or ``params -> optimizer``;
            default AdamW(lr, weight_decay).
        scheduler: "cosine" (warmup then cosine decay to 0), None (constant after warmup).
        device: "auto" (CUDA if present), "cpu", "cuda", ...; CUDA runs under bf16 autocast.
        callbacks: objects with ``every: int`` and ``__call__(step, model, history)``, called
            when ``step % every == 0`` and at the last step; a returned dict is added to the row.
        checkpoint: file to save every ``checkpoint_every`` steps and at the end; with
            ``resume=True`` an existing file is loaded first and training continues from it.
        grad_clip: clip the global gradient norm at this value.
        seed: seeds python, numpy and torch at the start (a resume restores the saved states).
        channels_last: NHWC memory format for the model (faster convolutions on recent GPUs).

    Returns:
        the ``History`` of the whole run (the resumed part included).

    Raises:
        FloatingPointError: the loss became NaN/inf (names the step and the last finite loss).
        CheckpointError: the checkpoint to resume from is unreadable.
    """
    device = get_device(device)
    seed_everything(seed)
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        optimizer = optimizer(params)
    if scheduler not in ("cosine", None):
        raise ValueError(f"scheduler must be 'cosine' or None, got {scheduler!r}.")
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_factor(steps, warmup_steps) if scheduler == "cosine" else lambda s: min(1.0, (s + 1) / max(1, warmup_steps)))
    stream, history, step = _DataStream(data), History(), 0

    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and resume and checkpoint.exists():
        ckpt = _load_checkpoint(checkpoint)
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"checkpoint {checkpoint} does not match this model/optimizer ({str(err).splitlines()[0]}); "
                                  "delete it or pass resume=False to start over.") from None
        sched.load_state_dict(ckpt["scheduler"])
        stream.load_state_dict(ckpt["data"])
        _set_rng_state(ckpt["rng"])
        history, step = History(list(ckpt["history"])), int(ckpt["step"])
        if ckpt["steps"] != steps:
            warnings.warn(f"resuming a run planned for {ckpt['steps']} steps with steps={steps}: the lr schedule changes.")

    def save() -> None:
        atomic_torch_save({"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": sched.state_dict(), "step": step, "steps": steps, "history": history.rows,
                           "rng": _rng_state(), "data": stream.state_dict()}, checkpoint)

    callbacks = list(callbacks)
    last_finite: tuple[int, float] | None = (step, history.rows[-1]["loss"]) if history.rows else None
    bar = tqdm(total=steps, initial=step, desc=desc, disable=not progress, dynamic_ncols=True)
    batches, shown = iter(stream), 0.0
    model.train()
    while step < steps:
        t0 = time.perf_counter()
        batch = to_device(next(batches), device)
        step += 1
        with autocast(device):
            loss, metrics = _unpack(model(batch), step)
        loss_value = float(loss.detach().float())  # one host sync per step: the NaN guard needs it
        if not math.isfinite(loss_value):
            before = f"the last finite loss was {last_finite[1]:.4g} at step {last_finite[0]}" if last_finite else "no finite loss before it"
            raise FloatingPointError(f"loss is {loss_value} at step {step} ({before}); lower lr, add warmup or grad_clip.")
        last_finite = (step, loss_value)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        lr_now = optimizer.param_groups[0]["lr"]
        optimizer.step()
        sched.step()
        if hasattr(model, "after_step"):
            model.after_step(step, steps)
        items_per_s = _batch_size(batch) / max(time.perf_counter() - t0, 1e-9)
        history.rows.append({"step": step, "loss": loss_value, **metrics, "lr": lr_now, "items_per_s": items_per_s})
        for cb in callbacks:
            if step % cb.every == 0 or step == steps:
                extra = cb(step, model, history)
                model.train()  # a callback may have switched to eval mode
                if isinstance(extra, dict):
                    history.rows[-1].update(extra)
        if checkpoint is not None and ((checkpoint_every and step % checkpoint_every == 0) or step == steps):
            save()
        bar.update(1)
        if time.perf_counter() - shown > 0.5 or step == steps:  # refresh the numbers twice a second
            bar.set_postfix(loss=f"{loss_value:.4f}", items_s=f"{items_per_s:.0f}", refresh=False)
            shown = time.perf_counter()
    bar.close()
    return history
