"""The one generic training loop every method uses: ``fit(model, data, steps=...)``.

The model owns its objective: ``model(batch)`` returns the scalar loss (or a dict with a
``"loss"`` and other metrics), so one loop trains a rotation classifier, SimCLR, BYOL or a
mini-BERT. The loop adds what every run needs: device and bf16 autocast on CUDA, AdamW with
warmup + cosine decay, a progress bar with the live loss and items/s, callbacks (kNN
monitoring), a NaN/inf guard, and atomic checkpoints from which a run resumes *exactly*
(same parameters as an uninterrupted run). Exact resume needs a reproducible data order:
use ``TensorBatches``, or any iterable with ``state_dict()/load_state_dict()``; a plain
re-iterable (a list of batches, an unshuffled DataLoader) is fast-forwarded batch by batch.

Launched under ``torchrun`` (``torch.distributed`` initialised), the same loop trains data-
parallel: the model is wrapped in DistributedDataParallel, ``TensorBatches(rank=, world=)``
hands each process its slice of the global batch, the logged loss is averaged over processes,
callbacks, the progress bar and checkpoints run on rank 0, and rank 0 decides when a time
limit is reached so that every process stops at the same step.
"""
from __future__ import annotations

import functools
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from sslcourse import checkpoint as ckpt_format
from sslcourse.checkpoint import CheckpointError
from sslcourse.utils import autocast, get_device, seed_everything, to_device

__all__ = ["fit", "History", "TensorBatches", "CheckpointError", "load_weights", "lr_factor"]

_FIX = "delete it or pass resume=False to start over."


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

    def __len__(self) -> int:
        return len(self.rows)


