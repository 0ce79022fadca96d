"""A linear model on the labeled rows: scikit-learn's ``LogisticRegression`` with its own defaults (L2, ``C=1``).

Two uses, one fit. The classifier scores it beside its network as the model on the labels alone where the rows
are a table (:func:`~fewlabel.tasks.route.choose_labels_model`): on a few labels of a few columns a linear model
often predicts the held-out labels better than any network, and it is the peer a user would try first. The
accuracy estimate of ``fewlabel classify`` reports it on the same folds (:mod:`fewlabel.tasks.estimate`).
"""

from __future__ import annotations

import warnings

import numpy as np


def linear_probabilities(Z: np.ndarray, y_codes: np.ndarray, train_rows: np.ndarray, rows: np.ndarray,
                         n_classes: int, seed: int = 0, scale: float = 1.0,
                         scale_columns: bool = False) -> np.ndarray:
    """Class probabilities of ``Z[rows]`` (one column per class code, ``n_classes`` of them) from a logistic
    regression fitted on ``Z[train_rows]`` with labels ``y_codes[train_rows]``. ``Z``: the rows (flattened here),
    each row taken times ``scale`` (1/255 for uint8 pixels) as it is used, so a large ``Z`` is never copied
    whole; ``scale_columns``: standardise the columns by the training rows first. A class absent from the
    training rows gets probability 0; with one class present every row gets it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Z = Z.reshape(len(Z), -1)
    out = np.zeros((len(rows), n_classes))
    classes = np.unique(y_codes[train_rows])
    if len(classes) == 1:
        out[:, classes[0]] = 1.0
        return out
    model = LogisticRegression(max_iter=2000, random_state=seed)
    if scale_columns:
        model = make_pipeline(StandardScaler(), model)
    scale = np.float32(scale)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*(converge|lbfgs).*")
        model.fit(np.asarray(Z[train_rows], np.float32) * scale, y_codes[train_rows])
        for start in range(0, len(rows), 65536):  # a table of millions of rows is predicted a slice at a time
            part = rows[start:start + 65536]
            out[start:start + len(part), classes] = model.predict_proba(np.asarray(Z[part], np.float32) * scale)
    return out
