"""Keras 3 (TensorFlow backend) timings of the models the CPU speed issue compares fewlabel against.

Setup (once, from the repository root; about a minute, 1.6 GB):

    python3 -m venv benchmarks/.keras-venv
    benchmarks/.keras-venv/bin/pip install keras tensorflow-cpu    # or `tensorflow` where -cpu has no wheel

Run:

    benchmarks/.keras-venv/bin/python benchmarks/keras_reference.py                  # full size
    benchmarks/.keras-venv/bin/python benchmarks/keras_reference.py --rows 5000      # a quick check
    benchmarks/.keras-venv/bin/python benchmarks/keras_reference.py --out benchmarks/results/keras.json

``benchmarks/cpu_speed.py`` runs it through ``benchmarks/.keras-venv/bin/python`` (or ``--keras-python``)
and reads the last line of its standard output. This script imports neither fewlabel nor torch: it is
what a Keras user of the reference case studies runs on the same CPU.

What it times (data: random uint8 arrays of the right shapes, scaled to [0, 1] float32 before the clock
starts; the figures are speeds, the losses mean nothing):

* ``dense_ae``: the 784-500-500-2000-10 autoencoder (ReLU hidden layers, linear 10-d code, mirrored
  decoder 10-2000-500-500-784 with a sigmoid output), MSE, Adam lr 1e-3, batch 256, ``model.fit`` over
  60,000 rows for two epochs: the first (tracing and warm-up) is reported and not counted, the second
  is the figure.
* ``conv_ae``: the reference Fashion-MNIST conv autoencoder (28x28 -> 3x3x64 -> 28x28), 55,000 rows, two
  epochs likewise. The case study (reference 000) shows its architecture only as a picture and credits
  A. Geron's *Hands-on Machine Learning* (whose Fashion-MNIST split is the same 55,000 + 5,000); this is
  that book's convolutional autoencoder: Conv2D 16/32/64 (3x3, same padding, SELU) each followed by
  2x2 max-pooling (28 -> 14 -> 7 -> 3, a 3x3x64 code), then Conv2DTranspose 32 (3x3, stride 2, valid
  padding: 3 -> 7), 16 (same: 7 -> 14) and 1 (same, sigmoid: 14 -> 28); binary cross-entropy, SGD with
  learning rate 1.0, Keras's default batch of 32.
* ``conv_ae_batch128_mse_adam``: the same network with the settings ``cpu_speed.py`` gives fewlabel's
  ``ConvAutoencoder`` (MSE, Adam lr 1e-3, batch 128), so that the batch size is not what a ratio measures.
* ``fixmatch_step``: one FixMatch-style consistency step of a small CNN (three stages of 3x3 conv +
  batch norm + ReLU + 2x2 max-pool with 32/64/128 channels, flatten, dense 128 ReLU, dense 10) inside
  one ``tf.function``: 64 labeled rows drawn from the pool, their weak views, 448 unlabeled rows in a
  weak and a strong view (weak: random horizontal flip + random integer shift of up to 4 pixels;
  strong: the weak view + per-image brightness/contrast + a 14x14 cut-out), forward and backward over
  the 960 images, cross-entropy on the labeled rows + the pseudo-label loss (confidence >= 0.95) on the
  strong views, one Adam step. Median seconds per step over 20 steps after 5 warm-up steps, and images
  per second (960 / median).

The JSON printed (one line, the last on standard output) also holds the Keras and TensorFlow versions,
the CPU (``model name``, ``cpu family``, ``model``, whether it has AVX512-BF16 / AMX), the thread
counts, the Keras dtype policy and the oneDNN setting. ``--threads N`` sets TensorFlow's intra-op
threads (default: TensorFlow's own, every core the process may use); ``--policy mixed_bfloat16`` times
Keras's bf16 mixed precision instead of float32.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

FIXMATCH_LABELED, FIXMATCH_UNLABELED = 64, 448
FIXMATCH_IMAGES = FIXMATCH_LABELED + 2 * FIXMATCH_UNLABELED  # 960 images through the network per step


def cpu_info() -> dict:
    """The first processor's ``model name``, ``cpu family`` and ``model`` from /proc/cpuinfo."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"model_name": info.get("model name", platform.processor()), "cpu_family": info.get("cpu family"),
            "model": info.get("model"), "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags}


