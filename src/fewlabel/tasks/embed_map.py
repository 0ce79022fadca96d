"""2-D maps of codes: PCA, t-SNE or UMAP, and the side-by-side picture "raw input" vs "learned codes".

:func:`embed_2d` maps any rows to 2-D; :func:`run_map` is the whole job the command line runs: it maps
the raw input and the encoder's codes of the same (sub-sampled) rows with the same method and draws them
side by side, coloured by label, so one can see what the encoder learned.

t-SNE and UMAP cost O(n log n) to O(n^2) and are slow on 70,000 rows, hence ``max_points``.
UMAP needs the optional ``umap-learn`` package (``pip install fewlabel[umap]``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from fewlabel._base import column_scaling, scaled_columns, validate_X
from fewlabel.errors import InputError
from fewlabel.tasks.cluster import check_y, encode, subsample
from fewlabel.tasks.manifold import UMAPReducer, check_codes
from fewlabel.train.state import write_json_atomic

MAP_METHODS = ("pca", "tsne", "umap")

__all__ = ["embed_2d", "run_map"]


#: The fewest rows each map method can place on a plane.
MIN_ROWS = {"pca": 2, "tsne": 4, "umap": 4}


def check_map_rows(n_rows: int, method: str, where: str = "the data") -> None:
    """Refuse, before any work, a map of fewer rows than ``method`` needs."""
    need = MIN_ROWS.get(method, 1)
    if n_rows < need:
        raise InputError(f"a {method} map needs at least {need} rows, but {where} gives {n_rows}")


def embed_2d(Z, method="pca", random_state=0, **kw) -> np.ndarray:
    """The rows of ``Z`` as points on a plane: (n_rows, 2) float32.

    ``method``: ``'pca'`` (fast, linear), ``'tsne'`` (``sklearn.manifold.TSNE``, ``init='pca'``; the
    perplexity is lowered for fewer than 4 x 30 rows) or ``'umap'`` (``umap-learn``; ``n_neighbors=15``,
    ``min_dist=0.1`` unless given). Extra keyword arguments go to the underlying estimator.
    """
    if method not in MAP_METHODS:
        raise InputError(f"unknown map method {method!r}: choose one of {MAP_METHODS}")
    Z = check_codes(Z)
    n, d = Z.shape
    check_map_rows(n, method)
    if method == "pca":
        P = PCA(n_components=min(2, n, d), random_state=random_state, **kw).fit_transform(Z)
        if P.shape[1] < 2:  # one feature: the second axis stays 0
            P = np.column_stack([P, np.zeros((n, 2 - P.shape[1]))])
        return P.astype(np.float32)
    if method == "tsne":
        kw.setdefault("perplexity", min(30.0, (n - 1) / 3.0))
        kw.setdefault("init", "pca")
        return TSNE(n_components=2, random_state=random_state, **kw).fit_transform(Z).astype(np.float32)
    n_neighbors = kw.pop("n_neighbors", 15)
    min_dist = kw.pop("min_dist", 0.1)
    reducer = UMAPReducer(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=random_state,
                          umap_kwargs=kw or None)
    return reducer.fit_transform(Z)


def run_map(X, y=None, *, encoder=None, method="umap", out=None, seed=0, max_points=5000, class_names=None,
            **kw) -> dict:
    """The ``fewlabel map`` job: the raw input and its codes, mapped to 2-D the same way, side by side.

    At most ``max_points`` rows are used (drawn by ``seed``; stratified by ``y`` when given, so every class
    keeps its share). Codes are ``encoder.transform`` of those rows; without an encoder both maps show the
    raw input (flattened, uint8 scaled to [0, 1]; a table of floats whose values leave [0, 1] centred and
    scaled column by column, as the default autoencoder scales it, else the column in the largest units
    would draw the map alone). ``class_names`` name the integer labels 0, 1, ... of ``y``
    in the legend (a label of -1 marks an unlabeled row, drawn in grey). With ``out`` (a folder): ``map.png``
    and ``map.json`` (method, point count, timings; written atomically). Extra keyword arguments go to :func:`embed_2d`.

    Returns ``{"raw": (n, 2), "codes": (n, 2), "indices", "labels", "method", "n_points", "seconds"}``.
    """
    if method not in MAP_METHODS:
        raise InputError(f"unknown map method {method!r}: choose one of {MAP_METHODS}")
    X = validate_X(X)
    y = check_y(y, len(X))
    idx = subsample(len(X), max_points, y, seed)
    Xs = X[idx]
    ys = y[idx] if y is not None else None
    t0 = time.perf_counter()
    scaled = bool(Xs.ndim == 2 and Xs.dtype != np.uint8 and (Xs.min() < 0 or Xs.max() > 1))
    raw = embed_2d(scaled_columns(Xs, column_scaling(Xs)) if scaled else Xs, method, random_state=seed, **kw)
    t_raw = time.perf_counter() - t0
    raw_title = "raw input (columns scaled)" if scaled else "raw input"
    if encoder is None:
        codes, t_codes, code_dim = raw, 0.0, int(np.prod(Xs.shape[1:]))
        titles = (raw_title, "codes: raw input (no encoder given)")
    else:
        t1 = time.perf_counter()
        Z = encode(Xs, encoder)
        codes = embed_2d(Z, method, random_state=seed, **kw)
        t_codes, code_dim = time.perf_counter() - t1, int(Z.shape[1])
        titles = (raw_title, "learned codes")
    name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[method]
    result = {"method": method, "n_points": int(len(idx)), "n_rows": int(len(X)),
              "seed": None if seed is None else int(seed),
              "max_points": max_points, "stratified": ys is not None,
              "encoder": type(encoder).__name__ if encoder is not None else None,
              "input_dim": int(np.prod(Xs.shape[1:])), "code_dim": code_dim, "raw_columns_scaled": scaled,
              "seconds": {"raw": round(t_raw, 3), "codes": round(t_codes, 3)}}
    if out is not None:
        import matplotlib.pyplot as plt  # noqa: PLC0415

        from fewlabel import plots  # noqa: PLC0415

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        fig = plots.side_by_side_maps(raw, codes, labels=ys, titles=titles, path=out / "map.png",
                                      title=f"{name} map of {len(idx)} points",
                                      class_names=plots.present_names(ys, class_names))
        plt.close(fig)
        result["files"] = ["map.png", "map.json"]
        write_json_atomic(out / "map.json", result)
    result.update({"raw": raw, "codes": codes, "indices": idx, "labels": ys})
    return result
