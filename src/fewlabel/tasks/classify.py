"""Semi-supervised classification: an encoder learned from every row, a head trained on the labeled ones.

``fit(X, y)`` follows ``sklearn.semi_supervised``: ``y == -1`` marks an unlabeled row. The unlabeled rows
are used in two ways, separately or together:

* **pretraining** (``pretrain='autoencoder' | 'denoising' | 'vae' | 'byol'``, or ``encoder=`` a fitted or
  saved fewlabel autoencoder or BYOL): the encoder first learns from every row (to reconstruct it, or with
  BYOL to predict one augmented view's projection from another's), then a head is trained on the labeled
  rows (the encoder frozen, fine-tuned, or frozen first and then fine-tuned);
* **consistency training** (``consistency='fixmatch'``, image rows): each step, the model's confident
  predictions on weakly augmented unlabeled images become the targets for strongly augmented views of
  the same images (Sohn et al., 2020).

With ``pretrain=None`` and ``consistency=None`` the same network is trained from scratch on the labeled
rows alone: the supervised baseline every report shows beside the semi-supervised result.
"""

from __future__ import annotations

import contextlib

import math
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin, TransformerMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted
from torch import nn

from fewlabel._base import TorchEstimator, data_record, to_float, validate_X
from fewlabel.augment import strong_augment, weak_augment
from fewlabel.checks import labels_match_rows, positive_int
from fewlabel.datasets.subsets import stratified_split
from fewlabel.errors import InputError, TooLittleDataWarning
from fewlabel.nets.classifier import HEADS, EncoderClassifierNet
from fewlabel.nets.conv import ConvEncoder
from fewlabel.nets.dense import MLP
from fewlabel.nets.dense import activation as make_activation
from fewlabel.nets.encoder import POOLINGS, build_encoder
from fewlabel.nets.resnet import ResNet
from fewlabel.registry import register
from fewlabel.tasks.encoders import encoder_of
from fewlabel.train import History, Trainer, predict_batches
from fewlabel.train.config import make_trainer, split_budget, training_settings
from fewlabel.train.ema import check_decay
from fewlabel.train.loop import SCHEDULES, make_optimizer
from fewlabel.train.losses import weighted_cross_entropy

ENCODERS = ("auto", "dense", "conv", "resnet18")
PRETRAIN = (None, "autoencoder", "denoising", "vae", "byol")
FREEZE = (False, True, "then_unfreeze")
CONSISTENCY = (None, "fixmatch")
PROPAGATE = (None, "auto", "umap", "pca")
AUGMENT = (False, True, "auto")
#: Training makes at least this many optimizer steps however few rows X has (unless ``max_steps`` is given):
#: a few hundred rows are otherwise a few steps an epoch, too few to fit a network (3,000 MNIST digits,
#: 3 epochs at batch 256: 36 steps, 0.56 test accuracy).
MIN_STEPS = 200
UMAP_DIMS, UMAP_NEIGHBORS, PCA_DIMS = 10, 15, 50
UMAP_MIN_ROWS = 200  # propagate='auto' maps fewer rows with PCA (a UMAP graph of a few dozen rows is noise)
#: The clusters' leave-one-out accuracy on the labeled rows above which their labels are taken alone
#: (below it, they are multiplied with the first network's probabilities).
CLUSTER_TRUST = 0.9
#: Below this leave-one-out accuracy the propagated labels are no better than the first network's own, and
#: the second network continues the first, the labeled rows half of its rows (Fashion-MNIST, 0.72-0.76:
#: 1,000 labels 0.852 against 0.843 for a fresh network). Between it and CLUSTER_TRUST the clusters still
#: correct the first network, and a fresh network learns more from them (2,000 MNIST digits, 100 labels,
#: 0.83: fresh 0.937, continued 0.921).
CONTINUE_BELOW = 0.8
#: Architecture parameters each named encoder does not use (set away from their defaults: a warning).
UNUSED_BY = {"dense": ("channels", "batch_norm", "stem", "width"),
             "conv": ("hidden", "latent", "latent_activation", "stem", "width"),
             "resnet18": ("hidden", "latent", "latent_activation", "channels", "batch_norm")}


#: What a classifier given a pretrained encoder does not use.
PRETRAINED_IGNORES = (*sorted({name for names in UNUSED_BY.values() for name in names}), "pretrain_epochs",
                      "pretrain_params")


def _same(a, b) -> bool:
    norm = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return norm(a) == norm(b)


#: What a saved model keeps as its ``encoder`` parameter when the encoder was passed as an estimator
#: object: the weights and the architecture are saved with the model, the object itself is not.
PRETRAINED = "pretrained"
ENCODER_LR_FACTOR = 0.1  # freeze_encoder='then_unfreeze': the encoder's learning rate relative to the head's
DENOISING = {"noise": "mask", "noise_level": 0.3}

