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


def test_learning_curves_and_confusion_matrix(tmp_path):
    from fewlabel import plots
    from fewlabel.metrics import classification_report

    curves = {"semi-supervised": {100: [0.9, 0.92, 0.91], 1000: [0.96, 0.97, 0.965]},
              "supervised": {100: [0.7, 0.72, 0.69], 1000: [0.93, 0.94, 0.92]}}
    fig = plots.learning_curves(curves, path=tmp_path / "curves.png", title="MNIST")
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["semi-supervised", "supervised"]
    np.testing.assert_allclose(lines[1].get_ydata(), [np.mean([0.7, 0.72, 0.69]), np.mean([0.93, 0.94, 0.92])])
    assert (tmp_path / "curves.png").stat().st_size > 1000
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    rep = classification_report(y_true, y_pred, class_names=["a", "b", "c"])
    assert rep["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert rep["accuracy"] == pytest.approx(5 / 7)
    assert rep["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8),
                                     "support": 2}
    fig = plots.confusion_matrix(rep["confusion_matrix"], ["a", "b", "c"], path=tmp_path / "cm.png")
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown).sum(axis=1), 1.0)  # rows normalised
    with pytest.raises(InputError, match="square"):
        plots.confusion_matrix([[1, 2, 3]])


def test_error_histogram_draws_groups_and_the_cut_off(tmp_path):
    from fewlabel.plots import error_histogram

    rng = np.random.default_rng(0)
    fig = error_histogram({"normal": rng.lognormal(-4, 0.5, 500), "outliers": rng.lognormal(-2, 0.5, 200)},
                          threshold=0.05, path=tmp_path / "e.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.patches) == 2 * 49
    heights = [sum(p.get_height() for p in ax.patches[i * 49:(i + 1) * 49]) for i in range(2)]
    np.testing.assert_allclose(heights, 1.0)  # each group's bars are shares of its rows
    assert ax.lines[0].get_xdata()[0] == 0.05 and (tmp_path / "e.png").stat().st_size > 5000
    with pytest.raises(InputError, match="non-empty"):
        error_histogram({"normal": []})
    with pytest.raises(InputError, match="NaN"):
        error_histogram({"normal": [0.1, float("nan")]})


def test_classification_report_names_classes_by_value_not_position():
    from fewlabel.metrics import classification_report

    names = ["T-shirt", "Trouser", "Pullover", "Dress"]
    # class 1 (Trouser) is absent from both: the others keep their own names
    y_true = np.array([0, 0, 2, 3, 3])
    y_pred = np.array([0, 2, 2, 3, 0])
    rep = classification_report(y_true, y_pred, class_names=names)
    assert list(rep["per_class"]) == ["T-shirt", "Pullover", "Dress"]
    assert rep["per_class"]["Dress"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert rep["per_class"]["Pullover"]["support"] == 1
    # a dict, and labels that are not 0..K-1 with one name per class in sorted order
    by_dict = classification_report(y_true, y_pred, class_names={0: "zero", 2: "two", 3: "three"})
    assert list(by_dict["per_class"]) == ["zero", "two", "three"]
    sparse = classification_report(np.array([10, 20, 20]), np.array([10, 20, 10]), class_names=["ten", "twenty"])
    assert sparse["per_class"]["twenty"]["recall"] == 0.5
    with pytest.raises(InputError, match="class names"):
        classification_report(np.array([10, 20, 30]), np.array([10, 20, 30]), class_names=["a", "b"])


def test_latent_scatter_draws_unlabeled_rows_grey_and_names_the_classes_present():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    codes = np.array([0, 2, -1, 2, -1, 0, 0, -1])  # class 1 absent from these rows
    Z = rng.normal(size=(len(codes), 2))
    names = plots.present_names(codes, ["cat", "dog", "eel"])
    assert names == ["cat", "eel"]
    fig = plots.latent_scatter(Z, codes, class_names=names)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["unlabeled", "cat", "eel"]
    grey = fig.axes[0].collections[0]
    assert len(grey.get_offsets()) == 3 and tuple(grey.get_facecolor()[0][:3]) == (0.75, 0.75, 0.75)
    plt.close(fig)
    # words are labels as they are: none of them is taken for unlabeled
    fig = plots.latent_scatter(Z, np.array(["a", "b"] * 4))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]
    plt.close(fig)
