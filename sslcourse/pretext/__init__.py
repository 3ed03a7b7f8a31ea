"""Pretext tasks: a transformation g: x -> (x_in, x_out) that needs no labels, and f: x_in -> x_out.

Lecture notation -> code words (one module per task):

    g for rotation prediction        -> ``rotation_pairs``        (rotation.py, Gidaris et al. 2018)
    g for colorization               -> ``colorization_pair``     (colorization.py, Zhang et al. 2016)
    g for relative patch placement   -> ``sample_patch_pairs``    (patches.py, Doersch et al. 2015)
    g for jigsaw puzzles (extra)     -> ``jigsaw_tiles``          (jigsaw.py, Noroozi & Favaro 2016)
    f1, the encoder kept afterwards  -> ``PixelEncoder``          (base.py)
    f = head o f1, trained with fit  -> ``RotationPrediction``, ``Colorization``,
                                        ``RelativePatchPlacement``, ``Jigsaw``
    transfer with few labels         -> ``transfer_table``        (transfer.py)
    data with an "up" for rotation   -> ``load_upright_shapes``   (upright.py)

Each model's ``forward(batch)`` applies its g to the images of the batch (labels, if any, are
ignored) and returns ``{"loss": ..., "acc": ...}`` for ``sslcourse.train.fit``. After
pretraining only ``model.encoder`` (f1) is kept; the head is thrown away.

The tasks by name: ``registry.py``. Command line: ``sslcourse train rotation|colorization|patches|jigsaw
[options]`` (the recipe ``sslcourse.recipes.pretext``).
"""
from sslcourse.pretext.base import LUMA_WEIGHTS, PixelEncoder, build_backbone, images_from_batch, to_float_images
from sslcourse.pretext.colorization import (Colorization, ab_bin_centers, colorization_pair, lab_to_rgb,
                                            quantize_ab, rgb_to_gray, rgb_to_lab)
from sslcourse.pretext.jigsaw import Jigsaw, jigsaw_tiles, permutation_set
from sslcourse.pretext.patches import (NEIGHBOURS, RelativePatchPlacement, crop_patches, grid_extent,
                                       patch_pair_positions, sample_patch_pairs)
from sslcourse.pretext.registry import DATASETS, METHODS, build_model, default_grid, load_images
from sslcourse.pretext.rotation import RotationPrediction, rotate_batch, rotation_pairs
from sslcourse.pretext.transfer import Resized, format_table, random_encoder, supervised_from_scratch, transfer_table
from sslcourse.pretext.upright import ORIENTED_SHAPES, load_upright_shapes

__all__ = [
    "LUMA_WEIGHTS", "PixelEncoder", "build_backbone", "images_from_batch", "to_float_images",
    "rotate_batch", "rotation_pairs", "RotationPrediction",
    "rgb_to_gray", "rgb_to_lab", "lab_to_rgb", "quantize_ab", "ab_bin_centers", "colorization_pair", "Colorization",
    "NEIGHBOURS", "grid_extent", "patch_pair_positions", "crop_patches", "sample_patch_pairs",
    "RelativePatchPlacement",
    "permutation_set", "jigsaw_tiles", "Jigsaw",
    "transfer_table", "supervised_from_scratch", "random_encoder", "format_table", "Resized",
    "load_upright_shapes", "ORIENTED_SHAPES", "METHODS", "DATASETS", "build_model", "default_grid", "load_images",
]
