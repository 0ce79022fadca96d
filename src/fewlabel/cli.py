"""The ``fewlabel`` command: ``fewlabel demo | datasets | pretrain | classify | cluster | map | detect``, each with
``--help``.

Exit code 0 only on success; a problem with the user's input or files prints one line naming it
(no traceback) and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fewlabel.errors import FewlabelError, InputError


def _add_training_options(p: argparse.ArgumentParser, epochs: int, lr_help: str = "learning rate (default 1e-3)",
                          lr=1e-3, batch_size: int = 256) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs, help=f"passes over the data (default {epochs})")
    g.add_argument("--batch-size", type=int, default=batch_size, help=f"rows per step (default {batch_size})")
    g.add_argument("--lr", type=float, default=lr, help=lr_help)
    g.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="adam")
    g.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two comma-separated numbers such as 0.08,1.0, got {text!r}")
    return lo, hi


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes such as 128,64, got {text!r}")
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fewlabel",
        description="Learn an encoder from unlabeled data, then classify with few labels.",
    )
    parser.add_argument("--version", action="version", version=f"fewlabel {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="pretrain on unlabeled digits, classify from 50 labels, compare with a baseline",
                       description="Learns an encoder on the unlabeled part of scikit-learn's bundled 8x8 digits, "
                                   "trains a classifier from a few labels, and prints it beside a supervised "
                                   "baseline trained on the same labels. Needs no download.")
    p.add_argument("--labels", type=int, default=50, help="how many training examples keep their label (default 50)")
    p.add_argument("--seeds", type=int, default=3, help="repeat over this many label draws (default 3)")
    p.add_argument("--out", type=Path, help="also write the results as JSON into this folder")
    p.add_argument("--device", default="auto")
    p.add_argument("--progress", action="store_true", help="show a progress bar for each training run")

    p = sub.add_parser("datasets", help="list the datasets and where each was found",
                       description="Lists every dataset fewlabel knows, its splits, and where its files were "
                                   "found (or every place looked). Downloads nothing.")
    p.add_argument("--root", type=Path, help="also look in this folder first")

    p = sub.add_parser("pretrain", help="train an encoder (autoencoder: dense, conv, vae, stacked; or byol) on a "
                                        "dataset and save it",
                       description="Trains an autoencoder, or a BYOL encoder, on a dataset (labels are not used), "
                                   "saves it (safetensors + JSON) with its training history, and writes its figures: "
                                   "loss curves, a 2-D map of the codes, reconstructions (autoencoders), samples and "
                                   "interpolations (VAE).")
    p.add_argument("--data", required=True, help="dataset name (digits, mnist, fashion-mnist, ...) or a .npy/.csv file")
    p.add_argument("--split", default="train")
    p.add_argument("--root", type=Path, help="folder holding the dataset's files")
    p.add_argument("--model", choices=["dense", "conv", "vae", "stacked", "byol"], default="dense")
    p.add_argument("--out", type=Path, required=True, help="folder to write the model, history and figures into")
    p.add_argument("--config", type=Path, help="JSON file of option values (command-line options win)")
    g = p.add_argument_group("architecture")
    g.add_argument("--hidden", type=_sizes, help="encoder layer sizes, e.g. 500,500,2000 "
                                                 "(default 128,64; stacked 500,500,2000; vae 256)")
    g.add_argument("--latent", type=int, help="code size (default dense 16, vae 2, stacked 10; conv: none, the "
                                              "last feature map is the code)")
    g.add_argument("--activation", default="relu", help="hidden-layer activation: relu, sigmoid, tanh, selu, "
                                                        "elu, gelu, leaky_relu, softplus, linear")
    g.add_argument("--latent-activation", default="linear", help="the code layer's activation (default linear)")
    g.add_argument("--output-activation", default="auto", help="auto: sigmoid for data in [0, 1], else linear")
    g.add_argument("--decoder-hidden", type=_sizes, help="dense: decoder sizes (default: the encoder's mirrored)")
    g.add_argument("--tied", action="store_true", help="dense: decoder uses the encoder's transposed weights")
    g.add_argument("--channels", type=_sizes, default=(16, 32, 64), help="conv/vae-conv: channels per stage")
    g.add_argument("--batch-norm", action="store_true", help="conv: batch normalisation after each convolution")
    g.add_argument("--code", choices=["flatten", "pool"], default="flatten",
                   help="conv: codes are the flattened last feature map or its global average (default flatten)")
    g.add_argument("--architecture", choices=["dense", "conv"], default="dense", help="vae: dense or conv")
    g.add_argument("--beta", type=float, default=1.0, help="vae: weight of the KL term (default 1)")
    g.add_argument("--layer-epochs", type=int, default=10, help="stacked: epochs per greedy layer (default 10)")
    g.add_argument("--finetune-epochs", type=int, default=10, help="stacked: end-to-end epochs after (default 10)")
    g = p.add_argument_group("byol")
    g.add_argument("--backbone", choices=["resnet18", "conv"], default="resnet18",
                   help="byol: the encoder (default resnet18; conv uses --channels and --batch-norm)")
    g.add_argument("--width", type=int, default=64, help="byol resnet18: channels of its first stage (default 64)")
    g.add_argument("--stem", choices=["auto", "imagenet", "cifar"], default="auto",
                   help="byol resnet18: first layers (auto: cifar below 64 px, imagenet from there)")
    g.add_argument("--tau", type=float, default=0.996, help="byol: the target's EMA momentum at the start (default "
                                                            "0.996, rising to 1)")
    g.add_argument("--crop-scale", type=_pair, default=(0.08, 1.0),
                   help="byol: area range of the random crops (default 0.08,1.0)")
    g.add_argument("--projection-dim", type=int, default=256, help="byol: projection size (default 256)")
    g.add_argument("--hidden-dim", type=int, default=4096, help="byol: projector/predictor hidden size (default 4096)")
    g.add_argument("--warmup-epochs", type=int, default=0, help="byol: epochs of linear learning-rate warm-up")
    g = p.add_argument_group("objective")
    g.add_argument("--loss", choices=["mse", "bce", "auto"],
                   help="reconstruction loss (default mse; vae auto: bce for data in [0, 1], else mse)")
    g.add_argument("--hinge", type=float, help="per-example cut-off: examples reconstructed better add no loss")
    g.add_argument("--noise", choices=["gaussian", "mask", "salt_pepper", "blur"],
                   help="train as a denoising autoencoder with this corruption (target: the clean input)")
    g.add_argument("--noise-level", type=float, default=0.2,
                   help="gaussian std, fraction masked / salted, or blur sigma in pixels (default 0.2)")
    g.add_argument("--augment", choices=["shift"],
                   help="autoencoders: train on randomly shifted (up to 10%%) and rotated (up to 10 degrees) images, "
                        "each its own target (DEC-DA); codes that cluster by shape rather than position")
    g = p.add_argument_group("validation and figures")
    g.add_argument("--validation-fraction", type=float, default=0.1,
                   help="autoencoders: hold out this fraction for val_loss (default 0.1)")
    g.add_argument("--validation-split", help="validate on this split of the dataset instead (e.g. test)")
    g.add_argument("--no-plots", action="store_true", help="write no figures")
    _add_training_options(p, epochs=20, lr=None, lr_help="learning rate (default 1e-3; byol 3e-4)")

    p = sub.add_parser("classify", help="semi-supervised classifier from few labels, beside its supervised baselines",
                       description="Trains a semi-supervised classifier on a dataset where only --labels training "
                                   "examples keep their label (labeled_subset, one draw per seed), and beside it the "
                                   "same network trained from scratch on the same labels, and on all labels. Scores "
                                   "on the test split; writes metrics.json, learning_curves.png, "
                                   "confusion_matrix.png and training.png.")
    p.add_argument("--data", required=True, help="dataset name (mnist, fashion-mnist, digits, ...)")
    p.add_argument("--root", type=Path, help="folder holding the dataset's files")
    p.add_argument("--split", default="train", help="split to learn from (default train)")
    p.add_argument("--test-split", default="test", help="split to score on (default test)")
    p.add_argument("--labels", type=int, nargs="+", required=True,
                   help="labeled examples to keep; several numbers draw a learning curve (e.g. 100 1000 5000)")
    p.add_argument("--seeds", type=int, default=3, help="label draws per count (default 3)")
    p.add_argument("--out", type=Path, required=True, help="folder for metrics.json and the figures")
    p.add_argument("--config", type=Path, help="JSON file of option values (command-line options win)")
    g = p.add_argument_group("method")
    g.add_argument("--pretrain", choices=["none", "autoencoder", "denoising", "vae", "byol"], default="autoencoder")
    g.add_argument("--consistency", choices=["none", "fixmatch"], default="none",
                   help="fixmatch: pseudo-labels on confident unlabeled examples, weak/strong augmentation")
    g.add_argument("--encoder", choices=["dense", "conv", "resnet18"], default="dense",
                   help="encoder architecture, pretrained here and trained from scratch for the baseline "
                        "(byol: conv or resnet18)")
    g.add_argument("--width", type=int, default=64, help="resnet18: channels of its first stage (default 64)")
    g.add_argument("--hidden", type=_sizes, default=(128, 64), help="dense encoder layer sizes")
    g.add_argument("--latent", type=int, default=16, help="dense encoder code size")
    g.add_argument("--channels", type=_sizes, default=(32, 64, 128), help="conv encoder channels per stage")
    g.add_argument("--head", choices=["mlp", "linear"], default="mlp")
    g.add_argument("--freeze-encoder", choices=["no", "yes", "then_unfreeze"], default="no")
    g.add_argument("--augment", action="store_true", help="weak augmentation of the labeled examples")
    g.add_argument("--pretrain-epochs", type=int, default=20)
    g.add_argument("--pretrain-lr", type=float, help="learning rate of the pretraining (default: --lr)")
    g.add_argument("--threshold", type=float, default=0.95, help="fixmatch confidence threshold (default 0.95)")
    g.add_argument("--ema", type=float, help="keep a moving average of the weights with this decay (e.g. 0.999) "
                                             "and predict with it (default: off)")
    g.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                   help="learning rate over the training (default constant)")
    g.add_argument("--validation-fraction", type=float, default=0.0,
                   help="hold out this fraction of the labeled rows for val_loss (never the test split)")
    _add_training_options(p, epochs=50)

    p = sub.add_parser("cluster", help="cluster a dataset (raw pixels or a saved encoder's codes), score against labels",
                       description="Encodes a dataset with a saved fewlabel autoencoder (or uses the raw input), "
                                   "optionally maps the codes with PCA or UMAP, clusters them with k-means or a "
                                   "Gaussian mixture, and scores the clusters against the labels (NMI, ARI, "
                                   "cluster accuracy) when there are labels. Writes metrics.json, clusters.png "
                                   "and labels.png.")
    _add_data_options(p)
    p.add_argument("--encoder", type=Path, help="folder of a saved fewlabel autoencoder (from fewlabel pretrain "
                                                "or fewlabel.save); default: cluster the raw input")
    p.add_argument("--k", type=_k_value, default=10,
                   help="number of clusters, or 'auto' to pick it by the silhouette over k = 2..15 (default 10)")
    p.add_argument("--method", choices=["kmeans", "gmm"], default="kmeans",
                   help="k-means or a Gaussian mixture with full covariances (default kmeans)")
    p.add_argument("--manifold", choices=["none", "pca", "umap"], default="none",
                   help="map the codes to --manifold-dim dimensions first (umap needs umap-learn; default none)")
    p.add_argument("--manifold-dim", type=int, default=10, help="dimensions of the manifold step (default 10)")
    p.add_argument("--n-neighbors", type=int, default=20, help="UMAP neighbours (default 20)")
    p.add_argument("--max-rows", type=int, help="cluster at most this many rows, drawn by --seed (stratified by "
                                                "label when there are labels)")
    p.add_argument("--device", default="cpu", help="where the encoder runs: cpu (default), auto, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="folder to write metrics.json and the figures into")

    p = sub.add_parser("map", help="draw a 2-D map (PCA, t-SNE, UMAP) of the raw input beside a saved encoder's codes",
                       description="Maps the same rows of a dataset to 2-D twice, the raw input and the codes of a "
                                   "saved fewlabel autoencoder, with the same method, and draws them side by side "
                                   "coloured by label. Writes map.png and map.json.")
    _add_data_options(p)
    p.add_argument("--encoder", type=Path, help="folder of a saved fewlabel autoencoder; default: both maps show "
                                                "the raw input")
    p.add_argument("--method", choices=["pca", "tsne", "umap"], default="pca",
                   help="pca (fast, linear; default), tsne, or umap (needs umap-learn)")
    p.add_argument("--max-points", type=int, default=5000,
                   help="map at most this many rows, drawn by --seed and stratified by label (default 5000)")
    p.add_argument("--device", default="cpu", help="where the encoder runs: cpu (default), auto, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="folder to write map.png and map.json into")

    p = sub.add_parser("detect", help="outliers by reconstruction error, or one autoencoder per class with an "
                                      "'unknown' answer",
                       description="Trains an autoencoder on --data (normal rows) and flags rows it reconstructs "
                                   "worse than the --contamination quantile of held-out rows; with --per-class, one "
                                   "autoencoder per class, a row going to the class that reconstructs it best, or "
                                   "'unknown' (-1) when none does within its --unknown quantile. Scores the "
                                   "--test-split and, with --outliers, rows known to be outliers (AUROC). Writes "
                                   "model/, metrics.json and errors.png.")
    _add_data_options(p)
    p.add_argument("--test-split", default="test", help="split scored as new normal rows (default test); 'none' "
                                                        "to skip (a file given as --data has no test split)")
    p.add_argument("--classes", type=_labels, help="train on the rows of these classes only (e.g. 0,1,2,3,4): the "
                                                   "others' test rows then count as outliers")
    p.add_argument("--outliers", help="a dataset of known outliers (name or file), scored beside the test split")
    p.add_argument("--outliers-split", default="test", help="split of --outliers (default test)")
    p.add_argument("--per-class", action="store_true", help="one autoencoder per class (needs labels)")
    p.add_argument("--contamination", type=float, default=0.01,
                   help="share of normal rows flagged: the cut-off quantile (default 0.01)")
    p.add_argument("--unknown", type=float, default=0.99,
                   help="with --per-class: 'unknown' when no class reconstructs the row within this quantile of "
                        "its own held-out errors (default 0.99)")
    p.add_argument("--hidden", type=_sizes, default=(128,), help="hidden layer sizes (default 128)")
    p.add_argument("--latent", type=int, default=8, help="code size (default 8)")
    p.add_argument("--max-rows", type=int, help="train on at most this many rows, drawn by --seed")
    p.add_argument("--out", type=Path, required=True, help="folder to write model/, metrics.json and errors.png into")
    _add_training_options(p, epochs=30, batch_size=32)
    return parser


def _labels(text: str) -> list:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated class labels such as 0,1,2, got {text!r}")
    return [int(s) if s.lstrip("-").isdigit() else s for s in items]


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset name (digits, mnist, fashion-mnist, ...) or a .npy/.csv file")
    p.add_argument("--split", default="train", help="which split of the dataset (default train)")
    p.add_argument("--root", type=Path, help="folder holding the dataset's files")


def _k_value(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of clusters or 'auto', got {text!r}") from None


def _version() -> str:
    from fewlabel import __version__
    return __version__


def _apply_config(args: argparse.Namespace, parser: argparse.ArgumentParser, argv) -> None:
    """Values from ``--config`` for every option not given on the command line."""
    path = getattr(args, "config", None)
    if path is None:
        return
    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"--config: no such file {path}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"--config {path} is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise InputError(f"--config {path} must hold a JSON object of option names and values")
    given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    for key, value in values.items():
        attr = key.replace("-", "_")
        if not hasattr(args, attr):
            raise InputError(f"--config {path}: unknown option {key!r}")
        if attr not in given:
            setattr(args, attr, tuple(value) if isinstance(value, list) else value)


def _is_path(name: str) -> bool:
    """A file or folder of the user's, not a catalogue dataset name (files have no splits)."""
    path = Path(name)
    return path.suffix.lower() in (".npy", ".npz", ".csv", ".tsv", ".parquet", ".txt") or path.exists()


