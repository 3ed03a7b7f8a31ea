"""Recipes: one module per training command, each a readable run on ``sslcourse.train.fit``.

A recipe turns settings (a config dataclass, or the argparse flags of ``sslcourse train NAME``)
into a model from ``sslcourse.methods`` (or bert/gpt), trains it with ``fit``, evaluates it with
``sslcourse.evaluate`` and writes what people look at: ``metrics.json``, a curves PNG and a
checkpoint in the one format of ``sslcourse.checkpoint``. Every recipe module has

    NAMES                  the ``sslcourse train`` names it serves
    main(name, argv)       the command: parse argv, train, report; returns the exit status
    load_model(path)       rebuild the trained model from one of its checkpoints

``RECIPES`` maps each command name to its module; ``load_model(path)`` reads the ``method`` a
checkpoint names and hands the file to that recipe.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from sslcourse import checkpoint as ckpt_format

__all__ = ["CHECKPOINT_DIR", "RECIPES", "recipe", "load_model"]

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"  # the files the package ships

RECIPES = {
    "simclr": "sslcourse.recipes.simclr",
    "byol": "sslcourse.recipes.joint",
    "simsiam": "sslcourse.recipes.joint",
    "vicreg": "sslcourse.recipes.joint",
    "invariance": "sslcourse.recipes.joint",
    "clip": "sslcourse.recipes.clip",
    "bert": "sslcourse.recipes.text",
    "gpt": "sslcourse.recipes.text",
    "rotation": "sslcourse.recipes.pretext",
    "colorization": "sslcourse.recipes.pretext",
    "patches": "sslcourse.recipes.pretext",
    "jigsaw": "sslcourse.recipes.pretext",
}


def recipe(name: str) -> ModuleType:
    """The recipe module of the command ``sslcourse train NAME``."""
    if name not in RECIPES:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(RECIPES)}")
    # imported on demand: `sslcourse train bert` need not import torchvision and the image recipes
    return importlib.import_module(RECIPES[name])


def load_model(path: str | Path, device: str = "cpu") -> Any:
    """The trained model of any checkpoint the course writes (the recipe named in the file rebuilds it)."""
    path = Path(path)
    method = ckpt_format.read(path / "checkpoint.pt" if path.is_dir() else path)["method"]
    if method not in RECIPES:
        raise ckpt_format.CheckpointError(f"{path} was written by {method!r}, which no recipe loads; "
                                          "load its weights with sslcourse.train.load_weights.")
    return recipe(method).load_model(path, device=device)