def fit_two_epochs(model, x, batch_size: int) -> dict:
    """``model.fit(x, x)`` for two epochs: the first (tracing, warm-up) and the second, timed apart."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self.t0 = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t0)

    timer = EpochTimer()
    t0 = time.perf_counter()
    history = model.fit(x, x, epochs=2, batch_size=batch_size, shuffle=True, verbose=0, callbacks=[timer])
    wall = time.perf_counter() - t0
    warm, timed = timer.seconds
    return {"rows": len(x), "batch_size": batch_size, "warmup_epoch_s": warm, "epoch_s": timed,
            "rows_per_s": len(x) / timed, "fit_wall_s": wall,
            "loss_per_epoch": [float(v) for v in history.history["loss"]]}


def dense_autoencoder():
    import keras
    from keras import layers

    inp = keras.Input(shape=(784,))
    h = inp
    for width in (500, 500, 2000):
        h = layers.Dense(width, activation="relu")(h)
    code = layers.Dense(10)(h)  # linear code
    h = code
    for width in (2000, 500, 500):
        h = layers.Dense(width, activation="relu")(h)
    out = layers.Dense(784, activation="sigmoid")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
    return model


def conv_autoencoder(loss: str, optimizer):
    """The reference case study's conv autoencoder (28x28 -> 3x3x64 -> 28x28), compiled with ``loss``."""
    import keras
    from keras import layers

    encoder = keras.Sequential([
        keras.Input(shape=(28, 28)),
        layers.Reshape((28, 28, 1)),
        layers.Conv2D(16, 3, padding="same", activation="selu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, padding="same", activation="selu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="selu"),
        layers.MaxPooling2D(2),
    ], name="conv_encoder")
    decoder = keras.Sequential([
        keras.Input(shape=(3, 3, 64)),
        layers.Conv2DTranspose(32, 3, strides=2, padding="valid", activation="selu"),
        layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="selu"),
        layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid"),
        layers.Reshape((28, 28)),
    ], name="conv_decoder")
    if tuple(encoder.output_shape[1:]) != (3, 3, 64) or tuple(decoder.output_shape[1:]) != (28, 28):
        raise RuntimeError(f"conv autoencoder shapes are off: code {encoder.output_shape}, "
                           f"output {decoder.output_shape}")
    model = keras.Sequential([encoder, decoder], name="conv_ae")
    model.compile(optimizer=optimizer, loss=loss)
    return model


def small_cnn():
    import keras
    from keras import layers

    stack = [keras.Input(shape=(28, 28, 1))]
    for channels in (32, 64, 128):
        stack += [layers.Conv2D(channels, 3, padding="same", use_bias=False), layers.BatchNormalization(),
                  layers.ReLU(), layers.MaxPooling2D(2)]
    stack += [layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10)]
    return keras.Sequential(stack, name="small_cnn")