def _load_data(name: str, split: str, root):
    from fewlabel import datasets

    path = Path(name)
    if _is_path(name):
        if path.is_dir():
            X, y, _ = datasets.read_image_folder(path)
            return X, y
        X, y, _ = datasets.read_table(path)
        return X, y
    return datasets.load(name, split=split, root=root)


def cmd_datasets(args) -> int:
    from fewlabel import datasets

    print(datasets.format_description(datasets.describe(root=args.root)))
    return 0


MODEL_DEFAULTS = {"dense": {"hidden": (128, 64), "latent": 16, "loss": "mse"},
                  "conv": {"latent": None, "loss": "mse"},
                  "vae": {"hidden": (256,), "latent": 2, "loss": "auto"},
                  "stacked": {"hidden": (500, 500, 2000), "latent": 10, "loss": "mse"}}


def build_autoencoder(args):
    """The estimator ``fewlabel pretrain`` trains, from its options (each model takes the ones it has)."""
    if args.model == "byol":
        from fewlabel.pretrain.byol import BYOL

        given = [o for o, v in (("--loss", args.loss), ("--hinge", args.hinge), ("--noise", args.noise),
                                ("--augment", args.augment), ("--latent", args.latent), ("--hidden", args.hidden))
                 if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} do(es) not apply to --model byol (it has no decoder or "
                             "reconstruction loss); see the byol options")
        return BYOL(encoder=args.backbone, stem=args.stem, width=args.width, channels=args.channels,
                    batch_norm=True if args.backbone == "conv" else args.batch_norm,
                    projection_dim=args.projection_dim, hidden_dim=args.hidden_dim, tau=args.tau,
                    crop_scale=args.crop_scale, epochs=args.epochs, batch_size=args.batch_size,
                    optimizer=args.optimizer, lr=3e-4 if args.lr is None else args.lr,
                    warmup_epochs=args.warmup_epochs, device=args.device, random_state=args.seed,
                    verbose=not args.quiet)
    defaults = MODEL_DEFAULTS[args.model]
    pick = {k: getattr(args, k) if getattr(args, k) is not None else defaults.get(k) for k in ("hidden", "latent", "loss")}
    common = dict(loss=pick["loss"], noise=args.noise, noise_level=args.noise_level, optimizer=args.optimizer,
                  lr=1e-3 if args.lr is None else args.lr, epochs=args.epochs, batch_size=args.batch_size,
                  validation_fraction=0.0 if args.validation_split else args.validation_fraction,
                  output_activation=args.output_activation, device=args.device, random_state=args.seed,
                  verbose=not args.quiet)
    augment = {"augment": args.augment} if args.augment else {}
    if args.model == "conv":
        from fewlabel import ConvAutoencoder

        return ConvAutoencoder(channels=args.channels, activation=args.activation, batch_norm=args.batch_norm,
                               latent=pick["latent"], latent_activation=args.latent_activation, code=args.code,
                               hinge=args.hinge, **augment, **common)
    if args.model == "vae":
        from fewlabel.pretrain.variational import VariationalAutoencoder

        if args.hinge is not None:
            raise InputError("--hinge does not apply to --model vae (its loss is the ELBO)")
        return VariationalAutoencoder(hidden=pick["hidden"], latent=pick["latent"], activation=args.activation,
                                      architecture=args.architecture, channels=args.channels, beta=args.beta,
                                      **augment, **common)
    dense = dict(hidden=pick["hidden"], latent=pick["latent"], activation=args.activation,
                 latent_activation=args.latent_activation, hinge=args.hinge, **common)
    if args.model == "stacked":
        from fewlabel.pretrain.stacked import StackedAutoencoder

        return StackedAutoencoder(layer_epochs=args.layer_epochs, finetune_epochs=args.finetune_epochs, **augment,
                                  **dense)
    from fewlabel import Autoencoder

    return Autoencoder(decoder_hidden=args.decoder_hidden, tied=args.tied, **augment, **dense)


