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
import numpy as np  # noqa: E402

from fewlabel.errors import InputError  # noqa: E402

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]


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
    """2-D codes as a scatter plot, coloured by label (or cluster) when given."""
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
        classes = np.unique(labels)
        cmap = plt.get_cmap("tab10" if len(classes) > len(OKABE_ITO) else None)
        for i, c in enumerate(classes):
            colour = OKABE_ITO[i] if len(classes) <= len(OKABE_ITO) else cmap(i % 10)
            name = class_names[i] if class_names is not None else str(c)
            m = labels == c
            ax.scatter(Z[m, 0], Z[m, 1], s=3, color=colour, alpha=0.6, label=name)
        ax.legend(markerscale=4, fontsize=7, loc="best")
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
    if title:
        ax.set_title(title)
    return _finish(fig, path) if fig is not None else ax.figure
