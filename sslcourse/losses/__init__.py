"""Self-supervised losses, as pure functions over embeddings (lightly's style).

    contrastive.py   nt_xent (SimCLR's NT-Xent / InfoNCE), its loop version for teaching,
                     the cosine-similarity matrix s(e1, e2) = cos(e1, e2) / tau
    joint.py         invariance (the loss that collapses), byol, vicreg and its three terms
    clip.py          clip_loss: the symmetric image-text contrastive loss
"""

from sslcourse.losses.clip import clip_logits, clip_loss
from sslcourse.losses.contrastive import cosine_similarity_matrix, nt_xent, nt_xent_loop, positive_accuracy
from sslcourse.losses.joint import (byol, covariance_term, invariance, invariance_term, variance_term, vicreg,
                                    vicreg_terms)

__all__ = [
    "clip_logits", "clip_loss",
    "cosine_similarity_matrix", "nt_xent", "nt_xent_loop", "positive_accuracy",
    "byol", "covariance_term", "invariance", "invariance_term", "variance_term", "vicreg", "vicreg_terms",
]