# -- labels ------------------------------------------------------------------------------------------
def check_semi_supervised_y(y, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``y``; return (y as array, classes seen among labeled rows, mask of the labeled rows).

    Class labels are numbers or strings. An unlabeled row is ``-1`` (scikit-learn's convention); in an
    array of floats, strings or objects also NaN (or None), ``""`` or ``"?"``: one of these, not a mix
    (:func:`fewlabel.datasets.partial.unlabeled_mask`)."""
    from fewlabel.datasets.partial import unlabeled_mask

    if y is None:
        raise InputError("this classifier requires y to be passed, but the target y is None (give one label per "
                         "row and mark unlabeled rows with -1)")
    y = np.asarray(y)
    if y.ndim != 1:
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(DataConversionWarning("A column-vector y was passed when a 1d array was expected. Please "
                                                "change the shape of y to (n_samples, ), for example using ravel()."),
                          stacklevel=3)
            y = y.ravel()
        else:
            raise InputError(f"y must be 1-D (one label per row), got shape {y.shape}")
    if len(y) != n_rows:
        raise InputError(f"X has {n_rows} rows but y has {len(y)} labels; they must match")
    if y.dtype.kind == "c":
        raise InputError("Unknown label type: y holds complex numbers; a classifier needs class labels")
    if y.dtype.kind == "f":
        if np.isinf(y).any():
            raise InputError("y contains infinity; mark unlabeled rows with -1 instead")
        finite = y[np.isfinite(y)]
        if (finite != np.round(finite)).any():
            raise InputError("Unknown label type: y holds continuous values (non-integer floats); a classifier "
                             "needs class labels")
    numeric = y.dtype.kind in "iuf"
    if numeric and ((y < 0) & (y != -1)).any():
        bad = np.unique(y[(y < 0) & (y != -1)])
        raise InputError(f"y holds negative labels other than -1 ({bad[:5].tolist()}): -1 marks an unlabeled row, so "
                         "class labels must be >= 0 (encode them, e.g. with sklearn.preprocessing.LabelEncoder)")
    labeled = ~unlabeled_mask(y, "y")
    if not labeled.any():
        raise InputError("y has no labeled row (every entry is -1): at least one labeled example per class is needed")
    if y.dtype.kind == "O":
        values = y[labeled].tolist()
        if all(isinstance(v, str) for v in values):
            classes = np.unique(np.asarray(values, dtype=str))
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
            classes = np.unique(np.asarray(values, dtype=np.int64))
        else:
            kinds = sorted({type(v).__name__ for v in values})
            raise InputError(f"y mixes label types ({', '.join(kinds)}): class labels must be all strings or all "
                             "whole numbers")
    else:
        classes = np.unique(y[labeled])
    if len(classes) < 2:
        raise InputError(f"only one class ({classes.tolist()[0]!r}) among the labeled rows; a classifier needs at "
                         "least two")
    return y, classes, labeled


# a validation loss over fewer labeled rows than this is too noisy to choose an epoch by
MIN_VALIDATION_ROWS = 20


def _concat_histories(first: History, second: History) -> History:
    """One history of two consecutive training phases, epochs numbered on."""
    out = History()
    for h, offset in ((first, 0), (second, len(first.epochs))):
        for i, e in enumerate(h.epochs):
            out.append(e + offset, {k: v[i] for k, v in h.history.items()})
    out.stopped_early = second.stopped_early
    out.best_epoch = None if second.best_epoch is None else second.best_epoch + len(first.epochs)
    return out


def _propagation_record(info):
    """``propagation_`` as JSON for the saved model (the first network's history as its dict)."""
    if info is None:
        return None
    first = info.get("first_history")
    return {**info, "first_history": first.to_dict() if isinstance(first, History) else first}


def _is_images(shape) -> bool:
    return len(tuple(shape)) in (2, 3)


@contextlib.contextmanager
def _teacher_mode(net: torch.nn.Module):
    """Dropout off, batch-norm still normalising by the batch but not updating its running statistics."""
    dropouts = [m for m in net.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.training]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in dropouts:
        m.eval()
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield net
    finally:
        for m in dropouts:
            m.train()
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


# -- the estimator -----------------------------------------------------------------------------------------
@register
@training_settings(epochs=5)
class SemiSupervisedClassifier(ClassifierMixin, TransformerMixin, TorchEstimator):
    """A network (encoder + head) that learns from the labeled rows and, through them, from the rest.

    ``fit(X, y)``: ``y == -1`` marks an unlabeled row (scikit-learn's convention); class labels are numbers or
    strings, and in an array of strings or objects an unlabeled row may also be None, NaN, ``""`` or ``"?"``
    (one marking per ``y``). Rows are vectors or images (H, W) / (H, W, C); uint8 images are scaled to [0, 1];
    with ``standardize='auto'`` (the default) the columns of a float table are centred and scaled by their mean
    and spread over every row (``standardize_``; not for a given pretrained encoder, which has its own scale).

    What the defaults do (``propagate='auto'``, ``encoder='auto'``, ``augment='auto'``, no pretraining):
    every row is mapped by UMAP to 10 dimensions (PCA when umap-learn is missing or there are fewer than
    :data:`UMAP_MIN_ROWS` rows; the codes of a pretrained encoder when there is one), where a Gaussian
    mixture finds clusters and each cluster takes the label distribution of its labeled rows
    (:func:`~fewlabel.tasks.propagate.cluster_label_distribution`). Where those cluster names are right
    for the labeled rows (leave-one-out accuracy at least :data:`CLUSTER_TRUST`) they are every row's
    label; where clusters mix classes, a first network is trained on the labeled rows and its
    probabilities are multiplied with the clusters', so each corrects the other. Then the network
    (convolutional for image rows, dense for vectors; shifted views of images) is trained on the labeled
    rows plus every row whose propagated label is at least ``pseudo_threshold`` confident (weighted by
    that confidence), and it is the model: a fresh network, except where the clusters' leave-one-out
    accuracy is below :data:`CONTINUE_BELOW`: there it is a copy of the first network, with the labeled rows
    repeated until they are half of the rows it sees (propagated labels that are no better than the first
    network's own must not outvote the true ones).
    ``propagation_`` records the embedding, the clusters' leave-one-out accuracy, which source led, how
    many unlabeled rows got a label and ``first_history`` (the first network's history, or None). With
    every row labeled there is nothing to propagate.
    ``propagate=None`` trains on the labeled rows alone (the supervised baseline, or pretraining /
    FixMatch); 'umap' or 'pca' choose the map. Issue 14's measurements (README, "Few labels") chose this
    route over pretraining + fine-tuning and FixMatch.

    The encoder (``encoder``; 'auto': 'conv' for image rows, 'dense' for vectors):
        'dense': an MLP ``input -> hidden... -> latent`` (``activation``, ``latent_activation``);
        'conv': a :class:`~fewlabel.nets.conv.ConvEncoder` (``channels``, 3x3 convolutions, ``batch_norm``,
        2x2 max-pooling per stage) whose last feature map is flattened (``pooling='flatten'``, or 'auto':
        3x3x128 on 28x28 images) or averaged per channel (``pooling='global'``), image rows only;
        'resnet18': :func:`~fewlabel.nets.resnet.resnet18` (``stem``, ``width`` channels in its first stage),
        its last feature map averaged per channel (``pooling='auto'`` or 'global': 8 * ``width`` values) or
        flattened, image rows only;
        a fitted fewlabel pretrainer (an autoencoder, :class:`~fewlabel.pretrain.byol.BYOL`: anything with
        ``export_encoder(pooling)``, see :class:`~fewlabel.nets.encoder.EncoderSpec`), or the path (str or Path)
        of one saved with ``fewlabel.save``: its encoder is copied (its rows must have X's shape; with
        ``pooling='auto'`` the head is fed exactly the codes the pretrainer's ``transform`` gives: for a
        variational autoencoder the mean code, for BYOL its representation) and ``pretrain`` is ignored.
        A model saved from such a
        classifier keeps ``encoder='pretrained'`` (:data:`PRETRAINED`) in its parameters (the
        architecture and weights are saved with it): to refit it, set ``encoder`` again.

    Pretraining (``pretrain``), on *all* rows before the head is trained, as the encoder of the matching
    autoencoder estimator (same architecture), for ``pretrain_epochs``: 'autoencoder' (reconstruction,
    :class:`~fewlabel.pretrain.autoencoder.Autoencoder` / ``ConvAutoencoder``), 'denoising' (the same, from
    inputs with 30% of the values masked), 'vae' (a :class:`~fewlabel.pretrain.variational.VariationalAutoencoder`:
    its mean code, from its dense or convolutional encoder, which has no batch norm),
    'byol' (:class:`~fewlabel.pretrain.byol.BYOL`, self-supervised from two augmented views of each image;
    encoder 'conv' or 'resnet18', image rows only), or None (no pretraining: the supervised baseline).
    ``pretrain_params``: a dict of parameters for the pretraining estimator, over the ones this classifier
    passes on (``optimizer``, ``lr``, ``weight_decay``, ``batch_size``, ``pretrain_epochs`` as ``epochs``,
    and the architecture), e.g. ``{"lr": 3e-4, "crop_scale": [0.2, 1.0]}`` for BYOL.

    The head: ``head='mlp'`` (``head_hidden`` layers) or 'linear'; ``dropout`` on the code and after each
    hidden layer of the head.

    ``freeze_encoder``: False (train everything), True (train only the head; its encoder stays exactly as
    it was, batch-norm statistics included: with ``head='linear'`` a linear probe; with no pretrained
    encoder, a probe of a random one), 'then_unfreeze' (the
    head alone for ``freeze_epochs``, then everything for the remaining ``epochs - freeze_epochs`` epochs,
    the encoder at a tenth of ``lr``).

    Consistency training (``consistency='fixmatch'``, image rows only): each step takes
    ``batch_size // (1 + unlabeled_ratio)`` (at least 1) labeled rows drawn at random and the rest of
    ``batch_size`` from all of X (labeled or not; ``unlabeled_ratio`` times as many with the defaults), and
    minimises the cross-entropy of the weakly augmented labeled rows plus ``unlabeled_weight`` times
    the mean over the batch of ``[max p(weak(u)) >= threshold] * CE(strong(u), argmax p(weak(u)))``, the
    pseudo-labels taken without gradient. An epoch is one pass over all of X. ``history_`` then also has
    ``supervised``, ``unlabeled`` and ``mask_rate`` (the fraction of confident pseudo-labels).

    Training the classifier: ``optimizer`` ('adam', 'adamw', 'sgd' with momentum 0.9), ``lr``,
    ``weight_decay``, ``schedule`` (None: constant; 'cosine' decays to 0 per step; see
    :class:`~fewlabel.train.Trainer`), ``ema`` (None, or a decay such as 0.999: the weights kept, validated
    and used for prediction are an exponential moving average of the trained ones, as FixMatch evaluates).

    ``augment=True``: weak augmentation (random shifts) of the images in supervised training too (a fair
    baseline for consistency training; image rows only); 'auto' (the default): on for image rows with a
    convolutional encoder built here ('conv', 'resnet18'; not for a given pretrained one).

    Training length: ``epochs`` passes over all rows of X (however few are labeled), at least
    :data:`MIN_STEPS` optimizer steps in all when ``max_steps`` is not given; with propagation the network
    is trained twice (before and after the labels travel), each time for that length, and a ``max_steps``
    budget is shared equally between the two.

    Validation: ``validation_fraction`` of the *labeled* rows, stratified by class, held out from training
    (their loss and accuracy become ``val_loss``/``val_accuracy`` and drive ``early_stopping``).

    How far to trust each answer: :meth:`predict_details` gives each row's confidence, the margin to the second
    class and, once :meth:`fit_unfamiliarity` has fitted a detector on the same rows (``fewlabel classify``
    does), an unfamiliarity score: a :class:`~fewlabel.tasks.detect.ReconstructionDetector` with its defaults
    scores each row, divided by its cut-off (``contamination='auto'``), so that 1 or more flags a row unlike the
    rows the classifier learned from (``detector_``).

    Fitted attributes: ``classes_``, ``history_`` (per-epoch ``loss``/``accuracy`` and ``val_`` ones),
    ``pretrain_history_`` (the pretraining's history, or None), ``n_labeled_``, ``input_shape_``,
    ``n_features_in_``, ``module_`` (an :class:`~fewlabel.nets.classifier.EncoderClassifierNet`),
    ``detector_`` (None until :meth:`fit_unfamiliarity`), ``standardize_``, ``training_data_`` (what it was
    trained on: rows, shape, dtype, a fingerprint, labeled rows per class), and after a fit (not saved) ``embedding_`` (the map propagation
    clustered) and ``labels_alone_proba_`` (the first network's probabilities, where the route trains one).
    Saved with the model: ``propagation_``, ``encoder_kind_``, ``augment_`` and ``estimates_`` (the accuracy
    estimates ``fewlabel classify`` measured, when it set them).
    """

    def __init__(self, encoder="auto", pretrain=None, propagate="auto", hidden=(128, 64), latent=16, activation="relu",
                 latent_activation="linear", channels=(32, 64, 128), pooling="auto", batch_norm=True, stem="auto",
                 width=64, head="mlp", head_hidden=(128,), dropout=0.3, freeze_encoder=False, freeze_epochs=5,
                 consistency=None, threshold=0.95, unlabeled_weight=1.0, unlabeled_ratio=7, augment="auto",
                 pretrain_epochs=20, pretrain_params=None, schedule=None, ema=None, validation_fraction=0.0,
                 early_stopping=None, pseudo_threshold=0.5, standardize="auto"):
        self.encoder = encoder
        self.pretrain = pretrain
        self.propagate = propagate
        self.hidden = hidden
        self.latent = latent
        self.activation = activation
        self.latent_activation = latent_activation
        self.channels = channels
        self.pooling = pooling
        self.batch_norm = batch_norm
        self.stem = stem
        self.width = width
        self.head = head
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.freeze_encoder = freeze_encoder
        self.freeze_epochs = freeze_epochs
        self.consistency = consistency
        self.threshold = threshold
        self.unlabeled_weight = unlabeled_weight
        self.unlabeled_ratio = unlabeled_ratio
        self.augment = augment
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_params = pretrain_params
        self.schedule = schedule
        self.ema = ema
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.pseudo_threshold = pseudo_threshold
        self.standardize = standardize

    # -- checks ------------------------------------------------------------------------------------------
    def check_params(self) -> None:
        """Raise :class:`~fewlabel.InputError` naming a bad parameter (``fit`` does this first; call it to check
        settings before reading any data)."""
        self._check_params()

    def _check_params(self) -> None:
        self._check_training_settings()
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {self.schedule!r}: choose one of {SCHEDULES}")
        check_decay(self.ema)
        if self.pretrain not in PRETRAIN:
            raise InputError(f"unknown pretrain {self.pretrain!r}: choose one of {PRETRAIN}")
        if self.pretrain == "byol" and isinstance(self.encoder, str) and self.encoder == "dense":
            raise InputError("pretrain='byol' trains a convolutional encoder on augmented images: use "
                             "encoder='conv' or 'resnet18' (a dense encoder can be pretrained with 'autoencoder', "
                             "'denoising' or 'vae')")
        if self.pretrain_params is not None and not isinstance(self.pretrain_params, dict):
            raise InputError(f"pretrain_params must be None or a dict of the pretraining estimator's parameters, "
                             f"got {self.pretrain_params!r}")
        if self.head not in HEADS:
            raise InputError(f"unknown head {self.head!r}: choose one of {HEADS}")
        if self.pooling not in POOLINGS:
            raise InputError(f"unknown pooling {self.pooling!r}: choose one of {POOLINGS}")
        if not any(self.freeze_encoder is v or (isinstance(v, str) and self.freeze_encoder == v) for v in FREEZE):
            raise InputError(f"freeze_encoder must be False, True or 'then_unfreeze', got {self.freeze_encoder!r}")
        if self.propagate not in PROPAGATE:
            raise InputError(f"unknown propagate {self.propagate!r}: choose one of {PROPAGATE}")
        if self.propagate is not None and self.propagate != "auto" and self.consistency is not None:
            raise InputError(f"propagate={self.propagate!r} and consistency={self.consistency!r} are two ways to use "
                             "the unlabeled rows; choose one (propagate=None for consistency training)")
        if not any(self.augment is v or (isinstance(v, str) and self.augment == v) for v in AUGMENT):
            raise InputError(f"augment must be True, False or 'auto', got {self.augment!r}")
        if not isinstance(self.pseudo_threshold, (int, float)) or isinstance(self.pseudo_threshold, bool) \
                or not 0 <= self.pseudo_threshold <= 1:
            raise InputError(f"pseudo_threshold (the confidence a propagated label needs) must be in [0, 1], "
                             f"got {self.pseudo_threshold!r}")
        if self.consistency not in CONSISTENCY:
            raise InputError(f"unknown consistency {self.consistency!r}: choose one of {CONSISTENCY}")
        if self.freeze_encoder == "then_unfreeze":
            positive_int("freeze_epochs", self.freeze_epochs)
        positive_int("pretrain_epochs", self.pretrain_epochs)
        if self.consistency == "fixmatch":
            positive_int("unlabeled_ratio", self.unlabeled_ratio)
            if not isinstance(self.threshold, (int, float)) or isinstance(self.threshold, bool) \
                    or not 0 <= self.threshold <= 1:
                raise InputError(f"threshold (the confidence a pseudo-label needs) must be in [0, 1], "
                                 f"got {self.threshold!r}")
            if not isinstance(self.unlabeled_weight, (int, float)) or isinstance(self.unlabeled_weight, bool) \
                    or not math.isfinite(self.unlabeled_weight) or self.unlabeled_weight < 0:
                raise InputError(f"unlabeled_weight must be a finite number >= 0, got {self.unlabeled_weight!r}")
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.early_stopping is not None:
            positive_int("early_stopping", self.early_stopping)
        make_activation(self.activation)
        if not any(self.standardize is v or (isinstance(v, str) and self.standardize == v) for v in (True, False, "auto")):
            raise InputError(f"standardize must be True, False or 'auto', got {self.standardize!r}")
        self._warn_unused_architecture()

    def _warn_unused_architecture(self) -> None:
        """Say so when architecture parameters set away from their defaults do not apply to the encoder in
        use (a dense encoder has no ``channels``, a given pretrained encoder brings its own architecture):
        silently ignoring them would hide a mistake. ('auto' picks the encoder from the rows: nothing to say
        before they are seen.)"""
        if isinstance(self.encoder, str) and self.encoder == "auto":
            return
        if isinstance(self.encoder, str) and self.encoder in UNUSED_BY:
            unused = set(UNUSED_BY[self.encoder])
            if self.encoder == "conv" and self.pretrain == "vae":
                unused.discard("latent")  # a conv VAE's code has ``latent`` values
            what = f"encoder={self.encoder!r}"
        else:
            unused = set(PRETRAINED_IGNORES)
            what = "a given pretrained encoder (it brings its own architecture)"
        defaults = type(self)().get_params(deep=False)
        changed = sorted(n for n in unused if not _same(getattr(self, n), defaults[n]))
        if changed:
            warnings.warn(f"{', '.join(changed)} do(es) not apply to {what} and will be ignored", UserWarning,
                          stacklevel=4)

    def _encoder_kind(self, input_shape):
        """The named encoder in use ('auto': 'conv' for image rows, 'dense' for flat ones); None when an
        encoder is given."""
        enc = self.encoder
        if isinstance(enc, str) and enc == "auto":
            kind = "conv" if _is_images(input_shape) else "dense"
        elif isinstance(enc, str) and enc in ENCODERS:
            kind = enc
        else:
            return None
        if self.pretrain == "byol" and kind == "dense":
            raise InputError("pretrain='byol' trains a convolutional encoder on augmented images: give image rows "
                             "(H, W) or (H, W, C) with encoder='auto', 'conv' or 'resnet18'")
        return kind

    def _resolve_encoder(self, X):
        """The given encoder (a fitted or saved pretrainer) as an ``EncoderSpec``; None for a named one."""
        enc = self.encoder
        if isinstance(enc, str) and enc in ENCODERS:
            return None
        if isinstance(enc, str) and enc == PRETRAINED:
            raise InputError(f"encoder={PRETRAINED!r} is what a saved classifier keeps when its encoder was passed "
                             "as an estimator object; to fit again, set encoder to that pretrainer (or the path "
                             "of its saved copy)")
        if isinstance(enc, (str, os.PathLike)) and not os.path.exists(enc):
            raise InputError(f"unknown encoder {enc!r}: choose one of {ENCODERS}, a fitted fewlabel pretrainer, "
                             "or the path of one saved with fewlabel.save (no such path exists)")
        spec = encoder_of(enc, self.pooling, what="encoder")
        if tuple(spec.input_shape) != tuple(X.shape[1:]):
            raise InputError(f"the pretrained encoder ({spec.source}) was fitted on rows of shape "
                             f"{tuple(spec.input_shape)}, but X has rows of shape {tuple(X.shape[1:])}: give X in the "
                             "encoder's shape (e.g. X.reshape(len(X), *shape))")
        if float(spec.scale) != float(self.scale_):
            warnings.warn(f"the pretrained encoder was fitted on {'uint8 images' if spec.scale != 1 else 'floats'} "
                          f"but X is {'uint8' if self.scale_ != 1 else 'float'}: make sure both are on the same scale",
                          stacklevel=3)
        return spec

    def _fresh_spec(self, input_shape) -> dict:
        if self.encoder_kind_ == "dense":
            positive_int("latent", self.latent)
            body = MLP([math.prod(input_shape), *[int(h) for h in self.hidden], int(self.latent)],
                       activations=self.activation, output_activation=self.latent_activation,
                       input_shape=input_shape)
            return {"body": {"type": "MLP", "config": body.config()}, "code": "flatten", "image_shape": None}
        self._need_images(input_shape, f"encoder={self.encoder_kind_!r}")
        if self.encoder_kind_ == "resnet18":
            body = ResNet(input_shape, blocks=(2, 2, 2, 2), base=int(self.width), stem=self.stem)
        else:
            body = ConvEncoder(input_shape, channels=tuple(self.channels), activation=self.activation,
                               batch_norm=self.batch_norm, latent=None)
        return {"body": {"type": type(body).__name__, "config": body.config()}, "code": self._code_mode(),
                "image_shape": None}

    def _code_mode(self) -> str:
        """``pooling`` resolved: 'auto' flattens a conv encoder's map and averages a ResNet's."""
        if self.pooling != "auto":
            return self.pooling
        return "global" if self.encoder_kind_ == "resnet18" else "flatten"

    def _need_images(self, input_shape, what):
        if not _is_images(input_shape):
            raise InputError(f"{what} needs image rows (H, W) or (H, W, C), but X has flat rows of shape "
                             f"{tuple(input_shape)}: reshape them, e.g. X.reshape(len(X), 28, 28) for 28x28 images")

    def pretrainer_for(self, input_shape):
        """The unfitted pretraining estimator (``pretrain``) whose encoder has the architecture this classifier
        would build for rows of ``input_shape``: fit it once on the rows and pass it as ``encoder`` to several
        classifiers (other label draws of the same rows) instead of pretraining again in each."""
        self._check_params()
        if self.pretrain is None:
            raise InputError("pretrain is None: this classifier has no pretraining to share")
        self.encoder_kind_ = self._encoder_kind(tuple(input_shape))
        return self._pretrainer()

    def _pretrainer(self):
        """The pretraining estimator whose encoder has this classifier's architecture (unfitted)."""
        est = self._pretrainer_defaults()
        if self.pretrain_params:
            valid = est.get_params(deep=False)
            unknown = sorted(set(self.pretrain_params) - set(valid))
            if unknown:
                raise InputError(f"pretrain_params has {unknown}, which {type(est).__name__} does not take; its "
                                 f"parameters are {sorted(valid)}")
            est.set_params(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.pretrain_params.items()})
        return est

    def _pretrainer_defaults(self):
        from fewlabel.pretrain.autoencoder import Autoencoder, ConvAutoencoder
        from fewlabel.pretrain.byol import BYOL
        from fewlabel.pretrain.variational import VariationalAutoencoder

        common = dict(optimizer=self.optimizer, lr=self.lr, weight_decay=self.weight_decay,
                      epochs=self.pretrain_epochs, batch_size=self.batch_size, device=self.device,
                      precision=self.precision, compile=self.compile, random_state=self.random_state,
                      verbose=self.verbose)
        if self.pretrain == "byol":
            return BYOL(encoder=self.encoder_kind_, stem=self.stem, width=int(self.width), channels=tuple(self.channels),
                        batch_norm=self.batch_norm, pooling=self._code_mode(),
                        **common)
        if self.encoder_kind_ == "resnet18":
            raise InputError(f"pretrain={self.pretrain!r} trains an autoencoder, which fewlabel builds with a dense "
                             "or conv encoder: use encoder='conv' or 'dense', or pretrain='byol' for a ResNet-18")
        noise = DENOISING if self.pretrain == "denoising" else {}
        if self.pretrain == "vae":
            if self.encoder_kind_ == "dense":
                return VariationalAutoencoder(hidden=tuple(self.hidden), latent=int(self.latent),
                                              activation=self.activation, architecture="dense", **common)
            return VariationalAutoencoder(latent=int(self.latent), activation=self.activation, architecture="conv",
                                          channels=tuple(self.channels), **common)
        if self.encoder_kind_ == "dense":
            return Autoencoder(hidden=tuple(self.hidden), latent=int(self.latent), activation=self.activation,
                               latent_activation=self.latent_activation, **noise, **common)
        return ConvAutoencoder(channels=tuple(self.channels), activation=self.activation, batch_norm=self.batch_norm,
                               latent=None, code="flatten", **noise, **common)

    def _make_trainer(self, epochs, max_steps, **overrides) -> Trainer:
        return make_trainer(self, epochs=epochs, max_steps=max_steps, schedule=self.schedule, ema=self.ema,
                            **overrides)

    def _grouped_optimizer(self, net):
        """An optimizer factory giving the encoder's parameters ``ENCODER_LR_FACTOR`` times the head's rate."""
        encoder_ids = {id(p) for p in net.encoder.parameters()}
        lr, device = float(self.lr), self._device()

        def make(params):
            params = list(params)
            groups = [{"params": [p for p in params if id(p) not in encoder_ids], "lr": lr},
                      {"params": [p for p in params if id(p) in encoder_ids], "lr": lr * ENCODER_LR_FACTOR}]
            return make_optimizer(self.optimizer, [g for g in groups if g["params"]], lr=lr,
                                  weight_decay=self.weight_decay, device=device)

        return make

    def _head_on_codes(self, net, train, val):
        """(module, loss, train, val) that train ``net``'s head alone on the frozen encoder's codes."""
        scale, device = self.scale_, self._device()
        net.to(device).eval()

        def codes(rows):
            return predict_batches(lambda x: net.encoder(to_float(x, scale)), rows, batch_size=1024, device=device)

        head = nn.Sequential(net.code_dropout, net.head)

        def loss_fn(module, batch):
            logits = module(batch[0]).float()
            # propagated labels come with a third column: their confidence, their weight
            loss = weighted_cross_entropy(logits, batch[1], batch[2] if len(batch) > 2 else None)
            return {"loss": loss, "accuracy": (logits.argmax(1) == batch[1]).float().mean()}

        return head, loss_fn, (codes(train[0]), *train[1:]), None if val is None else (codes(val[0]), val[1])

    # -- the losses ------------------------------------------------------------------------------------------
    def _supervised_loss(self, weighted: bool = False):
        scale, shape, augment = self.scale_, self.input_shape_, self.augment_

        def loss_fn(net, batch):
            x = to_float(batch[0], scale)
            if augment and net.training:
                x = weak_augment(x, shape)
            logits = net(x).float()
            target = batch[1]
            loss = weighted_cross_entropy(logits, target, batch[2] if weighted and len(batch) > 2 else None)
            return {"loss": loss, "accuracy": (logits.argmax(1) == target).float().mean()}

        return loss_fn

    def _fixmatch_loss(self, X_lab, y_lab):
        scale, shape = self.scale_, self.input_shape_
        threshold, weight = float(self.threshold), float(self.unlabeled_weight)
        n_lab = max(1, self.batch_size // (1 + int(self.unlabeled_ratio)))
        supervised = self._supervised_loss()
        resident = {"X": torch.from_numpy(np.ascontiguousarray(X_lab)), "y": torch.from_numpy(y_lab)}

        def loss_fn(net, batch):
            if not net.training:  # validation: the labeled validation rows, plain cross-entropy
                return supervised(net, batch)
            xu = to_float(batch[0], scale)
            if resident["X"].device != xu.device:  # moved to the device once, on the first step
                resident["X"], resident["y"] = resident["X"].to(xu.device), resident["y"].to(xu.device)
            pick = torch.randint(len(resident["y"]), (n_lab,), device=xu.device)
            xl, yl = to_float(resident["X"][pick], scale), resident["y"][pick]
            n_u = len(xu)
            # The pseudo-labels: the weak views without dropout (dropout would lower the confidence the threshold
            # is measured against), batch-norm on the batch's statistics as in training, its running averages
            # left alone; no gradient flows through them.
            with torch.no_grad(), _teacher_mode(net):
                confidence, pseudo = torch.softmax(net(weak_augment(xu, shape)).float(), dim=1).max(dim=1)
                mask = (confidence >= threshold).float()
            # One pass over the labeled and strong views together (batch-norm sees both).
            logits = net(torch.cat([weak_augment(xl, shape), strong_augment(xu, shape)]))
            logits_l, logits_s = logits.float().split([n_lab, n_u])
            sup = F.cross_entropy(logits_l, yl)
            unl = (F.cross_entropy(logits_s, pseudo, reduction="none") * mask).mean()
            return {"loss": sup + weight * unl, "supervised": sup.detach(), "unlabeled": unl.detach(),
                    "mask_rate": mask.mean(), "accuracy": (logits_l.argmax(1) == yl).float().mean()}

        return loss_fn

    # -- fitting ------------------------------------------------------------------------------------------
    def fit(self, X, y, embedding=None):
        """Learn from every row and the labeled ones: by default, propagate the labels to the unlabeled rows
        and train the network on both (see the class docstring); or pretrain the encoder on every row (if
        asked), then train the classifier on the labeled rows (and, with ``consistency='fixmatch'``, on every
        row). ``y == -1`` (or another marking, see :func:`check_semi_supervised_y`) marks an unlabeled row.

        ``embedding``: the map of ``X``'s rows that propagation clusters, when it is already computed (the
        ``embedding_`` an earlier fit on the same rows left; it uses no labels): fits of one ``X`` with
        other labels, as in cross-validation, then skip the map."""
        self._check_params()
        X = validate_X(X)
        if embedding is not None:
            embedding = validate_X(embedding, name="embedding")
            if embedding.ndim != 2 or len(embedding) != len(X):
                raise InputError(f"embedding must hold one row per row of X ({len(X)}), got shape {embedding.shape}")
        y, classes, labeled = check_semi_supervised_y(y, len(X))
        y_index = np.searchsorted(classes, np.asarray(y[labeled].tolist(), dtype=classes.dtype)).astype(np.int64)
        input_shape = tuple(X.shape[1:])
        if self.consistency == "fixmatch":
            self._need_images(input_shape, "consistency='fixmatch'")
        if self.augment is True:
            self._need_images(input_shape, "augment=True")
        self.encoder_kind_ = self._encoder_kind(input_shape)
        self.augment_ = bool(self.augment is True or (self.augment == "auto" and _is_images(input_shape)
                                                      and self.encoder_kind_ in ("conv", "resnet18")))
        tr, va = stratified_split(y_index, self.validation_fraction, self.random_state or 0, classes)
        if va is not None and len(va) < MIN_VALIDATION_ROWS:
            warnings.warn(TooLittleDataWarning(
                f"validation_fraction={self.validation_fraction} holds out only {len(va)} labeled row(s) (fewer than "
                f"{MIN_VALIDATION_ROWS}): the validation loss (and early stopping on it) is noise; label more rows, "
                "raise validation_fraction, or use validation_fraction=0"), stacklevel=2)
        self.classes_ = classes
        self.scale_ = 1 / 255 if X.dtype == np.uint8 else 1.0
        self.standardize_ = None
        X_given = X  # the rows as given: what the model records, and what predict and features take
        named_encoder = isinstance(self.encoder, str) and self.encoder in ENCODERS
        if self.standardize is True or (self.standardize == "auto" and X.dtype != np.uint8 and X.ndim == 2
                                         and named_encoder):
            # columns of a table come in their own units (an area in the thousands beside a ratio below 1): each
            # is centred and scaled by its mean and spread over every row, labeled or not
            flat = X.reshape(len(X), -1).astype(np.float64)
            spread = flat.std(axis=0)
            self.standardize_ = (flat.mean(axis=0).astype(np.float32),
                                 np.where(spread > 0, spread, 1.0).astype(np.float32))
            X = self._standardized(X)
        self.input_shape_ = input_shape
        self.n_features_in_ = int(np.prod(input_shape))
        self.n_labeled_ = int(labeled.sum())
        self.pretrain_history_ = None
        self.propagation_ = None
        self.labels_alone_proba_ = None

        # The encoder: given (pretrained elsewhere), pretrained here on every row, or fresh.
        given = self._resolve_encoder(X)
        if given is None and self.pretrain is not None:
            if self.encoder_kind_ in ("conv", "resnet18"):
                self._need_images(input_shape, f"encoder={self.encoder_kind_!r}")
            ae = self._pretrainer().fit(X)
            given = ae.export_encoder(self.pooling)
            self.pretrain_history_ = ae.history_
        config = given.config if given is not None else self._fresh_spec(input_shape)

        X_lab = X[labeled]
        # An epoch is ceil(len(X) / batch_size) steps however few rows are labeled: the labeled rows are
        # drawn over and over (epoch_rows), so training length follows the data, not the labels.
        steps_per_epoch = self._steps_per_epoch(len(X))
        if self.consistency == "fixmatch":
            n_lab = max(1, self.batch_size // (1 + int(self.unlabeled_ratio)))
            loss_fn = self._fixmatch_loss(X_lab[tr], y_index[tr])
            train, batch_size = X, max(1, self.batch_size - n_lab)
        else:
            loss_fn = self._supervised_loss()
            train, batch_size = (X_lab[tr], y_index[tr]), self.batch_size
        val = None if va is None else (X_lab[va], y_index[va])
        # a batch larger than X is all of X (a batch_size of 10**12 must not draw 10**12 rows)
        epoch_rows = steps_per_epoch * min(batch_size, len(X))

        # nothing to propagate to when every row (outside the validation rows) is labeled
        precomputed = embedding
        embedding = self._propagation_embedding(len(X)) if len(tr) < len(X) - (0 if va is None else len(va)) else None
        if not embedding:
            net, history = self._train_network(config, given, loss_fn, train, val, batch_size, epoch_rows,
                                               self.max_steps, "classify")
        else:
            # The labels travel to the unlabeled rows (the clusters of a map of the rows, and, where the
            # clusters mix classes, a first network trained on the labels), then a second network learns
            # from both.
            from fewlabel.tasks.propagate import cluster_label_distribution

            lab_rows = np.flatnonzero(labeled)
            held_out = np.zeros(len(X), bool)
            if va is not None:
                held_out[lab_rows[va]] = True
            y_part = np.full(len(X), -1, dtype=np.int64)
            y_part[lab_rows[tr]] = y_index[tr]
            E = self._embed(X, given, embedding) if precomputed is None else precomputed
            self.embedding_ = E
            p_clusters, cluster_accuracy = cluster_label_distribution(E, y_part, n_classes=len(classes),
                                                                      random_state=self.random_state or 0)
            first = None
            p_net = None
            budgets = [self.max_steps]
            if cluster_accuracy < CLUSTER_TRUST and (self.max_steps is None or self.max_steps >= 2):
                budgets = split_budget(self.max_steps, [1, 1])
                net, first = self._train_network(config, given, loss_fn, train, val, batch_size, epoch_rows,
                                                 budgets[0], "classify (labels)")
                p_net = self._probabilities(net, first, X)
                self.labels_alone_proba_ = p_net
            target, weight, info = self._pseudo_labels(p_clusters, p_net, y_part)
            info.update(embedding=embedding, cluster_accuracy=cluster_accuracy, first_history=first)
            rows = np.flatnonzero(~held_out & (weight > 0))
            init = None
            info["second"] = "a fresh network"
            if first is not None and cluster_accuracy < CONTINUE_BELOW:
                # The clusters mix classes, so the propagated labels are no better than the first network's
                # own answers (Fashion-MNIST, 5,000 labels: 0.877 right against its 0.885), and a fresh network
                # trained on them lost to the first one (0.859 against 0.880). The second network starts from
                # the first instead, and the labeled rows are repeated until they are half of what it sees:
                # the labels stay the main signal and the propagated ones add the unlabeled rows (5,000
                # labels: 0.885 / 0.882 against 0.880 / 0.886 in two runs, a tie; 1,000 labels: 0.852 against
                # 0.844).
                init = net
                lab_rows, unl_rows = rows[y_part[rows] >= 0], rows[y_part[rows] < 0]
                if len(lab_rows) and len(unl_rows) > len(lab_rows):
                    rows = np.concatenate([unl_rows, np.tile(lab_rows, round(len(unl_rows) / len(lab_rows)))])
                info["second"] = "fine-tuned from the first network, labeled rows repeated to half the rows"
            net, history = self._train_network(config, given,
                                               self._supervised_loss(weighted=True),
                                               (X[rows], target[rows], weight[rows]), val, self.batch_size,
                                               steps_per_epoch * min(self.batch_size, len(rows)), budgets[-1],
                                               "classify (propagated labels)", seed_offset=2_000_003, init=init)
            self.propagation_ = info
        net.eval()
        self.module_ = net
        self.history_: History = history
        self.training_data_ = data_record(X_given, y_index, classes.tolist())
        self.detector_ = None
        return self

    def fit_unfamiliarity(self, X):
        """Fit the detector behind :meth:`unfamiliarity` on ``X``, the rows the classifier learned from (labeled
        or not): :class:`~fewlabel.tasks.detect.ReconstructionDetector` with its defaults, on the rows as the
        classifier sees them (standardised tables), trained with this classifier's device, precision, seed and
        verbosity. Where the rows are too few for its cut-off to mean anything (fewer than ten times
        ``MIN_CALIBRATION_ROWS``), it warns and leaves ``detector_`` None. A separate model from the
        classifier's networks: ``max_steps`` and ``epochs`` do not bound it. Returns ``self``."""
        from fewlabel.pretrain.autoencoder import Autoencoder
        from fewlabel.tasks.detect import DETECTOR_DEFAULT, MIN_CALIBRATION_ROWS, ReconstructionDetector

        X = self._validated(X)
        needed = math.ceil(MIN_CALIBRATION_ROWS / ReconstructionDetector().calibration_fraction)
        self.detector_ = None
        if len(X) < needed:
            warnings.warn(TooLittleDataWarning(
                f"{len(X)} rows are too few for an unfamiliarity score (its cut-off needs {MIN_CALIBRATION_ROWS} "
                f"held-out rows, a tenth of at least {needed}): the classifier has none"), stacklevel=2)
            return self
        autoencoder = Autoencoder(**DETECTOR_DEFAULT, device=self.device, precision=self.precision,
                                  random_state=self.random_state, verbose=self.verbose)
        self.detector_ = ReconstructionDetector(autoencoder, random_state=self.random_state or 0).fit(X)
        return self

    def _steps_per_epoch(self, n_rows: int) -> int:
        """ceil(n_rows / batch_size), raised so that ``epochs`` make at least :data:`MIN_STEPS` steps (a
        ``max_steps`` budget is taken as given)."""
        steps = math.ceil(n_rows / self.batch_size)
        return steps if self.max_steps is not None else max(steps, math.ceil(MIN_STEPS / self.epochs))

    def _new_network(self, config, given, seed_offset: int = 0) -> EncoderClassifierNet:
        torch.manual_seed((self.random_state or 0) + seed_offset)
        net = EncoderClassifierNet(config, len(self.classes_), self.head, tuple(self.head_hidden), self.activation,
                                   self.dropout)
        if given is not None:
            net.encoder.load_state_dict(given.state_dict)
        return net

    def _train_network(self, config, given, loss_fn, train, val, batch_size, epoch_rows, budget, description,
                       seed_offset: int = 0, init=None):
        """A network (fresh, or a copy of ``init``'s weights) trained on ``train`` with the freezing this
        classifier asks for; (net, history)."""
        net = self._new_network(config, given, seed_offset)
        if init is not None:
            net.load_state_dict(init.state_dict())
        fit_args = dict(epoch_rows=epoch_rows)
        freeze = self.freeze_encoder
        two_phases = freeze == "then_unfreeze" and self.epochs > int(self.freeze_epochs)
        first_epochs = min(int(self.freeze_epochs), self.epochs) if freeze == "then_unfreeze" else self.epochs
        budgets = split_budget(budget, [first_epochs, self.epochs - first_epochs] if two_phases else [first_epochs])
        try:
            if freeze is True or freeze == "then_unfreeze":
                net.frozen_encoder = True
                for p in net.encoder.parameters():
                    p.requires_grad_(False)
            step_net = net
            if freeze is True and self.consistency is None and not self.augment_:
                # A frozen encoder gives each row the same code every step: compute the codes once and
                # train the head on them (the same head, the same losses, a fraction of the work).
                step_net, loss_fn, train, val = self._head_on_codes(net, train, val)
            history = self._make_trainer(first_epochs, budgets[0], batch_size=batch_size, seed_offset=seed_offset,
                                         early_stopping=None if freeze == "then_unfreeze" else self.early_stopping,
                                         description=f"{description} (head)" if freeze else description
                                         ).fit(step_net, loss_fn, train, val, **fit_args)
            if two_phases:
                net.frozen_encoder = False
                for p in net.encoder.parameters():
                    p.requires_grad_(True)
                second = self._make_trainer(self.epochs - first_epochs, budgets[1],
                                            optimizer=self._grouped_optimizer(net), batch_size=batch_size,
                                            seed_offset=seed_offset + 1_000_003, early_stopping=self.early_stopping,
                                            description=f"{description} (all)").fit(net, loss_fn, train, val,
                                                                                     **fit_args)
                history = _concat_histories(history, second)
        finally:
            net.frozen_encoder = False
            for p in net.parameters():
                p.requires_grad_(True)
        net.eval()
        return net, history

    # -- propagation -------------------------------------------------------------------------------------------
    def _propagation_embedding(self, n_rows: int):
        """Where the labels are propagated: 'umap', 'pca', or None (no propagation)."""
        if self.propagate is None or (self.propagate == "auto" and self.consistency is not None):
            return None
        if self.propagate != "auto":
            return self.propagate
        if n_rows < UMAP_MIN_ROWS:
            return "pca"
        try:
            import umap  # noqa: F401, PLC0415
        except ImportError:
            return "pca"
        return "umap"

    def _embed(self, X, given, how: str) -> np.ndarray:
        """The rows (or, with a pretrained encoder, its codes) mapped to a few dimensions where classes form
        clusters: UMAP to 10 dimensions (min_dist 0, as N2D clusters), or PCA."""
        from sklearn.decomposition import PCA

        from fewlabel.tasks.cluster import reduce

        if given is not None:
            module = build_encoder(given.config)
            module.load_state_dict(given.state_dict)
            module.to(self._device()).eval()
            Z = predict_batches(lambda x: module(to_float(x, self.scale_)), X, batch_size=1024, device=self._device())
        else:
            Z = X.reshape(len(X), -1).astype(np.float32) * np.float32(self.scale_)
        Z = Z.reshape(len(Z), -1)
        seed = self.random_state or 0
        if how == "pca":
            return PCA(min(PCA_DIMS, *Z.shape), random_state=seed).fit_transform(Z)
        dims = min(UMAP_DIMS, len(Z) - 2)
        with warnings.catch_warnings():  # umap-learn says it runs on one thread when seeded: by design here
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            return reduce(Z, method="umap", n_components=dims, n_neighbors=min(UMAP_NEIGHBORS, len(Z) - 1),
                          min_dist=0.0, random_state=seed)

    def _probabilities(self, net, history, X) -> np.ndarray:
        logits = predict_batches(lambda x: net(to_float(x, self.scale_)), X, batch_size=1024,
                                 device=next(net.parameters()).device,
                                 precision=history.info.get("precision", "fp32"))
        return torch.softmax(torch.from_numpy(logits.astype(np.float64)), dim=1).numpy()

    def _pseudo_labels(self, p_clusters, p_net, y_part):
        """(target, weight, info) for every row: the labeled rows' own labels (weight 1); for the others the
        clusters' label, or, when a first network was trained (the clusters mix classes), the product of
        both distributions, kept where it is at least ``pseudo_threshold`` confident, weighted by it."""
        if p_net is None:
            # The clusters name the labeled rows right (leave-one-out): they lead. A network trained on a few
            # labels is confidently wrong often enough to overrule a right cluster (MNIST, 100 labels: the
            # clusters alone put 0.969 of the unlabeled rows right, times the network 0.915).
            p = p_clusters.copy()
        else:
            # Classes share clusters (Fashion-MNIST: shirts, T-shirts, pullovers): each source corrects the
            # other (1,000 labels: clusters 0.734, network 0.845, product 0.851).
            p = p_net * p_clusters
        p /= p.sum(axis=1, keepdims=True).clip(1e-300)
        target, confidence = p.argmax(axis=1), p.max(axis=1)
        labeled = y_part >= 0
        target[labeled], confidence[labeled] = y_part[labeled], 1.0
        weight = np.where(confidence >= float(self.pseudo_threshold), confidence, 0.0).astype(np.float32)
        unl = ~labeled
        info = {"led_by": "clusters" if p_net is None else "clusters x network",
                "pseudo_labeled": int((weight[unl] > 0).sum()), "unlabeled": int(unl.sum())}
        if p_net is not None and unl.any():
            info["agreement"] = float(np.mean(p_net[unl].argmax(1) == p_clusters[unl].argmax(1)))
        return target.astype(np.int64), weight, info

    # -- using --------------------------------------------------------------------------------------------
    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        return self._standardized(validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__))

    def _standardized(self, X) -> np.ndarray:
        if getattr(self, "standardize_", None) is None:
            return X
        mean, spread = self.standardize_
        return ((X.reshape(len(X), -1) - mean) / spread).astype(np.float32).reshape(X.shape)

    def _logits(self, X) -> np.ndarray:
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: self.module_(to_float(x, self.scale_)), X)

    def decision_function(self, X) -> np.ndarray:
        """Class scores: the logits ``(n_rows, n_classes)``; for two classes, scikit-learn's ``(n_rows,)``
        score of the second class (its logit minus the first's: positive means ``classes_[1]``)."""
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)`` (softmax of the logits), columns in ``classes_`` order."""
        logits = torch.from_numpy(self._logits(X).astype(np.float64))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (labels from ``classes_``)."""
        index = self._logits(X).argmax(axis=1)
        return self.classes_[index]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (one true label per row of ``X``)."""
        pred = self.predict(X)
        return float(accuracy_score(labels_match_rows(y, len(pred)), pred, sample_weight=sample_weight))

    def features(self, X) -> np.ndarray:
        """What the network's last layer reads for each row (the code, for a linear head): the rows as the
        classifier sees them (the report maps them to 2-D)."""
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: self.module_.features(to_float(x, self.scale_)), X)

    def unfamiliarity(self, X) -> np.ndarray:
        """How unlike the training rows each row is: the ``anomaly_score`` of the detector fitted with the
        classifier (``detector_``) divided by its cut-off; 1 or more flags a row whose label should not be
        trusted (it resembles nothing the classifier learned from). Needs :meth:`fit_unfamiliarity` first."""
        return self._unfamiliarity(self._validated(X))

    def _unfamiliarity(self, X_seen) -> np.ndarray:
        if getattr(self, "detector_", None) is None:
            raise InputError("this classifier has no unfamiliarity score: call fit_unfamiliarity(X) with the rows it "
                             "learned from (fewlabel classify does)")
        detector = self.detector_
        return (detector.anomaly_score(X_seen) / max(float(detector.threshold_), 1e-12)).astype(np.float32)

    def predict_details(self, X) -> dict:
        """Each row's answer and how far to trust it, from one pass of the network: ``label`` (as
        :meth:`predict`), ``confidence`` (its probability), ``margin`` (its probability minus the second
        class's: small where two classes compete), and, after :meth:`fit_unfamiliarity`,
        ``unfamiliar`` (:meth:`unfamiliarity`) and ``flagged`` (``unfamiliar >= 1``: the row resembles none
        of the training rows, so its label is a guess)."""
        X = self._validated(X)
        net = self.module_.eval()
        F = self._apply(lambda x: net.features(to_float(x, self.scale_)), X)
        last = net.head.layers[-2:]  # the last linear layer (and its identity activation) reads the features
        logits = self._apply(lambda f: last(f), F.astype(np.float32))
        proba = torch.softmax(torch.from_numpy(logits.astype(np.float64)), dim=1).numpy()
        top2 = np.sort(proba, axis=1)[:, -2:]
        out = {"label": self.classes_[proba.argmax(axis=1)], "confidence": proba.max(axis=1),
               "margin": top2[:, 1] - top2[:, 0]}
        if getattr(self, "detector_", None) is not None:
            out["unfamiliar"] = self._unfamiliarity(X)
            out["flagged"] = out["unfamiliar"] >= 1.0
        return out

    def transform(self, X) -> np.ndarray:
        """The encoder's codes ``(n_rows, code_size)``."""
        X = self._validated(X)
        self.module_.eval()
        return self._apply(lambda x: self.module_.encoder(to_float(x, self.scale_)), X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the codes are computed in float32, whatever comes in
        return tags

    # -- saving -------------------------------------------------------------------------------------------
    def _state_with_json_encoder(self):
        encoder = self.encoder
        if not isinstance(encoder, str):  # an estimator object or a Path: not JSON
            self.encoder = os.fspath(encoder) if isinstance(encoder, os.PathLike) else PRETRAINED
        try:
            return super()._get_state()
        finally:
            self.encoder = encoder

    def _fitted_extra(self) -> dict:
        detector = getattr(self, "detector_", None)
        return {"classes": self.classes_.tolist(), "net": self.module_.config(), "n_labeled": self.n_labeled_,
                "pretrain_history": None if self.pretrain_history_ is None else self.pretrain_history_.to_dict(),
                "propagation": _propagation_record(getattr(self, "propagation_", None)),
                "encoder_kind": getattr(self, "encoder_kind_", None), "augment": getattr(self, "augment_", None),
                "detector": None if detector is None else detector._get_state()[0],
                "standardize": None if getattr(self, "standardize_", None) is None
                else [self.standardize_[0].tolist(), self.standardize_[1].tolist()],
                "estimates": getattr(self, "estimates_", None)}

    def _get_state(self):
        config, tensors = self._state_with_json_encoder()
        if getattr(self, "detector_", None) is not None:
            tensors.update({f"detector.{k}": v for k, v in self.detector_._get_state()[1].items()})
        return config, tensors

    @classmethod
    def _from_state(cls, config, tensors):
        est = super()._from_state(config, {k: v for k, v in tensors.items() if k.startswith("module.")})
        fitted = config["fitted"]
        est.detector_ = None
        if fitted.get("detector") is not None:
            from fewlabel.tasks.detect import ReconstructionDetector

            prefix = "detector."
            est.detector_ = ReconstructionDetector._from_state(
                fitted["detector"], {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        return est

    def _restore_fitted(self, fitted: dict) -> None:
        names = fitted["classes"]
        self.classes_ = np.asarray(names, dtype=str if names and isinstance(names[0], str) else None)
        self.n_labeled_ = fitted.get("n_labeled")
        ph = fitted.get("pretrain_history")
        self.pretrain_history_ = None if ph is None else History.from_dict(ph)
        self.propagation_ = fitted.get("propagation")
        self.encoder_kind_ = fitted.get("encoder_kind")
        self.augment_ = fitted.get("augment")
        self.estimates_ = fitted.get("estimates")
        standardize = fitted.get("standardize")
        self.standardize_ = None if standardize is None else tuple(np.asarray(v, np.float32) for v in standardize)
        self.module_ = EncoderClassifierNet(**fitted["net"])