def write_autoencoder_figures(ae, X, y, out: Path, title: str) -> list[Path]:
    """Loss curves, reconstructions, a 2-D map of the codes (PCA when wider than 2), VAE samples."""
    import numpy as np

    from fewlabel import plots

    written = []
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(X), min(len(X), 5000), replace=False))
    Xs, ys = X[idx], (None if y is None else np.asarray(y)[idx])
    plots.loss_curves(ae.history_, path=out / "loss.png", title=title)
    written.append(out / "loss.png")
    images = X.ndim >= 3 or int(round(np.sqrt(X.shape[1]))) ** 2 == X.shape[1]
    if images and hasattr(ae, "reconstruct"):
        plots.reconstructions(X[:8], ae.reconstruct(X[:8]), path=out / "reconstructions.png", title=title)
        written.append(out / "reconstructions.png")
    codes = ae.transform(Xs)
    how = "codes"
    if codes.shape[1] > 2:
        from sklearn.decomposition import PCA

        codes, how = PCA(2, random_state=0).fit_transform(codes), f"PCA of the {codes.shape[1]}-d codes"
    plots.latent_scatter(codes, ys, path=out / "latent.png", title=f"{title}: {how}")
    written.append(out / "latent.png")
    if hasattr(ae, "sample") and images:
        plots.vae_samples(ae, n=64, path=out / "samples.png")
        plots.interpolation_grid(ae, [(X[0], X[1]), (X[2], X[3])], steps=8, path=out / "interpolation.png")
        written += [out / "samples.png", out / "interpolation.png"]
    import matplotlib.pyplot as plt

    plt.close("all")
    return written