class TensorBatches:
    """Mini-batches of in-memory tensors, reshuffled every epoch, with a resumable position.

    The order of epoch e depends only on ``(seed, e)``; ``state_dict()`` holds the epoch and the
    batches already drawn from it, so a resumed run sees exactly the batches of an uninterrupted
    one. With ``device="cuda"`` the tensors move to the GPU once and batches are cut there by
    indexing: no DataLoader, no worker processes.

    Args:
        *tensors: tensors with the same first dimension N (e.g. images and labels).
        batch_size: B. ``shuffle``: a fresh permutation per epoch, seeded by ``seed``.
        drop_last: drop the last incomplete batch (keeps B constant for contrastive losses).
        rank, world: under data parallelism, process ``rank`` of ``world`` gets rows
            ``[rank * B / world, (rank + 1) * B / world)`` of every global batch (B divisible by world).

    Yields:
        a tensor ``(B / world, ...)`` when one tensor was given, else a tuple of tensors.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True, device: str | torch.device | None = None, rank: int = 0,
                 world: int = 1) -> None:
        if not tensors or len({len(t) for t in tensors}) != 1:
            raise ValueError(f"TensorBatches needs tensors of the same length, got {[len(t) for t in tensors]}.")
        n = len(tensors[0])
        if batch_size < 1 or (drop_last and n < batch_size):
            raise ValueError(f"batch size {batch_size} does not fit {n} items; use a batch size between 1 and {n}.")
        if batch_size % world or not 0 <= rank < world or (world > 1 and not drop_last):
            raise ValueError(f"batch size {batch_size} must split evenly over {world} processes (rank {rank}), "
                             "with drop_last=True.")
        self.tensors = tuple(t.to(device) if device is not None else t for t in tensors)
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last = n, batch_size, shuffle, seed, drop_last
        self.rank, self.local = rank, batch_size // world
        self.epoch, self.position = 0, 0

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        if self.position >= len(self):  # the previous epoch is used up: start the next one
            self.epoch, self.position = self.epoch + 1, 0
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)
        order = order.to(self.tensors[0].device)  # (N,)
        while self.position < len(self):
            start = self.position * self.batch_size + self.rank * self.local
            idx = order[start:start + self.local]  # (B / world,)
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
        return {"data": self.data.state_dict()} if self.stateful else {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.stateful:
            return self.data.load_state_dict(state["data"])
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def __iter__(self) -> Iterator[Any]:
        skip = self.position
        while True:
            if hasattr(self.data, "set_epoch"):  # DistributedSampler-style epoch seeding
                self.data.set_epoch(self.epoch)
            seen = 0
            for seen, batch in enumerate(self.data, start=1):
                if seen > skip:  # after a resume, fast-forward past the batches already used
                    self.position = seen
                    yield batch
            if seen == 0:
                raise ValueError("fit: `data` yielded no batches; pass a non-empty, re-iterable collection.")
            self.epoch, self.position, skip = self.epoch + 1, 0, 0


def _batch_size(batch: Any) -> int:
    """Items in a batch = the first dimension of its first tensor (0 if there is none)."""
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.ndim else 1
    values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    return next((n for n in map(_batch_size, values) if n), 0)


def _unpack(out: Any, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
    """``model(batch)`` -> (loss tensor, {metric: detached tensor or number}); nothing is read back
    from the device here (``_flush`` does that, once for many steps)."""
    loss, metrics = (out["loss"], {k: v for k, v in out.items() if k != "loss"}) if isinstance(out, dict) else (out, {})
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(f"step {step}: model(batch) must return a scalar loss tensor or a dict with one; got {got}.")
    metrics = {k: v.detach().float().reshape(()) if isinstance(v, torch.Tensor) else float(v) for k, v in metrics.items()}
    return loss.reshape(()), metrics


def _flush(pending: list[dict[str, Any]], history: History, last_finite: tuple[int, float] | None,
           device: torch.device, world: int) -> tuple[int, float] | None:
    """Read the losses and metrics of the ``pending`` steps back from the device in one transfer
    (averaged over processes in one all-reduce), check them, and append one history row per step.

    Returns the new (step, loss) of the last finite loss.

    Raises:
        FloatingPointError: a loss is NaN/inf (names the first such step and the last finite loss).
    """
    if not pending:
        return last_finite
    names = list(pending[0]["metrics"])
    values = torch.stack([torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device).reshape(())
                                       for v in (p["loss"], *p["metrics"].values())]) for p in pending])  # (S, 1+M)
    values = _mean_over_processes(values, world)
    for p, (loss_value, *metric_values) in zip(pending, values.tolist()):
        if not math.isfinite(loss_value):
            before = f"last finite loss was {last_finite[1]:.4g} at step {last_finite[0]}" if last_finite else "none"
            raise FloatingPointError(f"loss is {loss_value} at step {p['step']} ({before}); "
                                     "lower lr, add warmup/grad_clip.")
        last_finite = (p["step"], loss_value)
        history.rows.append({"step": p["step"], "loss": loss_value, **dict(zip(names, metric_values)),
                             **p["row"]})
    pending.clear()
    return last_finite


def lr_factor(steps: int, warmup_steps: int, cosine: bool = True) -> Callable[[int], float]:
    """The lr multiplier after s optimizer steps: linear warmup over ``warmup_steps`` (from 1/warmup to 1),
    then constant, or a cosine decay from 1 towards 0 at ``steps`` (SGDR, Loshchilov & Hutter 2017)."""
    def factor(s: int) -> float:
        if s < warmup_steps:
            return (s + 1) / warmup_steps
        progress = min(1.0, (s - warmup_steps) / max(1, steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress)) if cosine else 1.0
    return factor


def _rng_state() -> dict[str, Any]:
    """Every RNG a step may draw from, in types that ``torch.load(weights_only=True)`` accepts."""
    name, keys, *rest = np.random.get_state()
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), *rest)}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))


def load_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Load the model parameters of a ``fit`` checkpoint into ``model`` (e.g. to evaluate it)."""
    model.load_state_dict(ckpt_format.read(path, _FIX)["model"])
    return model


def _restore(path: Path, state: dict[str, Any], steps: int, rank: int, world: int) -> tuple[History, int]:
    """Load model, optimizer, scheduler, data position and RNG states; return (history, step)."""
    ckpt = ckpt_format.read(path, _FIX)
    rng = ckpt["rng"]  # one state per process when the run was data-parallel
    if isinstance(rng, list) and len(rng) != world:
        raise CheckpointError(f"checkpoint {path} was written by {len(rng)} processes, this run has {world}; {_FIX}")
    try:
        for key, obj in state.items():
            obj.load_state_dict(ckpt[key])
    except (RuntimeError, ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint {path} does not match this model "
                              f"({ckpt_format._reason(err)}); {_FIX}") from None
    _set_rng_state(rng[rank] if isinstance(rng, list) else rng)
    if ckpt["steps"] != steps:
        warnings.warn(f"resuming a run of {ckpt['steps']} steps with steps={steps}: the lr schedule changes.")
    return History(list(ckpt["history"])), int(ckpt["step"])


