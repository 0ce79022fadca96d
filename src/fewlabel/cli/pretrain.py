"""``fewlabel pretrain``: train an encoder (autoencoder or BYOL) on unlabeled rows, save it with its figures."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fewlabel.cli.cluster import ENCODER_EPOCHS, ENCODER_MIN_STEPS
from fewlabel.cli.common import (add_config_option, add_data_options, add_output_options, add_training_options,
                                 is_path, load_data, load_data_source, own_file_options, pair, refuse_file_options,
                                 remember_source, sizes, training_settings_of)
from fewlabel.errors import InputError

WRITES = ("model", "history.json", "loss.png", "reconstructions.png", "latent.png", "samples.png",
          "interpolation.png")

MODEL_DEFAULTS = {"dense": {"hidden": (500, 500, 2000), "latent": 10, "loss": "mse"},
                  "conv": {"latent": None, "loss": "mse"},
                  "vae": {"hidden": (256,), "latent": 2, "loss": "auto"},
                  "stacked": {"hidden": (500, 500, 2000), "latent": 10, "loss": "mse"}}

VALIDATION_FRACTION = 0.1


def add_parser(sub) -> None:
    p = sub.add_parser("pretrain", help="train an encoder (autoencoder: dense, conv, vae, stacked; or byol) on a "
                                        "dataset and save it",
                       description="Trains an autoencoder, or a BYOL encoder, on a dataset (labels are not used), "
                                   "saves it (safetensors + JSON) with its training history, and writes its figures: "
                                   "loss curves, a 2-D map of the codes, reconstructions (autoencoders), samples and "
                                   "interpolations (VAE).")
    add_data_options(p)
    p.add_argument("--model", choices=["dense", "conv", "vae", "stacked", "byol"], default="dense")
    add_output_options(p, WRITES)
    add_config_option(p)
    g = p.add_argument_group("architecture")
    g.add_argument("--hidden", type=sizes, help="encoder layer sizes, e.g. 500,500,2000 "
                                                "(default 128,64; stacked 500,500,2000; vae 256)")
    g.add_argument("--latent", type=int, help="code size (default dense 16, vae 2, stacked 10; conv: none, the "
                                              "last feature map is the code)")
    g.add_argument("--activation", default="relu", help="hidden-layer activation: relu, sigmoid, tanh, selu, "
                                                        "elu, gelu, leaky_relu, softplus, linear")
    g.add_argument("--latent-activation", default="linear", help="the code layer's activation (default linear)")
    g.add_argument("--output-activation", default="auto", help="auto: sigmoid for data in [0, 1], else linear")
    g.add_argument("--decoder-hidden", type=sizes, help="dense: decoder sizes (default: the encoder's mirrored)")
    g.add_argument("--tied", action="store_true", help="dense: decoder uses the encoder's transposed weights")
    g.add_argument("--channels", type=sizes, default=(16, 32, 64), help="conv/vae-conv: channels per stage")
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
    g.add_argument("--crop-scale", type=pair, default=(0.08, 1.0),
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
    g.add_argument("--validation-fraction", type=float,
                   help=f"autoencoders: hold out this fraction for val_loss (default {VALIDATION_FRACTION})")
    g.add_argument("--validation-split", help="validate on this split of a named dataset instead (e.g. test; not the "
                                              "split trained on; a file has no splits)")
    g.add_argument("--no-plots", action="store_true", help="write no figures")
    add_training_options(p, epochs=ENCODER_EPOCHS, lr=None, lr_help="learning rate (default 1e-3; byol 3e-4)")
    epochs = next(a for a in p._actions if a.dest == "epochs")
    epochs.default = None  # None: chosen from the number of rows (see fit_epochs)
    epochs.help = (f"passes over the rows (default {ENCODER_EPOCHS}; the dense, conv and vae autoencoders more on "
                   f"small data: at least {ENCODER_MIN_STEPS} optimizer steps, as fewlabel cluster's and map's "
                   "encoder)")


def check_options(args) -> None:
    """Options that cannot apply to this data or this model are refused, not ignored."""
    refuse_file_options(args.data, {"--split": args.split, "--validation-split": args.validation_split,
                                    "--root": args.root})
    split = args.split or "train"
    if args.validation_split is not None:
        if args.validation_split == split:
            raise InputError(f"--validation-split {split} is the split trained on (--split {split}): a val_loss on "
                             "the training rows says nothing about new rows; give another split, or "
                             "--validation-fraction to hold out part of it")
        if args.validation_fraction is not None:
            raise InputError("--validation-fraction and --validation-split both choose the validation rows: give one")
    if args.validation_fraction is not None and args.model == "byol":
        raise InputError("--validation-fraction does not apply to --model byol; use --validation-split")


def _fraction(args) -> float:
    return VALIDATION_FRACTION if args.validation_fraction is None else args.validation_fraction


def fit_epochs(n_rows: int, ae) -> int:
    """The epochs of the default encoder (:func:`fewlabel.tasks.cluster.default_epochs`) for the rows ``ae``
    trains on (``n_rows`` less those it holds out for validation): on a table of a few hundred rows twenty
    epochs are twenty optimizer steps, and its codes are then no better than its columns."""
    import math

    from fewlabel.tasks.cluster import default_epochs

    train_rows = max(1, n_rows - math.ceil(n_rows * float(ae.validation_fraction or 0.0)))
    return default_epochs(train_rows, int(ae.batch_size))


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
                    crop_scale=args.crop_scale, warmup_epochs=args.warmup_epochs,
                    **training_settings_of(args, lr=3e-4 if args.lr is None else args.lr))
    defaults = MODEL_DEFAULTS[args.model]
    pick = {k: getattr(args, k) if getattr(args, k) is not None else defaults.get(k) for k in ("hidden", "latent", "loss")}
    common = dict(loss=pick["loss"], noise=args.noise, noise_level=args.noise_level,
                  validation_fraction=0.0 if args.validation_split else _fraction(args),
                  output_activation=args.output_activation,
                  **training_settings_of(args, lr=1e-3 if args.lr is None else args.lr))
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


def run(args, out: Path) -> int:
    from fewlabel import save
    from fewlabel.plots import write_autoencoder_figures
    from fewlabel.train.state import atomic_write

    check_options(args)
    split = args.split or "train"
    rows_decide_epochs = args.epochs is None
    if rows_decide_epochs:
        args.epochs = ENCODER_EPOCHS
    ae = build_autoencoder(args)  # options refused here cost no data loading
    # labels only colour the map of the codes: a partly labeled table's unlabeled rows are drawn in grey
    X, y, source = load_data_source(args.data, split, args.root, **own_file_options(args), partly_labeled=True)
    val = None
    if args.validation_split:
        val, _ = load_data(args.data, args.validation_split, args.root)
    if rows_decide_epochs and args.model in ("dense", "conv", "vae"):
        ae.set_params(epochs=fit_epochs(len(X), ae))
    t0 = time.perf_counter()
    ae.fit(X, validation_data=val)
    seconds = time.perf_counter() - t0
    remember_source(ae, source)
    save(ae, out / "model")
    h = ae.history_.history
    summary = {"model": args.model, "data": args.data, "split": None if is_path(args.data) else split,
               "validation": args.validation_split or (None if args.model == "byol" else
                                                       f"{_fraction(args):g} of the rows held out"),
               "rows": int(len(X)), "seconds": round(seconds, 2),
               "loss": h["loss"][-1], "val_loss": h["val_loss"][-1] if "val_loss" in h else None,
               "history": ae.history_.to_dict()}
    text = json.dumps(summary, indent=2)
    atomic_write(out / "history.json", lambda tmp: tmp.write_text(text))
    what = "BYOL encoder" if args.model == "byol" else f"{args.model} autoencoder"
    figures = [] if args.no_plots else write_autoencoder_figures(ae, X, y, out, what,
                                                                   class_names=source.get("class_names"))
    last = f"loss {h['loss'][-1]:.4f}" + (f", val_loss {h['val_loss'][-1]:.4f}" if "val_loss" in h else "")
    print(f"trained a {what} on {len(X)} rows of {args.data} in {seconds:.1f} s: {last}")
    print(f"saved to {args.out / 'model'} (load with fewlabel.load)")
    if figures:
        print("figures: " + ", ".join(str(args.out / f) for f in figures))
    return 0