def cmd_pretrain(args) -> int:
    from fewlabel import save
    from fewlabel.train.state import atomic_write

    X, y = _load_data(args.data, args.split, args.root)
    val = None
    if args.validation_split:
        val, _ = _load_data(args.data, args.validation_split, args.root)
    ae = build_autoencoder(args)
    t0 = time.perf_counter()
    ae.fit(X, validation_data=val)
    seconds = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    save(ae, args.out / "model")
    h = ae.history_.history
    summary = {"model": args.model, "data": args.data, "rows": int(len(X)), "seconds": round(seconds, 2),
               "loss": h["loss"][-1], "val_loss": h["val_loss"][-1] if "val_loss" in h else None,
               "history": ae.history_.to_dict()}
    text = json.dumps(summary, indent=2)
    atomic_write(args.out / "history.json", lambda tmp: tmp.write_text(text))
    what = "BYOL encoder" if args.model == "byol" else f"{args.model} autoencoder"
    figures = [] if args.no_plots else write_autoencoder_figures(ae, X, y, args.out, what)
    last = f"loss {h['loss'][-1]:.4f}" + (f", val_loss {h['val_loss'][-1]:.4f}" if "val_loss" in h else "")
    print(f"trained a {what} on {len(X)} rows of {args.data} in {seconds:.1f} s: {last}")
    print(f"saved to {args.out / 'model'} (load with fewlabel.load)")
    if figures:
        print("figures: " + ", ".join(str(f) for f in figures))
    return 0


