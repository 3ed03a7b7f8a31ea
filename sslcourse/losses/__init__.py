"""Self-supervised losses, as pure functions over embeddings (lightly's style).

    contrastive.py   nt_xent (SimCLR / InfoNCE), its loop version for teaching
    joint.py         invariance, byol, vicreg and its three terms
    clip.py          clip_loss (symmetric image-text contrastive loss)
"""
# Lazy re-exports while the modules land; replaced by plain imports at integration.
import importlib

_EXPORTS = {
    "nt_xent": "contrastive", "nt_xent_loop": "contrastive", "positive_accuracy": "contrastive",
    "cosine_similarity_matrix": "contrastive",
    "invariance": "joint", "byol": "joint", "vicreg": "joint", "variance_term": "joint",
    "invariance_term": "joint", "covariance_term": "joint",
    "clip_loss": "clip",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
