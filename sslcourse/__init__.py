"""sslcourse: self-supervised learning from scratch, the reference package of the course.

One concept per module (see COURSE.md section 4):

    data/        bundled (digits, photos), generated (shapes + captions, toy English), real (CIFAR-10, text)
    views.py     batched per-sample augmentations: g: x -> (x1, x2)
    pretext/     pretext tasks, g: x -> (x_in, x_out): rotation, colorization, patches, jigsaw
    nn.py        encoders f1 (SmallCNN, ResNet-18 with the CIFAR stem) and MLP heads
    tokenizer.py, transformer.py, bert.py, gpt.py, finetune.py, text.py
                 word tokenizer, hand-written attention, mini-BERT, mini-GPT, downstream heads, MLM inputs
    losses/      nt_xent, byol, vicreg, clip_loss, invariance
    methods/     SimCLR, BYOL, SimSiam, VICReg, naive invariance, CLIP: forward(batch) -> loss
    ema.py, lars.py, collapse.py   the EMA target update, the LARS optimizer, collapse monitoring
    zeroshot.py  zero-shot classification from prompts, retrieval recall@k, few-shot probes
    train.py     the one training loop; checkpoint.py its one file format
    evaluate.py  kNN, linear probe, label efficiency, collapse diagnostics
    recipes/     one module per `sslcourse train NAME` command, each a run on train.fit
    plot.py      figures
    course/      release, collect, staging, grading worker, schedule, report, render, demo (nbgrader)
    cli.py       the `sslcourse` command

The layers and what each may import: docs/architecture.md.
"""

__version__ = "0.1.0"