def _load_encoder(path, device: str):
    """A saved fewlabel encoder (anything with ``transform``) from ``path``, moved to ``device``."""
    import fewlabel

    encoder = fewlabel.load(path)
    if not hasattr(encoder, "transform"):
        raise InputError(f"--encoder {path} holds a {type(encoder).__name__}, which has no transform method; "
                         "give the folder of a saved autoencoder (fewlabel pretrain --out DIR writes DIR/model)")
    module = getattr(encoder, "module_", None)
    if module is not None and device != "cpu":
        from fewlabel.train import resolve_device

        module.to(resolve_device(device))
    return encoder


def _encode_for(encoder, X, args):
    """The codes of ``X``; an encoder fitted on rows of another shape is named with the option and the data."""
    from fewlabel.tasks.cluster import encode

    try:
        return encode(X, encoder)
    except InputError:
        shape = getattr(encoder, "input_shape_", None)
        if shape is not None and tuple(X.shape[1:]) != tuple(shape):
            raise InputError(f"--encoder {args.encoder} was trained on rows of shape {tuple(shape)}, but "
                             f"{args.data} ({args.split}) has rows of shape {tuple(X.shape[1:])}: use an encoder "
                             "trained on this dataset") from None
        raise


def _positive(value, option: str) -> None:
    if value is not None and value < 1:
        raise InputError(f"{option} must be at least 1, got {value}")