def fixmatch_timing(pool_u8: np.ndarray, labels: np.ndarray, steps: int, warmup: int) -> dict:
    import keras
    import tensorflow as tf

    model = small_cnn()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    pool = tf.constant(pool_u8)  # (N, 28, 28) uint8
    y_pool = tf.constant(labels.astype(np.int32))
    n = len(pool_u8)
    shift = 4

    def weak(x):  # x: (B, 28, 28, 1) float32
        b = tf.shape(x)[0]
        flip = tf.random.uniform((b, 1, 1, 1)) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[2]), x)
        d = tf.cast(tf.random.uniform((b, 2), -shift, shift + 1, dtype=tf.int32), tf.float32)
        zeros, ones = tf.zeros((b, 1)), tf.ones((b, 1))
        # per-image integer translation: output(y, x) = input(y + dy, x + dx), zeros outside
        transforms = tf.concat([ones, zeros, d[:, :1], zeros, ones, d[:, 1:], zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(images=x, transforms=transforms, output_shape=[28, 28],
                                                     fill_value=0.0, interpolation="NEAREST", fill_mode="CONSTANT")

    def strong(x):
        x = weak(x)
        b = tf.shape(x)[0]
        contrast = tf.random.uniform((b, 1, 1, 1), 0.5, 1.5)
        brightness = tf.random.uniform((b, 1, 1, 1), -0.3, 0.3)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = tf.clip_by_value((x - mean) * contrast + mean + brightness, 0.0, 1.0)
        cy = tf.random.uniform((b, 1, 1, 1), 0, 28, dtype=tf.int32)
        cx = tf.random.uniform((b, 1, 1, 1), 0, 28, dtype=tf.int32)
        rows = tf.reshape(tf.range(28), (1, 28, 1, 1))
        cols = tf.reshape(tf.range(28), (1, 1, 28, 1))
        cut = (tf.abs(rows - cy) < 7) & (tf.abs(cols - cx) < 7)  # a 14x14 square (clipped at the borders)
        return tf.where(cut, 0.5, x)

    def images(idx):
        return tf.cast(tf.gather(pool, idx), tf.float32)[..., None] / 255.0

    @tf.function
    def step():
        i = tf.random.uniform((FIXMATCH_LABELED,), 0, n, dtype=tf.int32)
        u = tf.random.uniform((FIXMATCH_UNLABELED,), 0, n, dtype=tf.int32)
        xl, yl, xu = images(i), tf.gather(y_pool, i), images(u)
        batch = tf.concat([weak(xl), weak(xu), strong(xu)], axis=0)
        with tf.GradientTape() as tape:
            logits = tf.cast(model(batch, training=True), tf.float32)
            ll, lw, ls = tf.split(logits, [FIXMATCH_LABELED, FIXMATCH_UNLABELED, FIXMATCH_UNLABELED])
            probs = tf.nn.softmax(tf.stop_gradient(lw))
            conf, pseudo = tf.reduce_max(probs, axis=1), tf.argmax(probs, axis=1, output_type=tf.int32)
            sup = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yl, logits=ll))
            unsup = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=pseudo, logits=ls)
                                   * tf.cast(conf >= 0.95, tf.float32))
            loss = sup + unsup
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    t0 = time.perf_counter()
    step().numpy()  # the first call traces the graph
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        step().numpy()
    seconds = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step().numpy()
        seconds.append(time.perf_counter() - t0)
    median = statistics.median(seconds)
    return {"labeled": FIXMATCH_LABELED, "unlabeled": FIXMATCH_UNLABELED, "images_per_step": FIXMATCH_IMAGES,
            "pool_rows": n, "warmup_steps": warmup, "steps": steps, "first_step_s": first,
            "s_per_step_median": median, "s_per_step_min": min(seconds), "s_per_step_max": max(seconds),
            "images_per_s": FIXMATCH_IMAGES / median, "loss_last": float(loss)}


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=positive, default=None,
                    help="rows per epoch (default: 60,000 for the dense autoencoder, 55,000 for the conv one; "
                         "larger values are capped there) and rows in the consistency step's pool")
    ap.add_argument("--steps", type=positive, default=20, help="consistency steps timed (default 20)")
    ap.add_argument("--warmup-steps", type=positive, default=5, help="consistency steps not timed (default 5)")
    ap.add_argument("--threads", type=positive, default=None,
                    help="TensorFlow intra-op threads (default: TensorFlow's choice)")
    ap.add_argument("--policy", default="float32", choices=["float32", "mixed_bfloat16"],
                    help="Keras dtype policy (default float32)")
    ap.add_argument("--only", nargs="*", choices=["dense_ae", "conv_ae", "conv_ae_batch128_mse_adam",
                                                  "fixmatch_step"], default=None, help="run only these")
    ap.add_argument("--out", default=None, help="also write the JSON to this file")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    import tensorflow as tf
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import keras

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(args.policy)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"keras_reference.py times the TensorFlow backend; KERAS_BACKEND is "
                         f"{keras.backend.backend()!r}")

    only = set(args.only or ["dense_ae", "conv_ae", "conv_ae_batch128_mse_adam", "fixmatch_step"])
    rng = np.random.default_rng(0)
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    results: dict = {
        "framework": "keras", "keras": keras.__version__, "tensorflow": tf.__version__,
        "backend": keras.backend.backend(), "python": platform.python_version(), "cpu": cpu_info(),
        "threads": {"os_cpu_count": os.cpu_count(), "affinity": affinity,
                    "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"), "policy": args.policy,
        "data": "random uint8, scaled to [0, 1] float32",
    }

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if "dense_ae" in only:
        rows = min(args.rows or 60_000, 60_000)
        x = rng.integers(0, 256, (rows, 784), dtype=np.uint8).astype(np.float32) / 255.0
        results["dense_ae"] = {"model": "784-500-500-2000-10 autoencoder, ReLU, linear code, sigmoid output",
                               "loss": "mse", "optimizer": "adam lr 1e-3",
                               **fit_two_epochs(dense_autoencoder(), x, 256)}
        log(f"dense_ae: {results['dense_ae']['epoch_s']:.2f} s/epoch of {rows} rows "
            f"(warm-up epoch {results['dense_ae']['warmup_epoch_s']:.2f} s)")

    conv_rows = min(args.rows or 55_000, 55_000)
    x_img = None
    if only & {"conv_ae", "conv_ae_batch128_mse_adam"}:
        x_img = rng.integers(0, 256, (conv_rows, 28, 28), dtype=np.uint8).astype(np.float32) / 255.0
    if "conv_ae" in only:
        model = conv_autoencoder("binary_crossentropy", keras.optimizers.SGD(learning_rate=1.0))
        results["conv_ae"] = {"model": "reference Fashion-MNIST conv autoencoder 28x28 -> 3x3x64 (SELU)",
                              "loss": "binary_crossentropy", "optimizer": "sgd lr 1.0",
                              **fit_two_epochs(model, x_img, 32)}
        log(f"conv_ae: {results['conv_ae']['epoch_s']:.2f} s/epoch of {conv_rows} rows, batch 32 "
            f"(warm-up epoch {results['conv_ae']['warmup_epoch_s']:.2f} s)")
    if "conv_ae_batch128_mse_adam" in only:
        model = conv_autoencoder("mse", keras.optimizers.Adam(learning_rate=1e-3))
        key = "conv_ae_batch128_mse_adam"
        results[key] = {"model": "the same conv autoencoder", "loss": "mse", "optimizer": "adam lr 1e-3",
                        **fit_two_epochs(model, x_img, 128)}
        log(f"{key}: {results[key]['epoch_s']:.2f} s/epoch of {conv_rows} rows, batch 128 "
            f"(warm-up epoch {results[key]['warmup_epoch_s']:.2f} s)")
    if "fixmatch_step" in only:
        pool_rows = min(args.rows or 60_000, 60_000)
        pool = rng.integers(0, 256, (pool_rows, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, pool_rows)
        out = fixmatch_timing(pool, labels, args.steps, args.warmup_steps)
        results["fixmatch_step"] = {"model": "small CNN 32/64/128 + batch norm, dense 128, dense 10", **out}
        log(f"fixmatch_step: {out['s_per_step_median']:.3f} s/step (median of {args.steps}), "
            f"{out['images_per_s']:.0f} images/s")

    results["total_s"] = time.perf_counter() - t_start
    line = json.dumps(results)
    if args.out:
        out_dir = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.out, "w") as f:
            f.write(json.dumps(results, indent=2) + "\n")
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
