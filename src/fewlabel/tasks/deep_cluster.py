"""Deep clustering: fine-tune a pretrained autoencoder's encoder *for* clustering (IDEC / DEC).

IDEC (Guo et al. 2017, "Improved Deep Embedded Clustering with Local Structure Preservation") starts
from a fitted autoencoder and k-means centres on its codes, then trains the encoder and the centres
together on the DEC self-training loss, keeping the autoencoder's reconstruction loss so the codes do
not drift away from the data (DEC, Xie et al. 2016, drops it: ``reconstruction=False``)::

    ae = Autoencoder(hidden=(256, 64), latent=10).fit(X)
    idec = DeepClustering(ae, n_clusters=10).fit(X)
    idec.labels_, idec.predict(X_new), idec.transform(X_new), idec.soft_assign(X_new)

The clustering layer holds trainable centres ``mu`` (k x d). A code ``z_i`` is softly assigned to the
centres by a Student's t kernel, ``q_ij ∝ (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha+1)/2)``; the target
``p_ij ∝ q_ij^2 / f_j`` (``f_j = sum_i q_ij``) sharpens confident assignments and evens out cluster
sizes. The loss per batch is ``reconstruction + gamma * KL(P || Q)``; P is recomputed for every row,
without gradients, every ``update_interval`` epochs, and training stops once fewer than ``tol`` of the
labels changed between two updates.
"""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from fewlabel._base import data_record, to_float, validate_X
from fewlabel.checks import non_negative_number, number_in, positive_int, positive_number
from fewlabel.errors import InputError
from fewlabel.jsonsafe import json_safe
from fewlabel.nets.cluster import ClusteringNet, soft_assignment
from fewlabel.nets.encoder import EncoderSpec
from fewlabel.pretrain.autoencoder import AutoencoderBase, MovedImagesMixin, image_mover, per_example_error
from fewlabel.registry import REGISTRY, register
from fewlabel.tasks.cluster import check_k
from fewlabel.tasks.encoders import autoencoder_of, encoder_of, resolve_model
from fewlabel.train import predict_batches, resolve_device
from fewlabel.train.config import check_training_settings, make_trainer, training_settings
from fewlabel.train.optim import make_optimizer
from fewlabel.train.precision import inference_batch_size

__all__ = ["DeepClustering", "soft_assignment", "target_distribution"]


# -- the two distributions --------------------------------------------------------------------------
def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """P: ``q_ij^2 / f_j`` normalised over ``j`` (``f_j``: the soft size of cluster ``j``)."""
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)
    return weight / weight.sum(dim=1, keepdim=True)