def _json_number(v):
    return None if v is None or v != v or v in (float("inf"), float("-inf")) else v


def cmd_cluster(args) -> int:
    import numpy as np

    from fewlabel.tasks.cluster import _check_k, choose_k, run_cluster, subsample
    from fewlabel.train.state import write_json_atomic

    _positive(args.max_rows, "--max-rows")
    _positive(args.manifold_dim, "--manifold-dim")
    if args.n_neighbors < 2:
        raise InputError(f"--n-neighbors must be at least 2, got {args.n_neighbors}")
    if args.k != "auto" and args.k < 2:  # named before anything is loaded (k > rows: once the rows are known)
        raise InputError(f"--k must be at least 2 (got {args.k}): one cluster is not a clustering")
    if args.encoder is not None and not Path(args.encoder).exists():
        raise InputError(f"--encoder {args.encoder}: no such folder (give the folder of a saved fewlabel model)")
    X, y = _load_data(args.data, args.split, args.root)
    n_total = len(X)
    if args.max_rows is not None and args.max_rows < n_total:
        idx = subsample(n_total, args.max_rows, y, args.seed)
        X, y = X[idx], (None if y is None else np.asarray(y)[idx])
    encoder = None if args.encoder is None else _load_encoder(args.encoder, args.device)
    t0 = time.perf_counter()
    Z = _encode_for(encoder, X, args)
    encode_seconds = time.perf_counter() - t0
    manifold = None if args.manifold == "none" else args.manifold
    selection = None
    if args.k == "auto":
        top = min(15, len(Z) - 1)
        if top < 2:
            raise InputError(f"--k auto needs at least 3 rows to compare numbers of clusters, got {len(Z)}")
        k, scores = choose_k(Z, ks=range(2, top + 1), method=args.method, criterion="silhouette",
                             random_state=args.seed, manifold=manifold, manifold_dim=args.manifold_dim,
                             n_neighbors=args.n_neighbors)
        selection = {"criterion": "silhouette", "ks": sorted(scores), "best_k": int(k),
                     "scores": {str(kk): _json_number(v) for kk, v in sorted(scores.items())}}
    else:
        k = _check_k(args.k, len(Z), "--k")
    result = run_cluster(Z, y, encoder=None, k=k, method=args.method, manifold=manifold,
                         manifold_dim=args.manifold_dim, n_neighbors=args.n_neighbors, out=args.out, seed=args.seed)
    result.pop("labels")
    result.update({"data": args.data, "split": args.split, "rows_in_split": int(n_total),
                   "max_rows": args.max_rows, "encoder": None if encoder is None else type(encoder).__name__,
                   "encoder_path": None if args.encoder is None else str(args.encoder),
                   "encode_seconds": round(encode_seconds, 3), "k_selection": selection})
    write_json_atomic(args.out / "metrics.json", result)
    what = f"{type(encoder).__name__} codes ({Z.shape[1]}-d)" if encoder is not None else f"raw input ({Z.shape[1]} features)"
    how = {"kmeans": "k-means", "gmm": "GMM"}[args.method] + (f" after {args.manifold}" if manifold else "")
    kk = f"k={k}" + (" (auto, silhouette)" if selection else "")
    scores_text = (f": NMI {result['nmi']:.3f}, ARI {result['ari']:.3f}, ACC {result['accuracy']:.3f}"
                   if "nmi" in result else " (no labels to score against)")
    print(f"clustered {len(Z)} rows of {args.data}, {what}, with {how}, {kk}{scores_text}; "
          f"wrote {args.out / 'metrics.json'}")
    return 0


