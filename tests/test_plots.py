"""Plots: written as real PNGs from a real training history, codes and reconstructions."""

import numpy as np
import pytest
from PIL import Image

from fewlabel import Autoencoder, plots
from fewlabel.errors import InputError


@pytest.fixture(scope="module")
def small_ae(mnist_small):
    X, y, Xt, yt = mnist_small
    return Autoencoder(hidden=(64,), latent=2, epochs=2, batch_size=128, validation_fraction=0.2,
                       device="cpu").fit(X[:1000])


def _png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_loss_curves_png(tmp_path, small_ae):
    fig = plots.loss_curves(small_ae.history_, path=tmp_path / "loss.png", title="MNIST autoencoder")
    assert _png_size(tmp_path / "loss.png")[0] > 300
    lines = fig.axes[0].get_lines()
    assert [l.get_label() for l in lines] == ["training loss", "validation loss"]
    np.testing.assert_allclose(lines[1].get_ydata(), small_ae.history_.history["val_loss"])
    with pytest.raises(InputError, match="no \\['accuracy'\\]"):
        plots.loss_curves(small_ae.history_, metrics=("accuracy",))


def test_reconstructions_and_latent_scatter(tmp_path, mnist_small, small_ae):
    _, _, Xt, yt = mnist_small
    rec = small_ae.reconstruct(Xt[:8])
    fig = plots.reconstructions(Xt[:8], rec, path=tmp_path / "rec.png")
    assert len(fig.axes) == 16 and _png_size(tmp_path / "rec.png")[0] > 300
    codes = small_ae.transform(Xt)
    fig = plots.latent_scatter(codes, yt, path=tmp_path / "latent.png")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [str(c) for c in range(10)]
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == len(codes)
    with pytest.raises(InputError, match="shape \\(N, 2\\)"):
        plots.latent_scatter(np.zeros((5, 3)))
    with pytest.raises(InputError, match="not square images"):
        plots.reconstructions(np.zeros((2, 10)), np.zeros((2, 10)))