def _mean_over_processes(values: torch.Tensor, world: int) -> torch.Tensor:
    """The average of ``values`` over the ``world`` processes (one all-reduce); unchanged when world = 1."""
    if world == 1:
        return values
    values = values.double() if values.device.type == "cpu" else values
    dist.all_reduce(values)
    return values / world


def _rank0_says(flag: bool, device: torch.device, world: int) -> bool:
    """Rank 0's ``flag`` on every process (so all of them stop at the same step)."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def fit(model: torch.nn.Module, data: Iterable, *, steps: int,
        optimizer: torch.optim.Optimizer | Callable | None = None, lr: float = 1e-3, weight_decay: float = 0.0,
        scheduler: str | None = "cosine", warmup_steps: int = 0, device: str | torch.device = "auto",
        callbacks: Iterable = (), checkpoint: str | Path | None = None, checkpoint_every: int = 0,
        resume: bool = True, grad_clip: float | None = None, progress: bool = True, desc: str = "train",
        seed: int = 0, channels_last: bool = False, compile: bool = False, time_limit_s: float | None = None,
        sync_every: int = 1, method: str | None = None, config: dict[str, Any] | None = None) -> History:
    """Train ``model`` for ``steps`` optimizer steps on batches drawn from ``data``.

    Args:
        model: ``model(batch)`` returns a scalar loss or ``{"loss": loss, metric: value, ...}``;
            ``model.after_step(step, steps)``, if defined, runs after every optimizer step (EMA).
        data: re-iterable of batches (tensors, tuples or dicts of tensors), cycled over epochs.
        steps: total number of optimizer steps (the run length, also after a resume).
        optimizer: an optimizer (its param groups keep their own lr and weight decay: the schedule
            multiplies each), or ``params -> optimizer``; default AdamW(lr, weight_decay).
        scheduler: "cosine" (warmup then cosine decay to 0) or None (constant after warmup).
        device: "auto" (CUDA if present), "cpu", "cuda", ...; CUDA runs under bf16 autocast.
        callbacks: objects with ``every: int`` and ``__call__(step, model, history)``, called
            when ``step % every == 0`` and at the last step; a returned dict joins the row.
        checkpoint: file saved every ``checkpoint_every`` steps and at the end; with
            ``resume=True`` an existing one is loaded first and training continues from it.
        grad_clip: clip the global gradient norm. ``seed``: seeds python, numpy and torch.
        channels_last: NHWC memory format for the model (faster convolutions on recent GPUs).
        compile: run the forward through ``torch.compile`` (CUDA; the first steps compile).
        time_limit_s: stop once the steps took this long (schedule unchanged, so a rerun resumes
            it); with a checkpoint, only at a checkpoint step, so that the resume is exact.
        sync_every: read the losses back from the device (NaN guard, history rows, progress bar)
            once every this many steps instead of every step, so that a GPU never waits for the
            host in between; callbacks, checkpoints and the time limit still see every row. A NaN
            is then reported up to ``sync_every - 1`` steps late (with the step it appeared at).
        method, config: written into the checkpoint (``sslcourse.checkpoint``), so that a loader
            can rebuild the model from the file alone.

    Returns:
        the ``History`` of the whole run (the resumed part included); each row holds the
        cumulative ``train_time_s`` (steps only, without callbacks and checkpoints).

    Raises:
        FloatingPointError: the loss became NaN/inf (names the step and the last finite loss).
        ValueError: ``sync_every`` < 1.
        CheckpointError: the checkpoint is unreadable or belongs to another model.
    """
    device = get_device(device)
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    main = rank == 0
    seed_everything(seed + rank)  # each process draws its own views / masks
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    net = model
    if world > 1:  # gradients are averaged over processes inside backward()
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    forward = torch.compile(net) if compile else net
    params = [p for p in model.parameters() if p.requires_grad]
    if not isinstance(optimizer, torch.optim.Optimizer):  # None, or a factory params -> optimizer
        optimizer = (optimizer or functools.partial(torch.optim.AdamW, lr=lr, weight_decay=weight_decay))(params)
    if sync_every < 1:
        raise ValueError(f"sync_every must be >= 1 (steps between host syncs), got {sync_every}.")
    if scheduler not in ("cosine", None):
        raise ValueError(f"scheduler must be 'cosine' or None, got {scheduler!r}.")
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(steps, warmup_steps, scheduler == "cosine"))
    state = {"model": model, "optimizer": optimizer, "scheduler": sched, "data": _DataStream(data)}
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    resuming = checkpoint is not None and resume and checkpoint.exists()
    history, step = _restore(checkpoint, state, steps, rank, world) if resuming else (History(), 0)

    last_finite = (step, history.rows[-1]["loss"]) if history.rows else None
    train_time = history.rows[-1].get("train_time_s", 0.0) if history.rows else 0.0
    bar = tqdm(total=steps, initial=step, desc=desc, disable=not (progress and main), dynamic_ncols=True)
    batches, callbacks = iter(state["data"]), list(callbacks)
    pending: list[dict[str, Any]] = []  # steps whose loss is still on the device
    window_start, window_items = time.perf_counter(), 0  # items/s over the steps since the last sync
    model.train()
    stop = False
    while step < steps and not stop:  # ----------------------------------------------- one step
        t0, batch = time.perf_counter(), to_device(next(batches), device)  # items/s counts loading too
        step += 1
        with autocast(device):
            loss, metrics = _unpack(forward(batch), step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        if hasattr(model, "after_step"):
            model.after_step(step, steps)  # e.g. BYOL's EMA update of the target
        due = [c for c in callbacks if step % c.every == 0 or step == steps]  # the same on every process
        at_checkpoint = bool(checkpoint is not None and checkpoint_every and step % checkpoint_every == 0)
        # The host waits for the device only at a sync: every sync_every steps, and before anything
        # that reads the history (callbacks, a checkpoint, the end of the run). The time limit is
        # checked at a checkpoint step when there are checkpoints (so a rerun resumes exactly), else at a sync.
        sync = step % sync_every == 0 or step == steps or bool(due) or at_checkpoint
        check_time = time_limit_s is not None and (at_checkpoint if checkpoint is not None and checkpoint_every
                                                   else sync)
        if device.type == "cuda" and check_time:
            torch.cuda.synchronize()  # the time limit counts finished GPU work
        train_time += time.perf_counter() - t0
        window_items += world * _batch_size(batch)
        pending.append({"step": step, "loss": loss.detach(), "metrics": metrics,
                        "row": {"lr": optimizer.param_groups[0]["lr"], "train_time_s": train_time}})
        sched.step()  # after noting the lr this step used
        if check_time:
            stop = _rank0_says(train_time >= time_limit_s, device, world)
        if sync or stop:
            n_window, seconds = len(pending), max(time.perf_counter() - window_start, 1e-9)
            last_finite = _flush(pending, history, last_finite, device, world)
            for row in history.rows[-n_window:]:
                row["items_per_s"] = window_items / seconds
            window_items = 0
            bar.set_postfix(loss=f"{last_finite[1]:.4f}", items_s=f"{history.rows[-1]['items_per_s']:.0f}",
                            refresh=False)
        for callback in due if main else ():
            extra = callback(step, model, history)
            model.train()  # a callback may have switched to eval mode
            history.rows[-1].update(extra if isinstance(extra, dict) else {})
        if checkpoint is not None and (at_checkpoint or step == steps or stop):
            rng: Any = _rng_state()
            if world > 1:
                rng = [None] * world
                dist.all_gather_object(rng, _rng_state())
            if main:
                ckpt_format.save(checkpoint, method=method, config=config or {}, step=step, steps=steps,
                                 history=history.rows, rng=rng,
                                 **{k: v.state_dict() for k, v in state.items()})
        if not pending:  # a new window starts after the callbacks and the checkpoint
            window_start = time.perf_counter()
        bar.update(1)  # redraws at most every 0.1 s
    bar.close()
    if world > 1:
        dist.barrier()  # rank 0's checkpoint is on disk before any process goes on
    return history