def classifier_params(args) -> dict:
    """The SemiSupervisedClassifier parameters ``fewlabel classify`` asks for."""
    return dict(encoder=args.encoder, pretrain=None if args.pretrain == "none" else args.pretrain,
                consistency=None if args.consistency == "none" else args.consistency, hidden=args.hidden,
                latent=args.latent, channels=args.channels, width=args.width, head=args.head,
                freeze_encoder={"no": False, "yes": True}.get(args.freeze_encoder, args.freeze_encoder),
                augment=args.augment, threshold=args.threshold, epochs=args.epochs,
                pretrain_epochs=args.pretrain_epochs, optimizer=args.optimizer, lr=args.lr, ema=args.ema,
                schedule=None if args.schedule == "constant" else args.schedule, batch_size=args.batch_size, validation_fraction=args.validation_fraction, device=args.device,
                pretrain_params=None if args.pretrain_lr is None else {"lr": args.pretrain_lr},
                verbose=not args.quiet)


def cmd_classify(args) -> int:
    from fewlabel.tasks.compare import compare

    params = classifier_params(args)
    X, y = _load_data(args.data, args.split, args.root)
    Xt, yt = _load_data(args.data, args.test_split, args.root)
    if y is None or yt is None:
        raise InputError(f"{args.data} has no labels to classify with")
    result = compare(X, y, Xt, yt, n_labels=args.labels, seeds=args.seeds, params=params, out=args.out)
    print(f"wrote {args.out / 'metrics.json'} and figures ({result['seconds']} s in all)")
    return 0


def cmd_map(args) -> int:
    from fewlabel.tasks.embed_map import run_map

    _positive(args.max_points, "--max-points")
    if args.encoder is not None and not Path(args.encoder).exists():
        raise InputError(f"--encoder {args.encoder}: no such folder (give the folder of a saved fewlabel model)")
    X, y = _load_data(args.data, args.split, args.root)
    encoder = None if args.encoder is None else _load_encoder(args.encoder, args.device)
    if encoder is not None:
        _encode_for(encoder, X[:1], args)  # another input shape is named before any map is computed
    result = run_map(X, y, encoder=encoder, method=args.method, out=args.out, seed=args.seed,
                     max_points=args.max_points)
    s = result["seconds"]
    print(f"mapped {result['n_points']} rows of {args.data} with {args.method} in {s['raw'] + s['codes']:.1f} s; "
          f"wrote {args.out / 'map.png'} and {args.out / 'map.json'}")
    return 0


