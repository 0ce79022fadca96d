"""Figures that make learned encoders understandable: loss curves, reconstructions, latent scatter.

Every function returns a matplotlib ``Figure`` (the API) and writes it as PNG when ``path`` is given
(what the CLI does). The non-interactive Agg backend is used, so this works without a display.
Colours come from the Okabe-Ito palette, which stays distinguishable under colour blindness.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402
import numpy as np  # noqa: E402

from fewlabel.errors import InputError  # noqa: E402

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]


MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def class_styles(n: int) -> list[tuple[str, str]]:
    """(colour, marker) for ``n`` classes, every pair different: Okabe-Ito up to 8 classes, tab10 / tab20 up to
    20, then tab20's colours again with another marker for each further round of 20."""
    if n <= len(OKABE_ITO):
        return [(c, "o") for c in OKABE_ITO[:n]]
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    size = 10 if n <= 10 else 20
    return [(matplotlib.colors.to_hex(cmap(i % size)), MARKERS[(i // size) % len(MARKERS)]) for i in range(n)]


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def loss_curves(history, metrics=("loss",), path=None, title=None):
    """Training and validation curves per epoch from a :class:`fewlabel.train.History` (or its dict)."""
    h = history.history if hasattr(history, "history") else history["history"]
    epochs = history.epochs if hasattr(history, "epochs") else history["epochs"]
    missing = [m for m in metrics if m not in h]
    if missing:
        raise InputError(f"the history has no {missing}; it has {sorted(h)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        ax.plot(epochs, h[m], color=OKABE_ITO[4], marker=".", label=f"training {m}")
        if f"val_{m}" in h:
            ax.plot(epochs, h[f"val_{m}"], color=OKABE_ITO[5], marker=".", label=f"validation {m}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def _as_images(X, name):
    X = np.asarray(X)
    if X.ndim == 2:
        side = int(round(np.sqrt(X.shape[1])))
        if side * side != X.shape[1]:
            raise InputError(f"{name}: rows of {X.shape[1]} values are not square images; pass (N, H, W[, C])")
        X = X.reshape(len(X), side, side)
    if X.ndim not in (3, 4):
        raise InputError(f"{name}: expected images (N, H, W) or (N, H, W, C), got shape {X.shape}")
    return X


def reconstructions(originals, reconstructed, n=8, path=None, title=None):
    """Originals (top row) above their reconstructions (bottom row), ``n`` of them."""
    a, b = _as_images(originals, "originals"), _as_images(reconstructed, "reconstructed")
    if a.shape[1:] != b.shape[1:] or len(b) < min(n, len(a)):
        raise InputError(f"originals {a.shape} and reconstructions {b.shape} do not match")
    n = min(n, len(a))
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 2.9), squeeze=False)
    vmax = 255.0 if a.dtype == np.uint8 or a.max() > 1.0 else 1.0
    for i in range(n):
        for row, imgs in ((0, a), (1, b)):
            ax = axes[row, i]
            img = np.clip(np.asarray(imgs[i], dtype=np.float32) / vmax, 0, 1)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, i].set_title(str(i), fontsize=8)
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("output")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def latent_scatter(codes, labels=None, path=None, title=None, class_names=None, ax=None):
    """2-D codes as a scatter plot, coloured by label (or cluster) when given. Integer labels of -1 mark
    unlabeled rows (scikit-learn's convention), drawn in grey beneath the others; ``class_names`` name the
    other labels present, in sorted order."""
    Z = np.asarray(codes, dtype=np.float32)
    if Z.ndim != 2 or Z.shape[1] != 2:
        raise InputError(f"latent_scatter needs 2-D codes of shape (N, 2), got {Z.shape}; map them to 2-D first")
    if labels is not None and len(labels) != len(Z):
        raise InputError(f"{len(Z)} codes but {len(labels)} labels")
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if labels is None:
        ax.scatter(Z[:, 0], Z[:, 1], s=3, color=OKABE_ITO[4], alpha=0.6)
    else:
        labels = np.asarray(labels)
        unlabeled = labels == -1 if labels.dtype.kind in "iu" else np.zeros(len(labels), bool)
        if unlabeled.any():
            ax.scatter(Z[unlabeled, 0], Z[unlabeled, 1], s=2, color="0.75", alpha=0.4, label="unlabeled")
        classes = np.unique(labels[~unlabeled])
        for i, (c, (colour, marker)) in enumerate(zip(classes, class_styles(len(classes)))):
            name = class_names[i] if class_names is not None else str(c)
            m = labels == c
            ax.scatter(Z[m, 0], Z[m, 1], s=3 if marker == "o" else 5, color=colour, marker=marker, alpha=0.6,
                       label=name)
        if len(classes) + unlabeled.any() <= 12:
            ax.legend(markerscale=4, fontsize=7, loc="best")
        else:  # many classes: the legend beside the map, not over it
            ax.legend(markerscale=3, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      ncol=1 + len(classes) // 25)
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
    if title:
        ax.set_title(title)
    return _finish(fig, path) if fig is not None else ax.figure


def image_grid(images, ncols=8, path=None, title=None, row_labels=None, titles=None):
    """Images ``(N, H, W[, C])`` (uint8, or floats on the 0..1 or 0..255 scale), or flat rows of a square
    number of values, in a grid ``ncols`` wide; ``row_labels``: one label per grid row, at its left;
    ``titles``: one short caption per image, above it."""
    X = _as_images(images, "images")
    if len(X) == 0:
        raise InputError("images is empty: nothing to show")
    if not isinstance(ncols, (int, np.integer)) or isinstance(ncols, bool) or ncols < 1:
        raise InputError(f"ncols must be a positive integer, got {ncols!r}")
    if X.ndim == 4 and X.shape[-1] == 1:
        X = X[..., 0]
    if X.ndim == 4 and X.shape[-1] not in (3, 4):
        raise InputError(f"images: {X.shape[-1]} channels cannot be shown; expected 1 (gray), 3 (RGB) or 4 (RGBA)")
    ncols = min(int(ncols), len(X))
    nrows = -(-len(X) // ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise InputError(f"{len(row_labels)} row_labels for {nrows} rows of images")
    if titles is not None and len(titles) != len(X):
        raise InputError(f"{len(titles)} titles for {len(X)} images")
    vmax = 255.0 if X.dtype == np.uint8 or float(np.max(X)) > 1.0 else 1.0
    cell = 1.1 if titles is None else 1.5
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols + (0.8 if row_labels is not None else 0),
                                                    cell * nrows + (0.4 if title else 0)), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k < len(X):
            img = np.clip(np.asarray(X[k], dtype=np.float32) / vmax, 0, 1)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=6)
        else:
            ax.axis("off")
    if row_labels is not None:
        for r, label in enumerate(row_labels):
            axes[r, 0].set_ylabel(str(label), fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def vae_samples(vae, n=64, path=None, random_state=0):
    """``n`` examples generated by a fitted variational autoencoder (codes drawn from its prior)."""
    images = vae.sample(n, random_state=random_state)
    return image_grid(images, ncols=min(8, n), path=path, title=f"{n} samples from the prior N(0, I)")


def interpolation_grid(vae, pairs, steps=8, path=None):
    """One row per pair ``(x_start, x_end)``: the decoded straight line between their codes, left to right."""
    pairs = list(pairs)
    if not pairs:
        raise InputError("pairs is empty: give at least one (x_start, x_end) pair of inputs")
    rows = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise InputError(f"pairs[{i}] has {len(pair)} inputs; each pair is (x_start, x_end)")
        rows.append(vae.interpolate(pair[0], pair[1], steps=steps))
    return image_grid(np.concatenate(rows), ncols=steps, path=path, title="interpolation between codes",
                      row_labels=[f"pair {i + 1}" for i in range(len(rows))])


def present_names(codes, class_names):
    """The names of the classes present in ``codes`` (codes into ``class_names``; -1 unlabeled), in the order
    :func:`latent_scatter` draws them; None without names."""
    if class_names is None or codes is None:
        return None
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":  # labels that are not codes: the names as given
        return list(class_names)
    return [str(class_names[int(c)]) for c in np.unique(codes[codes != -1])]


def side_by_side_maps(left, right, labels=None, titles=("raw input", "learned codes"), path=None, title=None,
                      class_names=None):
    """Two 2-D maps of the same points side by side (e.g. the raw input and the learned codes), coloured
    by ``labels`` when given; the legend is drawn once, on the right."""
    L = np.asarray(left, dtype=np.float32)
    R = np.asarray(right, dtype=np.float32)
    if len(L) != len(R):
        raise InputError(f"the two maps must show the same points: {len(L)} points on the left, {len(R)} on the right")
    if len(titles) != 2:
        raise InputError(f"titles needs two entries (left, right), got {len(titles)}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, Z, t in zip(axes, (L, R), titles):
        latent_scatter(Z, labels, title=t, class_names=class_names, ax=ax)
        ax.set_xlabel("map 1")
        ax.set_ylabel("map 2")
    if labels is not None and axes[0].get_legend() is not None:
        axes[0].get_legend().remove()
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def learning_curves(curves: dict, path=None, title=None, ylabel="test accuracy"):
    """Accuracy against the number of labels, one line per method (mean, with a band of +-1 std).

    ``curves``: ``{method: {n_labels: [score per seed, ...]}}``, e.g. semi-supervised and supervised.
    """
    if not curves:
        raise InputError("learning_curves needs at least one method's scores")
    fig, ax = plt.subplots(figsize=(6, 4.2))
    markers = "osD^v<>p"
    for i, (name, by_n) in enumerate(curves.items()):
        if not by_n:
            raise InputError(f"method {name!r} has no scores")
        ns = sorted(int(n) for n in by_n)
        vals = [np.asarray(by_n[n] if n in by_n else by_n[str(n)], dtype=float) for n in ns]
        mean = np.array([v.mean() for v in vals])
        std = np.array([v.std() for v in vals])
        colour = OKABE_ITO[(4, 5, 2, 0, 6, 1, 7, 3)[i % 8]]
        ax.plot(ns, mean, marker=markers[i % len(markers)], color=colour, label=name)
        ax.fill_between(ns, mean - std, mean + std, color=colour, alpha=0.2)
    ax.set_xscale("log")
    # ticks at the label counts measured, written out (5,000 rather than 5x10^3), no unlabeled minor ticks
    ax.set_xticks(sorted({int(n) for by_n in curves.values() for n in by_n}))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{round(v):,}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("labeled examples")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title, fontsize=10)
    return _finish(fig, path)


def confusion_matrix(matrix, class_names=None, path=None, title=None, normalize=True):
    """A confusion matrix (rows: true class, columns: predicted) as a heat map, each row normalised to
    fractions by default, with the values written in the cells."""
    M = np.asarray(matrix, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise InputError(f"a confusion matrix must be square and non-empty, got shape {M.shape}")
    names = [str(i) for i in range(len(M))] if class_names is None else [str(c) for c in class_names]
    if len(names) != len(M):
        raise InputError(f"{len(names)} class names for a {len(M)}x{len(M)} matrix")
    shown = M / np.maximum(M.sum(axis=1, keepdims=True), 1) if normalize else M
    size = max(4.0, 0.5 * len(M) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(shown, cmap="viridis", vmin=0, vmax=1 if normalize else None)  # viridis: colour-blind safe
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(M)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(M)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(M) <= 20:
        for i in range(len(M)):
            for j in range(len(M)):
                v = shown[i, j]
                ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize=7,
                        color="white" if v < 0.5 * (shown.max() or 1) else "black")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def error_histogram(errors: dict, threshold=None, path=None, title=None, xlabel="reconstruction error"):
    """Histograms of reconstruction errors, one per group (e.g. ``{"normal": e1, "outliers": e2}``), on
    shared log-spaced bins, with the detector's cut-off as a vertical line."""
    groups = {name: np.asarray(v, dtype=float).ravel() for name, v in errors.items()}
    if not groups or any(len(v) == 0 for v in groups.values()):
        raise InputError("error_histogram needs at least one non-empty group of errors")
    values = np.concatenate(list(groups.values()))
    if not np.isfinite(values).all():
        raise InputError("error_histogram: the errors contain NaN or infinity")
    lo, hi = max(values.min(), 1e-12), max(values.max(), 1e-11)
    bins = np.geomspace(lo, hi * 1.0001, 50) if hi > lo else 20
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, v) in enumerate(groups.items()):
        ax.hist(np.maximum(v, 1e-12), bins=bins, alpha=0.55, color=OKABE_ITO[(4, 5, 2, 0, 6)[i % 5]],
                label=f"{name} ({len(v)})", weights=np.full(len(v), 1 / len(v)))  # each group sums to 1
    if threshold is not None:
        ax.axvline(threshold, color=OKABE_ITO[7], linestyle="--", label=f"cut-off {threshold:.4g}")
    if isinstance(bins, np.ndarray):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of the group's rows")
    ax.legend()
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def write_autoencoder_figures(ae, X, y, out: Path, title: str, class_names=None) -> list[str]:
    """A fitted pretrainer's figures: loss curves, reconstructions, a 2-D map of the codes (PCA when wider
    than 2) coloured by ``y`` (codes into ``class_names`` when given, -1 for unlabeled rows), VAE samples and
    interpolations; the names of the files written into the folder ``out``."""
    written = []
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(X), min(len(X), 5000), replace=False))
    Xs, ys = X[idx], (None if y is None else np.asarray(y)[idx])
    loss_curves(ae.history_, path=out / "loss.png", title=title)
    written.append("loss.png")
    images = X.ndim >= 3 or int(round(np.sqrt(X.shape[1]))) ** 2 == X.shape[1]
    if images and hasattr(ae, "reconstruct"):
        reconstructions(X[:8], ae.reconstruct(X[:8]), path=out / "reconstructions.png", title=title)
        written.append("reconstructions.png")
    codes = ae.transform(Xs)
    how = "codes"
    if codes.shape[1] > 2:
        from sklearn.decomposition import PCA

        codes, how = PCA(2, random_state=0).fit_transform(codes), f"PCA of the {codes.shape[1]}-d codes"
    latent_scatter(codes, ys, path=out / "latent.png", title=f"{title}: {how}",
                   class_names=present_names(ys, class_names))
    written.append("latent.png")
    if hasattr(ae, "sample") and images:
        vae_samples(ae, n=64, path=out / "samples.png")
        interpolation_grid(ae, [(X[0], X[1]), (X[2], X[3])], steps=8, path=out / "interpolation.png")
        written += ["samples.png", "interpolation.png"]
    plt.close("all")
    return written
