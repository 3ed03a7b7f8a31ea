"""sslcourse: self-supervised learning from scratch, the reference package of the course.

One concept per module (see COURSE.md section 4):

    data/        bundled, generated and real datasets as uint8 tensors
    views.py     batched per-sample augmentations: g: x -> (x1, x2)
    pretext.py   pretext tasks: g: x -> (x_in, x_out)
    nn.py        encoders f1 and MLP heads (projector f2, predictor q)
    transformer.py, text.py   attention blocks, tokenizer, mini-BERT, mini-GPT
    losses/      nt_xent, byol, vicreg, clip_loss, invariance
    methods/     SimCLR, BYOL, SimSiam, VICReg, CLIP: forward(batch) -> loss
    train.py     the one training loop
    evaluate.py  kNN, linear probe, label efficiency, collapse diagnostics
    plot.py      figures
    course.py    release, autograde, render (nbgrader / nbconvert)
    cli.py       the `sslcourse` command
"""

__version__ = "0.1.0"