def cmd_detect(args) -> int:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from fewlabel import Autoencoder, save
    from fewlabel.plots import error_histogram
    from fewlabel.tasks.detect import ClassAutoencoderClassifier, ReconstructionDetector
    from fewlabel.tasks.cluster import subsample
    from fewlabel.train.state import write_json_atomic

    _positive(args.max_rows, "--max-rows")
    X, y = _load_data(args.data, args.split, args.root)
    if (args.per_class or args.classes) and y is None:
        raise InputError(f"{args.data} has no labels: --per-class and --classes need them")
    if args.classes is not None:
        missing = [c for c in args.classes if not (np.asarray(y) == c).any()]
        if missing:
            raise InputError(f"--classes: no rows of class {missing} in {args.data} ({args.split})")
        keep = np.isin(y, args.classes)
        X, y = X[keep], np.asarray(y)[keep]
    if args.max_rows is not None and args.max_rows < len(X):
        idx = subsample(len(X), args.max_rows, y, args.seed)
        X, y = X[idx], (None if y is None else np.asarray(y)[idx])
    # a file has no test split: scoring its own training rows again would flatter the detector
    test = None if args.test_split == "none" or _is_path(args.data) else _load_data(args.data, args.test_split, args.root)
    outliers = None if args.outliers is None else _load_data(args.outliers, args.outliers_split, args.root)[0]
    ae = Autoencoder(hidden=args.hidden, latent=args.latent, epochs=args.epochs, batch_size=args.batch_size,
                     lr=args.lr, optimizer=args.optimizer, device=args.device, random_state=args.seed,
                     verbose=not args.quiet)
    t0 = time.perf_counter()
    if args.per_class:
        model = ClassAutoencoderClassifier(ae, unknown=args.unknown, random_state=args.seed).fit(X, y)
    else:
        model = ReconstructionDetector(ae, contamination=args.contamination, random_state=args.seed).fit(X)
    seconds = time.perf_counter() - t0

    def errors(rows):  # per row: its own error (detector), or the best class's (per class)
        return (model.reconstruction_errors(rows).min(axis=1) if args.per_class
                else model.reconstruction_error(rows))

    def flagged(rows):
        return float(np.mean(model.is_unknown(rows) if args.per_class else model.predict(rows) == -1))

    result = {"data": args.data, "split": args.split, "rows": int(len(X)), "classes": args.classes,
              "model": type(model).__name__, "fit_seconds": round(seconds, 2), "outliers": args.outliers}
    groups, flag_name, normal = {}, "unknown_share" if args.per_class else "flagged_share", None
    if args.per_class:
        result.update({"unknown": args.unknown, "temperature": model.temperature_})
    else:
        result.update({"contamination": args.contamination, "threshold": model.threshold_})
    if test is not None:
        Xt, yt = test
        seen = np.ones(len(Xt), bool) if args.classes is None or yt is None else np.isin(yt, args.classes)
        result["test"] = {"rows": int(seen.sum()), flag_name: flagged(Xt[seen])}
        normal = groups[f"{args.test_split} ({'seen classes' if args.classes else 'normal'})"] = errors(Xt[seen])
        if args.per_class and yt is not None:
            result["test"]["accuracy"] = float(model.score(Xt[seen], yt[seen]))
        if not seen.all():
            result["unseen_classes"] = {"rows": int((~seen).sum()), flag_name: flagged(Xt[~seen])}
            groups[f"{args.test_split} (other classes)"] = errors(Xt[~seen])
    if outliers is not None:
        result["outlier_rows"] = {"rows": int(len(outliers)), flag_name: flagged(outliers)}
        groups[f"{args.outliers} (outliers)"] = errors(outliers)
    for key, name in (("unseen_classes", f"{args.test_split} (other classes)"), ("outlier_rows", f"{args.outliers} (outliers)")):
        if key in result and normal is not None:  # how well the error tells the test split's normal rows from these
            e = groups[name]
            result[key]["auroc"] = float(roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(e))], np.r_[normal, e]))
    args.out.mkdir(parents=True, exist_ok=True)
    save(model, args.out / "model")
    if groups:
        error_histogram(groups, threshold=None if args.per_class else model.threshold_, path=args.out / "errors.png",
                        title=f"{type(model).__name__} on {args.data}")
    write_json_atomic(args.out / "metrics.json", result)
    parts = [f"{k}: " + ", ".join(f"{m} {v:.3f}" for m, v in result[k].items() if m != "rows")
             for k in ("test", "unseen_classes", "outlier_rows") if k in result]
    print(f"{type(model).__name__} trained on {len(X)} rows of {args.data} in {seconds:.1f} s; "
          + ("; ".join(parts) + "; " if parts else "") + f"wrote {args.out / 'metrics.json'}")
    return 0


def cmd_demo(args) -> int:
    from fewlabel.demo import run_demo

    run_demo(labels=args.labels, seeds=args.seeds, out=args.out, device=args.device, verbose=args.progress)
    return 0


COMMANDS = {"demo": cmd_demo, "datasets": cmd_datasets, "pretrain": cmd_pretrain, "classify": cmd_classify,
            "cluster": cmd_cluster, "map": cmd_map, "detect": cmd_detect}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        _apply_config(args, parser, argv)
        return COMMANDS[args.command](args)
    except FewlabelError as e:
        print(f"fewlabel {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fewlabel {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
