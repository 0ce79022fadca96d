"""Semi-supervised classification: an encoder learned from every row, a head trained on the labeled ones.

``fit(X, y)`` follows ``sklearn.semi_supervised``: ``y == -1`` marks an unlabeled row. The classifier is a
short sequence of stages, each usable alone:

* :class:`~fewlabel.tasks.propagator.ClusterPropagator`: the labels travel to the unlabeled rows through the
  clusters of a map of the rows;
* :class:`~fewlabel.tasks.network.NetworkStage`: a network trained on labeled rows, each with a weight,
  from scratch or from another network;
* :class:`~fewlabel.tasks.consistency.FixMatch`: consistency training on every image row, alone or after
  propagation;
* :func:`~fewlabel.tasks.route.choose_route`: which of the label sources teaches the final network, chosen by
  scoring each on the user's labeled rows.

Pretraining (``pretrain='autoencoder' | 'denoising' | 'vae' | 'byol'``, or ``encoder=`` a fitted or saved
fewlabel autoencoder or BYOL) gives every stage its encoder (:mod:`fewlabel.tasks.classify_encoder`).
With ``propagate=None`` and ``consistency=None`` the same network is trained from scratch on the labeled
rows alone: the supervised baseline every report shows beside the semi-supervised result.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
from sklearn.base import ClassifierMixin, TransformerMixin

from fewlabel._base import (TorchEstimator, check_standardize, column_scaling, data_record, scales_columns,
                            validate_X)
from fewlabel.checks import check_semi_supervised_y, is_int, positive_int
from fewlabel.datasets.subsets import stratified_split
from fewlabel.errors import InputError, TooLittleDataWarning
from fewlabel.nets.classifier import HEADS, EncoderClassifierNet
from fewlabel.nets.dense import activation as make_activation
from fewlabel.registry import register
from fewlabel.tasks import classify_encoder as encoders
from fewlabel.tasks.classify_encoder import ENCODERS, PRETRAIN, PRETRAINED, PRETRAINED_IGNORES, is_images
from fewlabel.tasks.consistency import FixMatch
from fewlabel.tasks.network import NetworkStage
from fewlabel.tasks.propagator import ClusterPropagator
from fewlabel.tasks.answers import Answers
from fewlabel.tasks.linear import linear_probabilities
from fewlabel.tasks.route import (CLUSTERS, LABELS_ALONE, LINEAR, NETWORK, ROUTE_SETTINGS, ROUTES, choose_labels_model,
                                  choose_route, class_prior, forced_route, known_to_other_folds, pooled,
                                  teaching_labels)
from fewlabel.timing import PhaseClock
from fewlabel.train import History, Trainer
from fewlabel.train.config import make_trainer, split_budget, training_settings
from fewlabel.train.data import RowsOf
from fewlabel.train.ema import check_decay
from fewlabel.train.loop import SCHEDULES

__all__ = ["ENCODERS", "PRETRAIN", "PRETRAINED", "PRETRAINED_IGNORES", "SemiSupervisedClassifier",
           "check_semi_supervised_y"]

FREEZE = (False, True, "then_unfreeze")
CONSISTENCY = (None, "fixmatch")
PROPAGATE = (None, "auto", "umap", "pca")
AUGMENT = (False, True, "auto")
ENCODER_LR_FACTOR = 0.1  # freeze_encoder='then_unfreeze': the encoder's learning rate relative to the head's
# a validation loss over fewer labeled rows than this is too noisy to choose an epoch by
MIN_VALIDATION_ROWS = 20
#: Each network of a fit starts from its own seed, ``random_state`` plus its stage's offset, so that the
#: networks differ from one another and a fit is reproducible.
SEED_OFFSETS = {"labels": 0, "final": 2_000_003, "folds": 3_000_017, "consistency": 4_000_037}


def propagation_record(info):
    """``propagation_`` as JSON for the saved model (the first network's history as its dict)."""
    if info is None:
        return None
    first = info.get("first_history")
    return {**info, "first_history": first.to_dict() if isinstance(first, History) else first}


# -- the estimator -----------------------------------------------------------------------------------------
@register
@training_settings(epochs=10)
class SemiSupervisedClassifier(Answers, ClassifierMixin, TransformerMixin, TorchEstimator):
    """A network (encoder + head) that learns from the labeled rows and, through them, from the rest.

    ``fit(X, y)``: ``y == -1`` marks an unlabeled row (scikit-learn's convention); class labels are numbers or
    strings, and in an array of strings or objects an unlabeled row may also be None, NaN, ``""`` or ``"?"``
    (one marking per ``y``). Rows are vectors or images (H, W) / (H, W, C); uint8 images are scaled to [0, 1];
    with ``standardize='auto'`` (the default) the columns of a float table are centred and scaled by their mean
    and spread over every row (``standardize_``; not for a given pretrained encoder, which has its own scale).

    What the defaults do (``propagate='auto'``, ``route='auto'``, ``encoder='auto'``, no pretraining), top to
    bottom:

    1. **Propagate** (:class:`~fewlabel.tasks.propagator.ClusterPropagator`, settings in
       ``propagate_params``): every row is mapped by UMAP to 10 dimensions (PCA for few rows or without
       umap-learn; the codes of a pretrained encoder when there is one), a Gaussian mixture finds clusters, and
       each cluster takes the label distribution of its labeled rows; each labeled row also gets the
       distribution its cluster's other labeled rows give it (leave-one-out).
    2. **Measure** (:func:`~fewlabel.tasks.route.choose_route`): ``route_folds`` networks, each trained on the
       other folds of the labeled rows (together the steps of one network), answer for the held-out labeled
       rows. Three label sources are scored on the same labeled rows: the network on the labels alone, the
       clusters, and their product, divided once by the labeled rows' class frequencies (each source learned
       them, and a plain product would count them twice; ``route_params={'prior_once': False}``: not
       divided). Where the rows are a table (not images), a logistic regression on the same
       folds is scored beside the network, and the better of the two (clearly more accurate, else the smaller
       out-of-fold log-loss; ``route_['labels_model']``) stands for the network in those sources
       (``route_params={'linear': False}``: the network alone). The model on the labels alone is the route only
       where it is clearly more accurate than the better propagated source (or, the linear model, where neither
       is, it is right on as many rows and of the smaller log-loss: its labels then teach a fresh network);
       otherwise that source is (:mod:`fewlabel.tasks.route`; its settings: ``route_params``). The choice and its
       scores are ``route_``, saved with the model and shown in the report; ``route=`` sets it instead.
    3. **Train** (:class:`~fewlabel.tasks.network.NetworkStage`): with 'labels alone' the network trained on
       every label is the model. Otherwise the final network learns from the labeled rows plus every row
       whose propagated label (the clusters', or their product with the network on the labels; with
       ``route_params={'pool': True}`` each raised to a power fitted on the labeled rows,
       :func:`~fewlabel.tasks.route.pooled`) is at least
       ``pseudo_threshold`` confident, weighted by that confidence: a fresh network where those labels were
       clearly more accurate than the network's own on the held-out rows; elsewhere it continues the network
       on the labels, the labeled rows repeated until they are half of the rows it sees (labels no better
       than the network's own must not outvote the true ones).

    ``propagation_`` records the map, the clusters' leave-one-out accuracy, the route (``led_by``), how many
    unlabeled rows got a label, ``second`` (how the final network learned) and ``first_history`` (the history
    of the network on the labels, or None). With every row labeled there is nothing to propagate.
    ``propagate=None`` trains on the labeled rows alone (the supervised baseline, or pretraining / FixMatch);
    'umap' or 'pca' choose the map. ``propagate_params``: a dict of :class:`ClusterPropagator` settings
    (``map_dims``, ``n_neighbors``, ``pca_dims``, ``umap_min_rows``, ``n_clusters``, ``prior``).

    The encoder (``encoder``: 'auto', 'dense', 'conv', 'resnet18', or a fitted or saved fewlabel pretrainer)
    and its pretraining on every row (``pretrain``: None, 'autoencoder', 'denoising', 'vae', 'byol';
    ``pretrain_epochs``, ``pretrain_params``) with their architecture parameters (``hidden``, ``latent``,
    ``activation``, ``latent_activation``, ``channels``, ``convs``, ``pooling``, ``batch_norm``, ``stem``,
    ``width``) are described in :mod:`fewlabel.tasks.classify_encoder`.

    The head: ``head='mlp'`` (``head_hidden`` layers) or 'linear'; ``dropout`` on the code and after each
    hidden layer of the head.

    ``freeze_encoder``: False (train everything), True (train only the head; its encoder stays exactly as
    it was, batch-norm statistics included: with ``head='linear'`` a linear probe; with no pretrained
    encoder, a probe of a random one), 'then_unfreeze' (the
    head alone for ``freeze_epochs``, then everything for the remaining ``epochs - freeze_epochs`` epochs,
    the encoder at a tenth of ``lr``).

    Consistency training (``consistency='fixmatch'``, image rows only;
    :class:`~fewlabel.tasks.consistency.FixMatch`): each step takes ``batch_size // (1 + unlabeled_ratio)``
    (at least 1) labeled rows drawn at random and the rest of ``batch_size`` from all of X, and minimises the
    cross-entropy of the weakly augmented labeled rows plus ``unlabeled_weight`` times the mean over the batch
    of ``[max p(weak(u)) >= threshold] * CE(strong(u), argmax p(weak(u)))``. An epoch is one pass over all of
    X. ``history_`` then also has ``supervised``, ``unlabeled`` and ``mask_rate``. With ``propagate='auto'``
    FixMatch replaces propagation; with ``propagate='umap'`` or 'pca' it follows it, starting from the network
    the propagated labels trained.

    Training the classifier: ``optimizer`` ('adam', 'adamw', 'sgd' with momentum 0.9), ``lr``,
    ``weight_decay``, ``schedule`` ('cosine', the default: the rate decays to 0 along a cosine, step by step;
    None: constant; see :class:`~fewlabel.train.Trainer`), ``ema`` (None, or a decay such as 0.999: the weights kept, validated
    and used for prediction are an exponential moving average of the trained ones, as FixMatch evaluates).

    ``augment=True``: weak augmentation (random shifts) of the images in supervised training too (a fair
    baseline for consistency training; image rows only); 'auto' (the default): on for image rows with a
    convolutional encoder built here ('conv', 'resnet18'; not for a given pretrained one).

    Training length: each network trains for ``epochs`` passes over all rows of X (however few are labeled),
    and at least ``min_steps`` optimizer steps when ``max_steps`` is not given (a few hundred rows are
    otherwise a few steps an epoch, too few to fit a network); a ``max_steps`` budget is shared by the
    networks of a fit, the route's measurement taking one share.

    Validation: ``validation_fraction`` of the *labeled* rows, stratified by class, held out from training
    (their loss and accuracy become ``val_loss``/``val_accuracy`` and drive ``early_stopping``).

    Predictions and how far to trust each: :class:`~fewlabel.tasks.answers.Answers`.

    Fitted attributes: ``classes_``, ``history_`` (per-epoch ``loss``/``accuracy`` and ``val_`` ones),
    ``pretrain_history_`` (the pretraining's history, or None), ``n_labeled_``, ``input_shape_``,
    ``n_features_in_``, ``module_`` (an :class:`~fewlabel.nets.classifier.EncoderClassifierNet`),
    ``detector_`` (None until :meth:`fit_unfamiliarity`), ``standardize_``, ``training_data_`` (what it was
    trained on: rows, shape, dtype, a fingerprint, labeled rows per class), ``route_`` and ``propagation_``
    (above), ``times_`` (each phase's wall and CPU seconds, in the order they ran), and after a fit (not saved)
    ``embedding_`` (the map propagation clustered) and ``labels_alone_proba_`` (the network on the labels
    alone's probabilities, where the route trains one). Saved with the model: its parameters, ``route_``,
    ``propagation_``, ``encoder_kind_``, ``augment_``, ``times_``, ``estimates_`` (the accuracy estimates
    ``fewlabel classify`` measured, when it set them) and ``temperature_`` (None after ``fit``; what the
    probabilities are taken at once :meth:`~fewlabel.tasks.answers.Answers.calibrate` set it, as ``fewlabel
    classify`` does from its estimate's folds).
    """

    def __init__(self, encoder="auto", pretrain=None, propagate="auto", hidden=(128, 64), latent=16, activation="relu",
                 latent_activation="linear", channels=(32, 64, 128), convs=1, pooling="auto", batch_norm=True,
                 stem="auto", width=64, head="mlp", head_hidden=(128,), dropout=0.3, freeze_encoder=False,
                 freeze_epochs=5, consistency=None, threshold=0.95, unlabeled_weight=1.0, unlabeled_ratio=7,
                 augment="auto", pretrain_epochs=20, pretrain_params=None, schedule="cosine", ema=None,
                 validation_fraction=0.0, early_stopping=None, pseudo_threshold=0.5, standardize="auto", route="auto",
                 route_folds=3, propagate_params=None, min_steps=200, route_params=None):
        self.encoder = encoder
        self.pretrain = pretrain
        self.propagate = propagate
        self.hidden = hidden
        self.latent = latent
        self.activation = activation
        self.latent_activation = latent_activation
        self.channels = channels
        self.convs = convs
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
        self.route = route
        self.route_folds = route_folds
        self.propagate_params = propagate_params
        self.min_steps = min_steps
        self.route_params = route_params

    # -- checks ------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        self._check_training_settings()
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {self.schedule!r}: choose one of {SCHEDULES}")
        check_decay(self.ema)
        encoders.check_encoder_params(self)
        if self.head not in HEADS:
            raise InputError(f"unknown head {self.head!r}: choose one of {HEADS}")
        if not any(self.freeze_encoder is v or (isinstance(v, str) and self.freeze_encoder == v) for v in FREEZE):
            raise InputError(f"freeze_encoder must be False, True or 'then_unfreeze', got {self.freeze_encoder!r}")
        if self.propagate not in PROPAGATE:
            raise InputError(f"unknown propagate {self.propagate!r}: choose one of {PROPAGATE}")
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
        if self.consistency == "fixmatch":
            self._fixmatch().check()
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.early_stopping is not None:
            positive_int("early_stopping", self.early_stopping)
        make_activation(self.activation)
        check_standardize(self.standardize)
        if self.route != "auto" and self.route not in ROUTES:
            raise InputError(f"unknown route {self.route!r}: choose 'auto' (measured on the labeled rows) or one of "
                             f"{ROUTES}")
        if not is_int(self.route_folds) or self.route_folds < 2:
            raise InputError(f"route_folds must be an integer >= 2, got {self.route_folds!r}")
        positive_int("min_steps", self.min_steps)
        self._route_settings()
        self._propagator()
        encoders.warn_unused_architecture(self)

    def _route_settings(self) -> dict:
        """``route_params`` checked: the settings of :func:`~fewlabel.tasks.route.choose_route`."""
        params = self.route_params or {}
        if not isinstance(params, dict):
            raise InputError(f"route_params must be None or a dict of route settings, got {params!r}")
        unknown = sorted(set(params) - set(ROUTE_SETTINGS))
        if unknown:
            raise InputError(f"route_params has {unknown}: its settings are {sorted(ROUTE_SETTINGS)}")
        for name in ("z_labels_alone", "z_fresh"):
            value = params.get(name, 2.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < np.inf:
                raise InputError(f"route_params[{name!r}] must be a number >= 0, got {value!r}")
        for name in ("pool", "linear", "prior_once"):
            if not isinstance(params.get(name, False), bool):
                raise InputError(f"route_params[{name!r}] must be True or False, got {params[name]!r}")
        return dict(params)

    def _fixmatch(self) -> FixMatch:
        return FixMatch(self.threshold, self.unlabeled_weight, self.unlabeled_ratio)

    def _propagator(self, how: str = "auto") -> ClusterPropagator:
        """The propagation stage with ``propagate_params`` (checked)."""
        params = self.propagate_params or {}
        if not isinstance(params, dict):
            raise InputError(f"propagate_params must be None or a dict of ClusterPropagator settings, got {params!r}")
        allowed = sorted(set(ClusterPropagator().get_params()) - {"map", "random_state"})
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise InputError(f"propagate_params has {unknown}: its settings are {allowed} (the map is set by "
                             "propagate, the seed by random_state)")
        stage = ClusterPropagator(map=how, random_state=self.random_state or 0, **params)
        stage.check_params()
        return stage

    def pretrainer_for(self, input_shape):
        """The unfitted pretraining estimator (``pretrain``) whose encoder has the architecture this classifier
        would build for rows of ``input_shape``: fit it once on the rows and pass it as ``encoder`` to several
        classifiers (other label draws of the same rows) instead of pretraining again in each."""
        self._check_params()
        if self.pretrain is None:
            raise InputError("pretrain is None: this classifier has no pretraining to share")
        self.encoder_kind_ = encoders.encoder_kind(self, tuple(input_shape))
        return encoders.pretrainer(self)

    def _make_trainer(self, epochs, max_steps, **overrides) -> Trainer:
        return make_trainer(self, epochs=epochs, max_steps=max_steps, schedule=self.schedule, ema=self.ema,
                            **overrides)

    def _network_stage(self, config, given) -> NetworkStage:
        return NetworkStage(config, len(self.classes_), make_trainer=self._make_trainer, input_shape=self.input_shape_,
                            scale=self.scale_, augment=self.augment_, head=self.head, head_hidden=self.head_hidden,
                            activation=self.activation, dropout=self.dropout, freeze_encoder=self.freeze_encoder,
                            freeze_epochs=self.freeze_epochs, epochs=self.epochs,
                            encoder_state=None if given is None else given.state_dict, optimizer=self.optimizer,
                            lr=self.lr, weight_decay=self.weight_decay, encoder_lr_factor=ENCODER_LR_FACTOR,
                            early_stopping=self.early_stopping, random_state=self.random_state or 0,
                            device=self._device())

    # -- fitting ------------------------------------------------------------------------------------------
    def fit(self, X, y, embedding=None, route_record=None):
        """Learn from every row and the labeled ones: by default, propagate the labels to the unlabeled rows,
        choose the route by scoring it on the labeled rows, and train the final network (see the class
        docstring); or pretrain the encoder on every row (if asked), then train the classifier on the labeled
        rows (and, with ``consistency='fixmatch'``, on every row). ``y == -1`` (or another marking, see
        :func:`~fewlabel.checks.check_semi_supervised_y`) marks an unlabeled row.

        ``embedding``: the map of ``X``'s rows that propagation clusters, when it is already computed (the
        ``embedding_`` an earlier fit on the same rows left; it uses no labels): fits of one ``X`` with
        other labels, as in cross-validation, then skip the map. ``route_record``: the ``route_`` of such a fit,
        whose route (and the way its final network learned) is then taken without measuring it again."""
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
            encoders.need_images(input_shape, "consistency='fixmatch'")
        if self.augment is True:
            encoders.need_images(input_shape, "augment=True")
        self.encoder_kind_ = encoders.encoder_kind(self, input_shape)
        self.augment_ = bool(self.augment is True or (self.augment == "auto" and is_images(input_shape)
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
        if scales_columns(self.standardize, X, own_scale=not named_encoder):
            self.standardize_ = column_scaling(X)  # over every row, labeled or not
            X = self._standardized(X)
        self.input_shape_ = input_shape
        self.n_features_in_ = int(np.prod(input_shape))
        self.n_labeled_ = int(labeled.sum())
        self.pretrain_history_ = None
        self.propagation_ = None
        self.route_ = None
        self.labels_alone_proba_ = None
        self._clock = PhaseClock()

        # The encoder: given (pretrained elsewhere), pretrained here on every row, or fresh.
        given = encoders.resolve_encoder(self, X)
        if given is None and self.pretrain is not None:
            if self.encoder_kind_ in ("conv", "resnet18"):
                encoders.need_images(input_shape, f"encoder={self.encoder_kind_!r}")
            with self._clock("pretraining"):
                ae = encoders.pretrainer(self).fit(X)
            given = ae.export_encoder(self.pooling)
            self.pretrain_history_ = ae.history_
        config = given.config if given is not None else encoders.fresh_spec(self, input_shape)
        stage = self._network_stage(config, given)

        # the labeled rows a network may train on (the validation rows are held out), as an index per row of X
        lab_rows = np.flatnonzero(labeled)
        y_part = np.full(len(X), -1, dtype=np.int64)
        y_part[lab_rows[tr]] = y_index[tr]
        val = None if va is None else (X[lab_rows[va]], y_index[va])
        unlabeled = len(X) - len(lab_rows)
        how = self._propagation_map(len(X))
        if how is None or unlabeled == 0:  # nothing to propagate to when every row is labeled
            with self._clock("network"):
                net, history = self._fit_labels(stage, X, y_part, val, self.max_steps, init=None,
                                                consistency=self.consistency == "fixmatch")
        else:
            held_out = np.zeros(len(X), bool)  # the validation rows: neither labeled nor pseudo-labeled in training
            if va is not None:
                held_out[lab_rows[va]] = True
            net, history = self._fit_propagated(stage, X, y_part, val, held_out, given, how, embedding, route_record)
        net.eval()
        self.module_ = net
        self.history_: History = history
        self.times_ = self._clock.record()
        self.training_data_ = data_record(X_given, y_index, classes.tolist(), self.standardize_)
        self.detector_ = None
        self.temperature_ = None
        return self

    def _steps_per_epoch(self, n_rows: int) -> int:
        """ceil(n_rows / batch_size), raised so that ``epochs`` make at least ``min_steps`` steps (a ``max_steps``
        budget is taken as given)."""
        steps = math.ceil(n_rows / self.batch_size)
        return steps if self.max_steps is not None else max(steps, math.ceil(int(self.min_steps) / self.epochs))

    def _epoch_rows(self, n_rows: int, batch_size: int) -> int:
        # An epoch is as many steps as one pass over all of X however few rows are labeled: the labeled rows are
        # drawn over and over, so training length follows the data, not the labels. A batch larger than X is
        # all of X (a batch_size of 10**12 must not draw 10**12 rows).
        return self._steps_per_epoch(n_rows) * min(batch_size, n_rows)

    def _fit_labels(self, stage, X, y_part, val, budget, init, consistency: bool, description="classify",
                    seed_offset=SEED_OFFSETS["labels"]):
        """A network on the labeled rows of ``y_part`` (with FixMatch on every row when ``consistency``)."""
        rows = np.flatnonzero(y_part >= 0)
        if not consistency:
            return stage.fit(X[rows], y_part[rows], init=init, validation=val, batch_size=self.batch_size,
                             epoch_rows=self._epoch_rows(len(X), self.batch_size), budget=budget,
                             description=description, seed_offset=seed_offset)
        fixmatch = self._fixmatch()
        batch_size = max(1, self.batch_size - fixmatch.labeled_per_batch(self.batch_size))
        loss = fixmatch.loss(X[rows], y_part[rows], supervised=stage.loss(), scale=self.scale_,
                             input_shape=self.input_shape_, batch_size=self.batch_size)
        return stage.fit(X, None, init=init, validation=val, loss_fn=loss, batch_size=batch_size,
                         epoch_rows=self._epoch_rows(len(X), batch_size), budget=budget, description=description,
                         seed_offset=seed_offset)

    def _fit_propagated(self, stage, X, y_part, val, held_out, given, how, embedding, earlier=None):
        """Propagate, choose the route, train the final network (the class docstring, steps 1-3)."""
        with self._clock("map and mixture"):
            rows, scale = encoders.map_rows(X, given, self.scale_, self._device())
            propagator = self._propagator(how).fit(rows, y_part, n_classes=len(self.classes_), embedding=embedding,
                                                   scale=scale)
        self.embedding_ = propagator.embedding_
        known = np.flatnonzero(y_part >= 0)
        fixmatch = self.consistency == "fixmatch"
        remaining = self.max_steps
        if self.route != "auto":
            record = forced_route(self.route)
        elif earlier is not None:
            record = {**forced_route(earlier["route"]), "second": earlier["second"],
                      "network_weight": earlier.get("network_weight", 0.5),
                      "labels_model": earlier.get("labels_model", NETWORK),
                      "how": "taken from an earlier fit on the same rows"}
        elif remaining is not None and remaining < self.route_folds + 2 + fixmatch:
            record = {**forced_route(CLUSTERS), "how": f"not measured: max_steps={remaining} is too few steps to "
                                                       f"share with {self.route_folds} networks that measure it"}
        elif np.bincount(y_part[known]).max() < 2:
            record = {**forced_route(CLUSTERS), "how": "not measured: no class has two labeled rows to hold one out"}
        else:
            share = None if remaining is None else max(self.route_folds, remaining // (3 + fixmatch))
            settings = self._route_settings()
            with self._clock("route"):
                p_oof, folds = self._out_of_fold(stage, X, y_part, share)
                labels_model = None
                scored = known_to_other_folds(y_part, folds)
                if settings.pop("linear", True) and not is_images(self.input_shape_):
                    p_linear = self._linear_out_of_fold(X, y_part, folds)
                    labels_model = choose_labels_model(y_part[known], p_oof[known], p_linear[known],
                                                       z=settings.get("z_labels_alone", 2.0), scored=scored)
                    if labels_model["model"] == LINEAR:
                        p_oof = p_linear
            linear = labels_model is not None and labels_model["model"] == LINEAR
            record = choose_route(y_part[known], p_oof[known], propagator.loo_distributions_,
                                  how=f"{len(folds)} folds of the {len(known)} labeled rows", **settings,
                                  settle_by_log_loss=linear, scored=scored)
            if labels_model is not None:
                record.update(labels_model=labels_model["model"], labels_models=labels_model)
            remaining = None if remaining is None else remaining - share
        # the product divides once by the class frequencies the labels hold (route.py's docstring), in the fit
        # that measured the route and in every fit that takes it
        prior_once = bool(self._route_settings().get("prior_once", True))
        record.setdefault("prior_once", prior_once)
        self.route_ = record
        linear = record.get("labels_model") == LINEAR
        # a network on the labels is trained where its answers are a source, or where the final network continues it
        needs_first = record["second"] == "continue" or (not linear and record["route"] != CLUSTERS)
        needs_final = linear or record["route"] != LABELS_ALONE
        budgets = iter(split_budget(remaining, [1] * (needs_first + needs_final + fixmatch)))
        first = p_net = net = None
        if linear:
            with self._clock("linear model"):
                p_net = self._linear(X, y_part, known, np.arange(len(X)))
        if needs_first:
            with self._clock("first network"):
                net, first = self._fit_labels(stage, X, y_part, val, next(budgets), init=None, consistency=False,
                                              description="classify (labels)")
                self.labels_alone_proba_ = stage.probabilities(net, first, X)
            if not linear:
                p_net = self.labels_alone_proba_
        info = {"embedding": propagator.map_, "cluster_accuracy": propagator.loo_accuracy_, "led_by": record["route"],
                "first_history": first, "route": record, "unlabeled": int((y_part < 0).sum())}
        if record["route"] == LABELS_ALONE and not linear:
            info.update(pseudo_labeled=0, second="none: the network on the labels alone is the model")
            history = first
        else:
            p = propagator.label_distributions_ if record["route"] == CLUSTERS \
                else p_net if record["route"] == LABELS_ALONE \
                else pooled(p_net, propagator.label_distributions_, record.get("network_weight", 0.5),
                            class_prior(y_part[known], len(self.classes_)) if prior_once else None)
            target, weight = teaching_labels(p, y_part, float(self.pseudo_threshold))
            unl = y_part < 0
            info["pseudo_labeled"] = int((weight[unl] > 0).sum())
            if p_net is not None and unl.any():
                info["agreement"] = float(np.mean(p_net[unl].argmax(1) == propagator.labels_[unl]))
            rows = np.flatnonzero((weight > 0) & ~held_out)
            init = None
            info["second"] = "a fresh network" + (" on the labels of the linear model" if linear and record["route"] ==
                                                  LABELS_ALONE else "")
            if record["second"] == "continue":
                init = net
                lab, unl_rows = rows[y_part[rows] >= 0], rows[y_part[rows] < 0]
                if len(lab) and len(unl_rows) > len(lab):
                    rows = np.concatenate([unl_rows, np.tile(lab, round(len(unl_rows) / len(lab)))])
                info["second"] = "fine-tuned from the first network, labeled rows repeated to half the rows"
            with self._clock("final network"):
                # the rows taught are an index into X, not a copy of them (every row, labeled ones repeated)
                net, history = stage.fit(RowsOf(X, rows), target[rows], weight[rows], init=init, validation=val,
                                         batch_size=self.batch_size,
                                         epoch_rows=self._steps_per_epoch(len(X)) * min(self.batch_size, len(rows)),
                                         budget=next(budgets), description="classify (propagated labels)",
                                         seed_offset=SEED_OFFSETS["final"])
        if self.consistency == "fixmatch":  # FixMatch follows propagation, from the network it trained
            with self._clock("consistency"):
                net, history = self._fit_labels(stage, X, y_part, val, next(budgets), init=net, consistency=True,
                                                description="classify (FixMatch)",
                                                seed_offset=SEED_OFFSETS["consistency"])
        self.propagation_ = info
        return net, history

    def _out_of_fold(self, stage, X, y_part, budget) -> tuple[np.ndarray, list[np.ndarray]]:
        """Class probabilities for each labeled row from a network that did not see its label: ``route_folds``
        networks (fewer where no class has that many labeled rows), each on the other folds, together given one
        network's steps (or ``budget``); (probabilities, the rows each fold held out)."""
        from fewlabel.tasks.estimate import stratified_folds

        most = int(np.bincount(y_part[y_part >= 0]).max())  # stratified folds need a class that fills each fold
        folds = stratified_folds(y_part, min(int(self.route_folds), most),
                                 (self.random_state or 0) + SEED_OFFSETS["folds"])
        total = budget if budget is not None else self._steps_per_epoch(len(X)) * self.epochs
        shares = split_budget(max(total, len(folds)), [1] * len(folds))
        p = np.zeros((len(X), len(self.classes_)))
        for i, (held, share) in enumerate(zip(folds, shares)):
            y_fold = y_part.copy()
            y_fold[held] = -1
            net, history = self._fit_labels(stage, X, y_fold, None, share, init=None, consistency=False,
                                            description=f"choosing the route (fold {i + 1}/{len(folds)})",
                                            seed_offset=SEED_OFFSETS["folds"] + i)
            p[held] = stage.probabilities(net, history, X[held])
        return p, folds

    def _linear_out_of_fold(self, X, y_part, folds) -> np.ndarray:
        """A linear model's class probabilities for each labeled row, fitted on the other folds' labeled rows (the
        folds the networks of :meth:`_out_of_fold` held out), on the rows as the network sees them."""
        known = np.flatnonzero(y_part >= 0)
        p = np.zeros((len(X), len(self.classes_)))
        for held in folds:
            p[held] = self._linear(X, y_part, np.setdiff1d(known, held), held)
        return p

    def _linear(self, X, y_part, train_rows, rows) -> np.ndarray:
        """The linear model's probabilities for ``X[rows]``, fitted on ``train_rows``: on the rows as the network
        sees them, a float table's columns scaled by the labeled rows where the classifier did not scale them
        (``standardize=False``, or a given encoder's own scale)."""
        return linear_probabilities(X, y_part, train_rows, rows, len(self.classes_), self.random_state or 0,
                                    scale=self.scale_, scale_columns=self.standardize_ is None and X.dtype != np.uint8)

    def _propagation_map(self, n_rows: int) -> str | None:
        """The map propagation draws ('auto', 'umap' or 'pca' for the propagator), or None (no propagation)."""
        if self.propagate is None or (self.propagate == "auto" and self.consistency is not None):
            return None
        return self.propagate

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
            return super().get_state()
        finally:
            self.encoder = encoder

    def fitted_extra(self) -> dict:
        detector = getattr(self, "detector_", None)
        return {"classes": self.classes_.tolist(), "net": self.module_.config(), "n_labeled": self.n_labeled_,
                "pretrain_history": None if self.pretrain_history_ is None else self.pretrain_history_.to_dict(),
                "propagation": propagation_record(getattr(self, "propagation_", None)),
                "route": getattr(self, "route_", None),
                "encoder_kind": getattr(self, "encoder_kind_", None), "augment": getattr(self, "augment_", None),
                "detector": None if detector is None else detector.get_state()[0],
                "standardize": None if getattr(self, "standardize_", None) is None
                else [self.standardize_[0].tolist(), self.standardize_[1].tolist()],
                "estimates": getattr(self, "estimates_", None), "times": getattr(self, "times_", None),
                "temperature": getattr(self, "temperature_", None)}

    def get_state(self):
        config, tensors = self._state_with_json_encoder()
        if getattr(self, "detector_", None) is not None:
            tensors.update({f"detector.{k}": v for k, v in self.detector_.get_state()[1].items()})
        return config, tensors

    @classmethod
    def from_state(cls, config, tensors):
        est = super().from_state(config, {k: v for k, v in tensors.items() if k.startswith("module.")})
        fitted = config["fitted"]
        est.detector_ = None
        if fitted.get("detector") is not None:
            from fewlabel.tasks.detect import ReconstructionDetector

            prefix = "detector."
            est.detector_ = ReconstructionDetector.from_state(
                fitted["detector"], {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        return est

    def restore_fitted(self, fitted: dict) -> None:
        names = fitted["classes"]
        self.classes_ = np.asarray(names, dtype=str if names and isinstance(names[0], str) else None)
        self.n_labeled_ = fitted.get("n_labeled")
        ph = fitted.get("pretrain_history")
        self.pretrain_history_ = None if ph is None else History.from_dict(ph)
        self.propagation_ = fitted.get("propagation")
        self.route_ = fitted.get("route")
        self.encoder_kind_ = fitted.get("encoder_kind")
        self.augment_ = fitted.get("augment")
        self.estimates_ = fitted.get("estimates")
        self.times_ = fitted.get("times")
        self.temperature_ = fitted.get("temperature")  # files from before it was kept: None
        standardize = fitted.get("standardize")
        self.standardize_ = None if standardize is None else tuple(np.asarray(v, np.float32) for v in standardize)
        self.module_ = EncoderClassifierNet(**fitted["net"])
