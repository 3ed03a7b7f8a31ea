"""Tests for sslcourse.plot: every helper returns a figure; save_figure writes a valid PNG atomically."""
import matplotlib
import numpy as np
import pytest
import torch

from sslcourse import plot
from sslcourse.train import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def _figures():
    g = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=g)
    gray = torch.rand(5, 1, 8, 8, generator=g)
    z = torch.randn(40, 6, generator=g)
    labels = torch.arange(40) % 4
    hist = History([{"step": s, "loss": 1.0 / s} for s in range(1, 11)])
    hist.rows[4]["knn"] = 0.5
    return {
        "grid": plot.image_grid(rgb, nrow=4, titles=[str(i) for i in range(6)]),
        "grid_gray_normalised": plot.image_grid((gray - 0.5) / 0.2, nrow=8),
        "grid_hw": plot.image_grid(gray[:, 0].numpy(), nrow=2),
        "pairs": plot.view_pairs(rgb, rgb.flip(-1), n=4),
        "similarity": plot.similarity_matrix(z @ z.T, title="cos", labels=[str(i) for i in range(40)]),
        "curves_history": plot.curves(hist, ["loss", "knn"], smooth=0.5, logy=True),
        "curves_dict": plot.curves({"loss": [3, 2, 1], "acc": ([10, 20], [0.1, 0.2])}, "acc"),
        "scatter_pca": plot.embedding_scatter(z, labels, class_names=list("abcd")),
        "scatter_plain": plot.embedding_scatter(z[:, :1]),
        "spectrum": plot.spectrum({"healthy": z, "collapsed": torch.ones(40, 6)}),
        "bars": plot.bar_chart({"SimCLR": 0.7}, baselines={"raw pixels": 0.3, "random init": 0.25}),
        "label_efficiency": plot.label_efficiency_curve({"linear": {1: 0.3, 10: 0.5, 100: 0.7}}),
    }


def test_every_helper_returns_a_figure_and_saves_a_png(tmp_path):
    figures = _figures()
    for name, fig in figures.items():
        assert isinstance(fig, matplotlib.figure.Figure), name
        out = plot.save_figure(fig, tmp_path / "sub" / f"{name}.png")
        data = out.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 500, name
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(f"{n}.png" for n in figures)


def test_image_grid_pixels():
    # a 1x2 grid of a black and a white image: the montage keeps them apart and in order
    images = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    fig = plot.image_grid(images, nrow=2)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (6, 11)  # 1 row of 4 + 2 pads, 2 columns of 4 + 3 pads
    assert np.all(shown[1:5, 1:5] == 0.0) and np.all(shown[1:5, 6:10] == 1.0)
    with pytest.raises(ValueError, match="N, C, H, W"):
        plot.image_grid(torch.zeros(2, 5, 4, 4))
    with pytest.raises(ValueError):
        plot.view_pairs(images, images[:1])


def test_save_figure_is_atomic(tmp_path, monkeypatch):
    fig = plot.curves({"loss": [1.0, 0.5]})
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        plot.save_figure(fig, target)
    assert target.read_bytes() == b"old"  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # and no temp file is left behind
    monkeypatch.undo()
    plot.save_figure(fig, target)
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    plot.save_figure(fig, tmp_path / "fig.svg")
    assert b"<svg" in (tmp_path / "fig.svg").read_bytes()[:500]