# -- the estimator --------------------------------------------------------------------------------
@register
@training_settings(epochs=20)
class DeepClustering(MovedImagesMixin, ClusterMixin, BaseEstimator):
    """IDEC (``reconstruction=True``) or DEC (``False``) on a fitted fewlabel autoencoder.

    Parameters
    ----------
    autoencoder : a *fitted* fewlabel pretrainer, or the path of one saved with ``fewlabel.save``. IDEC
        (``reconstruction=True``) needs an autoencoder (``Autoencoder``, ``ConvAutoencoder``,
        ``VariationalAutoencoder``, ``StackedAutoencoder``): it is deep-copied, the fine-tuned copy is
        ``autoencoder_`` and the caller's object is left unchanged. DEC (``reconstruction=False``) takes any
        pretrainer's encoder: an autoencoder is used as for IDEC (its decoder untouched); an encoder alone
        (BYOL) is taken through its ``export_encoder()`` and fine-tuned as ``encoder_`` (``autoencoder_`` is
        then None).
    n_clusters : number of clusters (at least 2, at most the number of rows).
    alpha : degrees of freedom of the Student's t kernel.
    gamma : weight of the KL clustering term against the reconstruction loss (IDEC; 0.1 in the paper).
    reconstruction : keep the autoencoder's reconstruction loss (IDEC); False trains on the KL term
        alone and leaves the decoder untouched (DEC).
    update_interval : epochs between recomputations of the target distribution P.
    tol : stop when fewer than this fraction of the labels changed between two updates.
    epochs, max_steps, batch_size, optimizer, lr, ... : the training settings (below); training stops
        early when the labels settle (``tol``).
    init : 'kmeans' (k-means on the pretrained codes, ``n_init=20``), an array of initial centres (k, d), or
        one initial cluster label per row of X (a 1-D integer array with ``n_clusters`` distinct values): the
        centres start at each cluster's mean code. Labels let a better clustering than k-means on the codes
        start the self-training, e.g. UMAP + Gaussian mixture (:func:`fewlabel.tasks.cluster.cluster`).
    augment : None, or 'shift' (DEC-DA, Guo et al. 2018): each training batch is randomly moved (up to
        ``augment_shift`` of the size, ``augment_rotate`` degrees, as the autoencoders' ``augment``) and the
        moved images are encoded, softly assigned and reconstructed, while the target distribution P comes
        from the images as they are: the clusters must hold under small moves of the image.
    device : 'auto' or a device name; random_state : seeds k-means and the batch order; verbose : progress.

    Fitted attributes: ``labels_`` (argmax of Q on the training rows), ``cluster_centers_`` (in code
    space), ``autoencoder_`` (fine-tuned; None when an encoder alone was given), ``encoder_`` (the fine-tuned
    encoder module when no autoencoder was given, else None), ``module_`` (a
    :class:`~fewlabel.nets.cluster.ClusteringNet`), ``history_`` (one dict per update interval:
    ``epoch``, ``loss``, ``kl``, ``reconstruction``, ``changed`` = fraction of labels that changed over
    the interval), ``n_iter_`` (update intervals run), ``n_epochs_``, ``converged_``.
    """

    def __init__(self, autoencoder=None, n_clusters=10, alpha=1.0, gamma=0.1, reconstruction=True,
                 update_interval=1, tol=0.001, init="kmeans", augment=None, augment_shift=0.1, augment_rotate=10.0):
        self.autoencoder = autoencoder
        self.n_clusters = n_clusters
        self.alpha = alpha
        self.gamma = gamma
        self.reconstruction = reconstruction
        self.update_interval = update_interval
        self.tol = tol
        self.init = init
        self.augment = augment
        self.augment_shift = augment_shift
        self.augment_rotate = augment_rotate

    # -- checks -----------------------------------------------------------------------------------
    def _source(self):
        """The fitted autoencoder to fine-tune, or (DEC with an encoder alone) its exported ``EncoderSpec``."""
        model = resolve_model(self.autoencoder, "autoencoder")
        if self.reconstruction is True or isinstance(model, AutoencoderBase):
            ae = autoencoder_of(model, "autoencoder", "IDEC (reconstruction=True) keeps training the decoder on the "
                                "reconstruction loss; use reconstruction=False (DEC) to cluster with an encoder alone")
            try:
                check_is_fitted(ae, "module_")
            except NotFittedError:
                raise InputError(f"the autoencoder ({type(ae).__name__}) is not fitted: call autoencoder.fit(X) "
                                 "first; DeepClustering fine-tunes a pretrained encoder") from None
            return ae
        return encoder_of(model, "auto", "autoencoder")

    def _check_params(self) -> None:
        check_training_settings(self)
        positive_int("update_interval", self.update_interval)
        positive_number("alpha", self.alpha)
        non_negative_number("gamma", self.gamma)
        number_in("tol", self.tol, 0, 1)
        if not isinstance(self.reconstruction, (bool, np.bool_)):
            raise InputError(f"reconstruction must be True (IDEC) or False (DEC), got {self.reconstruction!r}")
        if self.reconstruction and self.gamma == 0:
            raise InputError("gamma=0 with reconstruction=True would only train the autoencoder, not cluster; "
                             "use gamma > 0 (0.1 in IDEC)")
        if isinstance(self.init, str) and self.init != "kmeans":
            raise InputError(f"unknown init {self.init!r}: use 'kmeans', an array of initial centres or one "
                             "initial label per row")

    def augment_image_shape(self, input_shape) -> tuple[int, int, int]:
        """(H, W, C) of the images that ``augment`` moves: as the autoencoder being fine-tuned folds its rows."""
        ae = getattr(self, "_ae", None)
        if ae is not None:
            return ae.augment_image_shape(input_shape)  # the autoencoder knows its images' layout
        return super().augment_image_shape(input_shape)

    def _initial_centers(self, Z: np.ndarray, k: int) -> np.ndarray:
        if isinstance(self.init, str):
            km = KMeans(n_clusters=k, n_init=20, random_state=self.random_state).fit(Z)
            return km.cluster_centers_.astype(np.float32)
        init = np.asarray(self.init)
        if init.ndim == 1:  # one label per row: the centres start at each cluster's mean code
            if len(init) != len(Z):
                raise InputError(f"init has {len(init)} labels for {len(Z)} rows: give one initial cluster label per "
                                 "row of X, or initial centres of shape (n_clusters, code size)")
            if init.dtype.kind not in "iub":
                raise InputError(f"init labels must be integers, got dtype {init.dtype}")
            values, index = np.unique(init, return_inverse=True)
            if len(values) != k:
                raise InputError(f"init labels hold {len(values)} distinct clusters; n_clusters is {k}")
            counts = np.bincount(index, minlength=k).astype(np.float64)
            sums = np.zeros((k, Z.shape[1]), dtype=np.float64)
            np.add.at(sums, index, Z.astype(np.float64))
            return (sums / counts[:, None]).astype(np.float32)
        C = np.asarray(self.init, dtype=np.float32)
        if C.shape != (k, Z.shape[1]):
            raise InputError(f"init centres have shape {C.shape}; expected (n_clusters, code size) = {(k, Z.shape[1])}")
        if not np.isfinite(C).all():
            raise InputError("init centres contain NaN or infinity")
        return C

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fine-tune the encoder and the centres on ``X`` (``y`` is ignored)."""
        self._check_params()
        source = self._source()
        self._ae = None if isinstance(source, EncoderSpec) else source
        if self._ae is not None:
            X_given = source.validate_rows(X)  # shape, NaN, emptiness: as the autoencoder was fitted
            X = source.network_rows(X_given)  # scaled as the autoencoder scales them (its standardize_)
            input_shape, scale = source.input_shape_, source.scale_
        else:
            input_shape, scale = tuple(source.input_shape), source.scale
            X = X_given = validate_X(X, expected_shape=input_shape, estimator=type(self).__name__)
        self._check_augment(input_shape)
        k = check_k(self.n_clusters, len(X), "n_clusters")
        device = resolve_device(self.device)

        if self._ae is not None:
            ae = copy.deepcopy(source)
            ae.module_.to(device)
            network, encode, encoder = ae.module_, ae.code_batch, None
            Z = ae.transform(X_given)
        else:
            ae, encoder = None, source.build().to(device)
            network, encode = encoder, None
            Z = predict_batches(lambda x: encoder(to_float(x, scale)), X, batch_size=inference_batch_size(encoder),
                                device=device)
        net = ClusteringNet(network, self._initial_centers(Z, k), encode).to(device)
        self.autoencoder_, self.encoder_, self.module_ = ae, encoder, net
        self.encoder_spec_ = None if ae is not None else source
        self.input_shape_, self.scale_ = tuple(input_shape), scale
        self.n_features_in_ = int(np.prod(input_shape))
        self.training_data_ = data_record(X_given)
        alpha = float(self.alpha)
        gamma, use_rec = float(self.gamma), bool(self.reconstruction)
        kind = ae.loss_ if use_rec else None
        targets = {}  # "P": the target distribution of every row, on the device
        move = None if self.augment is None else image_mover(
            self.augment_image_shape(input_shape), self.augment_shift, self.augment_rotate)

        def loss_fn(net, batch):
            x_raw, rows = batch
            x = to_float(x_raw, scale)
            if move is not None and net.training:
                x = move(x)
            z = net.codes(x)
            q = soft_assignment(z, net.centers, alpha)
            kl = F.kl_div(q.clamp_min(1e-12).log(), targets["P"][rows], reduction="batchmean")
            if not use_rec:
                return {"loss": kl, "kl": kl}
            logits = net.network.decode_logits(z.reshape(len(z), *ae.code_shape()))
            rec = per_example_error(net.network, logits, x, kind).mean()
            return {"loss": rec + gamma * kl, "kl": kl, "reconstruction": rec}

        # One optimizer for the whole run, handed to each interval's Trainer: its moments carry over.
        opt = make_optimizer(self.optimizer, [p for p in net.parameters() if p.requires_grad], lr=float(self.lr),
                             weight_decay=self.weight_decay, device=device)
        data = (X, np.arange(len(X), dtype=np.int64))
        q = self._q(X)
        labels = q.argmax(1)
        targets["P"] = target_distribution(torch.from_numpy(q)).to(device)
        steps_per_epoch = math.ceil(len(X) / self.batch_size)
        total_epochs = self.epochs if self.max_steps is None else math.ceil(self.max_steps / steps_per_epoch)
        steps_left = self.max_steps
        history, epochs_done, converged = [], 0, False
        while epochs_done < total_epochs:
            n = min(int(self.update_interval), total_epochs - epochs_done)
            budget = None if steps_left is None else min(steps_left, n * steps_per_epoch)
            trainer = make_trainer(self, epochs=n, max_steps=budget, optimizer=lambda params: opt,
                                   seed_offset=epochs_done,
                                   description=f"{'IDEC' if use_rec else 'DEC'} epoch {epochs_done + 1}")
            logs = trainer.fit(net, loss_fn, data).history
            if steps_left is not None:
                steps_left -= budget
            epochs_done += n
            q = self._q(X)
            new = q.argmax(1)
            changed = float(np.mean(new != labels))
            labels = new
            history.append({"epoch": epochs_done, "loss": logs["loss"][-1], "kl": logs["kl"][-1],
                            "reconstruction": logs["reconstruction"][-1] if use_rec else None, "changed": changed})
            if self.verbose:
                print(f"[DeepClustering] epoch {epochs_done}: " + ", ".join(
                    f"{k}={v:.4g}" for k, v in history[-1].items() if isinstance(v, float)))
            if changed < self.tol:
                converged = True
                break
            targets["P"] = target_distribution(torch.from_numpy(q)).to(device)
        net.eval()
        self.labels_ = labels.astype(np.int64)
        self.cluster_centers_ = net.centers.detach().cpu().numpy().copy()
        self.history_ = history
        self.n_iter_ = len(history)
        self.n_epochs_ = epochs_done
        self.converged_ = converged
        return self

    # -- using ------------------------------------------------------------------------------------
    def _q(self, X) -> np.ndarray:
        net, scale, alpha = self.module_, self.scale_, float(self.alpha)
        was_training = net.training
        net.eval()
        device = net.centers.device
        q = predict_batches(lambda x: net.soft_assign(to_float(x, scale), alpha), X,
                            batch_size=inference_batch_size(net), device=device)
        net.train(was_training)
        return q

    def _validated(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        if self.autoencoder_ is not None:
            return self.autoencoder_.network_rows(X)
        return validate_X(X, expected_shape=self.input_shape_, estimator=type(self).__name__)

    def soft_assign(self, X) -> np.ndarray:
        """Q: each row's soft assignment to the clusters (rows sum to 1)."""
        return self._q(self._validated(X))

    def predict(self, X) -> np.ndarray:
        """The cluster of each row: argmax of Q."""
        return self.soft_assign(X).argmax(1).astype(np.int64)

    def transform(self, X) -> np.ndarray:
        """The fine-tuned encoder's codes."""
        check_is_fitted(self, "module_")
        if self.autoencoder_ is not None:
            return self.autoencoder_.transform(X)
        X = self._validated(X)
        encoder, scale = self.encoder_.eval(), self.scale_
        return predict_batches(lambda x: encoder(to_float(x, scale)), X, batch_size=inference_batch_size(encoder),
                               device=self.module_.centers.device)

    # -- saving: the pretrainers' own states under prefixes, the centres and labels as tensors -----------
    def get_state(self):
        check_is_fitted(self, "module_")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "autoencoder"}
        if not isinstance(params["init"], str):
            init = np.asarray(params["init"])
            params["init"] = (init.astype(np.int64) if init.ndim == 1 else init.astype(np.float64)).tolist()
        config = {"params": json_safe(params), "autoencoders": {},
                  "fitted": {"history": self.history_, "n_iter": self.n_iter_, "n_epochs": self.n_epochs_,
                             "converged": bool(self.converged_), "data": getattr(self, "training_data_", None)}}
        tensors = {"centers": self.module_.centers.detach().cpu(), "labels": torch.from_numpy(self.labels_)}
        given = self.autoencoder
        if isinstance(given, (str, os.PathLike)):
            config["autoencoder_path"], given = os.fspath(given), None
        for prefix, est in (("autoencoder", given), ("autoencoder_", self.autoencoder_)):
            if est is None:
                continue
            ae_config, ae_tensors = est.get_state()
            config["autoencoders"][prefix] = {"type": type(est).__name__, "config": ae_config}
            tensors.update({f"{prefix}.{k}": v for k, v in ae_tensors.items()})
        if self.encoder_ is not None:  # an encoder alone (DEC): its config and fine-tuned weights
            spec = self.encoder_spec_
            config["encoder"] = {"config": spec.config, "input_shape": list(spec.input_shape), "scale": spec.scale,
                                 "source": spec.source, "precision": spec.precision}
            tensors.update({f"encoder_.{k}": v for k, v in self.encoder_.state_dict().items()})
        return config, tensors

    @classmethod
    def from_state(cls, config, tensors):
        aes = {}
        for prefix, entry in config["autoencoders"].items():
            ae_cls = REGISTRY[entry["type"]]
            start = f"{prefix}."
            aes[prefix] = ae_cls.from_state(entry["config"],
                                             {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)})
        params = dict(config["params"])
        est = cls(autoencoder=aes.get("autoencoder", config.get("autoencoder_path")), **params)
        ae = aes.get("autoencoder_")
        est.autoencoder_ = ae
        if ae is not None:
            est.encoder_ = est.encoder_spec_ = None
            est.module_ = ClusteringNet(ae.module_, tensors["centers"].numpy(), ae.code_batch)
            est.input_shape_, est.scale_ = tuple(ae.input_shape_), ae.scale_
        else:
            entry = config["encoder"]
            state = {k[len("encoder_."):]: v for k, v in tensors.items() if k.startswith("encoder_.")}
            spec = EncoderSpec(entry["config"], state, tuple(entry["input_shape"]), float(entry["scale"]),
                               entry["source"], entry["precision"])
            est.encoder_spec_, est.encoder_ = spec, spec.build()
            est.module_ = ClusteringNet(est.encoder_, tensors["centers"].numpy())
            est.input_shape_, est.scale_ = spec.input_shape, spec.scale
        est.module_.eval()
        est.n_features_in_ = int(np.prod(est.input_shape_))
        est.labels_ = tensors["labels"].numpy().astype(np.int64)
        est.cluster_centers_ = tensors["centers"].numpy().copy()
        fitted = config["fitted"]
        est.history_ = list(fitted["history"])
        est.n_iter_, est.n_epochs_, est.converged_ = int(fitted["n_iter"]), int(fitted["n_epochs"]), fitted["converged"]
        est.training_data_ = fitted.get("data")
        return est
