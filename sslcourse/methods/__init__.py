"""Self-supervised methods: each model is f1 (encoder) plus its heads; forward(batch) returns the loss.

One file per method: simclr, byol, simsiam, vicreg, invariance (the naive one that collapses), clip.
"""
