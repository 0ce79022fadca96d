"""Every writing command checks ``--out`` before any work, replaces nothing without ``--force``, leaves nothing
half-written; options a file cannot have are refused; ``classify`` never scores the rows it trained on."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fewlabel
from fewlabel.cli import main
from fewlabel.cli.output import OutputFolder

COMMANDS = {
    "pretrain": ["pretrain", "--data", "digits"],
    "classify": ["classify", "--data", "digits", "--labels", "50"],
    "cluster": ["cluster", "--data", "digits"],
    "map": ["map", "--data", "digits"],
    "detect": ["detect", "--data", "digits"],
    "demo": ["demo"],
}


@pytest.fixture
def no_work(monkeypatch):
    """Any loading of data (the first step of every command's work) fails the test."""
    def loaded(*args, **kwargs):
        raise AssertionError("data was loaded before the command's options and --out were checked")

    import fewlabel.datasets as datasets

    for name in ("load", "read_table", "read_image_folder"):
        monkeypatch.setattr(datasets, name, loaded)


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def _names(folder: Path) -> set:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_that_is_a_file_fails_before_any_work(command, tmp_path, capsys, no_work):
    target = tmp_path / "results"
    target.write_text("mine")
    assert main([*COMMANDS[command], "--out", str(target)]) == 2
    err = _one_line_error(capsys, str(target), "is an existing file, not a folder")
    assert err.startswith(f"fewlabel {command}: error:")
    assert target.read_text() == "mine" and _names(tmp_path) == {"results"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_under_a_file_fails_before_any_work(command, tmp_path, capsys, no_work):
    (tmp_path / "results").write_text("mine")
    assert main([*COMMANDS[command], "--out", str(tmp_path / "results" / "run" / "x")]) == 2
    _one_line_error(capsys, f"{tmp_path / 'results'} is a file, so no folder can be made under it")
    assert _names(tmp_path) == {"results"}


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", ["pretrain", "detect"])
def test_out_where_nothing_can_be_written(command, capsys, no_work):
    assert main([*COMMANDS[command], "--out", "/proc/fewlabel-out/run"]) == 2
    _one_line_error(capsys, "/proc/fewlabel-out/run", "cannot write there")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into a read-only folder")
def test_out_in_a_read_only_folder(tmp_path, capsys, no_work):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        assert main([*COMMANDS["cluster"], "--out", str(locked / "run")]) == 2
        _one_line_error(capsys, "cannot write there")
        assert _names(locked) == set()
    finally:
        locked.chmod(0o755)


def test_a_real_process_refuses_a_file_as_out_in_seconds(tmp_path):
    """Without any patching: a run that would train on all of MNIST stops at once."""
    target = tmp_path / "f"
    target.write_text("mine")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "fewlabel.cli", "pretrain", "--data", "mnist", "--epochs", "50",
                        "--out", str(target)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "is an existing file" in r.stderr
    assert time.perf_counter() - t0 < 20  # interpreter start and imports; 50 MNIST epochs would take many minutes
    assert target.read_text() == "mine"


OCCUPIED = {  # command: a file it writes, as an earlier run would have left it
    "pretrain": "history.json", "classify": "metrics.json", "cluster": "metrics.json", "map": "map.json",
    "detect": "metrics.json", "demo": "demo.json",
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_occupied_folder_is_refused_without_force(command, tmp_path, capsys, no_work):
    out = tmp_path / "run"
    out.mkdir()
    (out / OCCUPIED[command]).write_text("earlier")
    (out / "notes.txt").write_text("the user's own")
    assert main([*COMMANDS[command], "--out", str(out)]) == 2
    _one_line_error(capsys, f"already holds {OCCUPIED[command]}", "--force")
    assert (out / OCCUPIED[command]).read_text() == "earlier" and _names(out) == {OCCUPIED[command], "notes.txt"}


@pytest.fixture
def small_table(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "rows.npy"
    np.save(path, rng.normal(size=(120, 6)).astype(np.float32))
    return path


FORCED = {  # command: (arguments of a short real run, what it writes, a stale output of an earlier run it does not)
    "pretrain": (["pretrain", "--data", "digits", "--epochs", "1", "--hidden", "16", "--latent", "4", "--no-plots",
                  "--device", "cpu", "--quiet"], {"model", "history.json"}, "loss.png"),
    "cluster": (["cluster", "--data", "digits", "--encoder", "raw", "--k", "5", "--max-rows", "300"],
                {"metrics.json", "clusters.png", "labels.png", "model"}, None),
    "map": (["map", "--data", "digits", "--encoder", "raw", "--method", "pca", "--max-points", "200"],
            {"map.json", "map.png"}, None),
    "detect": (["detect", "--data", "TABLE", "--epochs", "2", "--contamination", "0.1", "--device", "cpu", "--quiet"],
               {"model", "metrics.json", "scores.csv"}, "errors.png"),
    "classify": (["classify", "--data", "digits", "--labels", "50", "--seeds", "1", "--max-steps", "20",
                  "--propagate", "pca", "--encoder", "dense", "--hidden", "16", "--latent", "4", "--batch-size", "128",
                  "--device", "cpu", "--quiet"], {"metrics.json", "learning_curves.png", "confusion_matrix.png", "training.png"},
                 None),
}


@pytest.mark.parametrize("command", sorted(FORCED))
def test_force_replaces_the_earlier_run_and_nothing_else(command, tmp_path, small_table, capsys):
    argv, writes, stale = FORCED[command]
    argv = [str(small_table) if a == "TABLE" else a for a in argv]
    out = tmp_path / "run"
    out.mkdir()
    earlier = next(w for w in sorted(writes) if w.endswith(".json"))
    (out / earlier).write_text("earlier")
    if stale:
        (out / stale).write_text("a figure of the earlier run")
    (out / "notes.txt").write_text("the user's own")
    assert main([*argv, "--out", str(out)]) == 2
    capsys.readouterr()
    assert main([*argv, "--out", str(out), "--force"]) == 0
    assert _names(out) == writes | {"notes.txt"}  # the stale figure is gone, no temporary folder is left
    assert (out / "notes.txt").read_text() == "the user's own"
    assert (out / earlier).read_text() != "earlier"
    if "metrics.json" in writes:
        assert json.loads((out / "metrics.json").read_text())
    if "model" in writes:
        fewlabel.load(out / "model")
    assert str(out) in capsys.readouterr().out  # the final folder is named, not the staging one


def test_demo_writes_through_the_same_checks(tmp_path, monkeypatch, capsys):
    import fewlabel.demo

    seen = []

    def quick_demo(labels, seeds, out, device, verbose):  # the demo's 35 s of training are tested elsewhere
        seen.append(out)
        if out is not None:
            (Path(out) / "demo.json").write_text(json.dumps({"labels": labels}))
        return {}

    monkeypatch.setattr(fewlabel.demo, "run_demo", quick_demo)
    out = tmp_path / "demo"
    out.mkdir()
    (out / "demo.json").write_text("earlier")
    assert main(["demo", "--out", str(out)]) == 2
    assert main(["demo", "--labels", "30", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "demo.json").read_text()) == {"labels": 30} and _names(out) == {"demo.json"}
    assert seen[0] != out and not Path(seen[0]).exists()  # written aside, then moved in
    assert main(["demo", "--labels", "20"]) == 0 and seen[-1] is None


def test_a_failure_mid_run_leaves_the_folder_as_it_was(tmp_path, monkeypatch, capsys):
    """Training done and model saved, then a figure fails: nothing of this run reaches --out."""
    from fewlabel import plots
    from fewlabel.errors import InputError

    def broken(*args, **kwargs):
        raise InputError("the figure could not be drawn")

    monkeypatch.setattr(plots, "loss_curves", broken)
    argv = ["pretrain", "--data", "digits", "--epochs", "1", "--hidden", "16", "--latent", "4", "--device", "cpu",
            "--quiet"]
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.json").write_text("earlier")
    assert main([*argv, "--out", str(out), "--force"]) == 2
    _one_line_error(capsys, "the figure could not be drawn")
    assert _names(out) == {"history.json"} and (out / "history.json").read_text() == "earlier"
    fresh = tmp_path / "new" / "deeper" / "run"
    assert main([*argv, "--out", str(fresh)]) == 2
    assert _names(tmp_path) == {"run"}  # the parent folders this run made are gone too

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "loss_curves", interrupted)
    assert main([*argv, "--out", str(fresh)]) == 130
    assert _names(tmp_path) == {"run"}


def test_a_failing_move_into_place_puts_the_earlier_files_back(tmp_path, monkeypatch):
    import fewlabel.cli.output as output

    out = tmp_path / "run"
    (out / "model").mkdir(parents=True)
    (out / "model" / "config.json").write_text("earlier model")
    (out / "metrics.json").write_text("earlier metrics")
    real_replace, moves = os.replace, []

    def failing_replace(src, dst):
        if ".partial" in str(src):
            moves.append(dst)
            if len(moves) == 2:
                raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        with OutputFolder(out, ("model", "metrics.json"), force=True) as staging:
            (staging / "metrics.json").write_text("new metrics")
            (staging / "model").mkdir()
            (staging / "model" / "config.json").write_text("new model")
    assert _names(out) == {"model", "metrics.json"}
    assert (out / "metrics.json").read_text() == "earlier metrics"
    assert (out / "model" / "config.json").read_text() == "earlier model"


# -- options a file cannot have, rows that must not be scored -----------------------------------------

REFUSED = [
    (["pretrain", "--data", "FILE", "--split", "test"], ["--split", "no splits"]),
    (["pretrain", "--data", "FILE", "--validation-split", "test"], ["--validation-split", "no splits"]),
    (["pretrain", "--data", "FILE", "--root", "somewhere"], ["--root"]),
    (["pretrain", "--data", "digits", "--validation-split", "train"], ["is the split trained on"]),
    (["pretrain", "--data", "digits", "--validation-split", "test", "--validation-fraction", "0.2"], ["give one"]),
    (["classify", "--data", "FILE", "--labels", "20", "--split", "train"], ["--split", "no splits"]),
    (["classify", "--data", "FILE", "--labels", "20", "--test-split", "test"], ["--test-split", "no splits"]),
    (["classify", "--data", "FILE", "--labels", "20", "--test-fraction", "1.5"], ["--test-fraction", "between 0"]),
    (["classify", "--data", "FILE", "--labels", "20", "--test-data", "FILE"], ["the --data file itself"]),
    (["classify", "--data", "digits", "--labels", "20", "--test-fraction", "0.2"], ["has a test split"]),
    (["classify", "--data", "digits", "--labels", "20", "--test-split", "train"], ["is the split trained on"]),
    (["classify", "--data", "digits", "--labels", "20", "--test-data", "mnist"], ["--test-data", "not a file"]),
    (["cluster", "--data", "FILE", "--split", "test"], ["--split", "no splits"]),
    (["map", "--data", "FILE", "--root", "somewhere"], ["--root", "no splits"]),
    (["detect", "--data", "FILE", "--split", "test"], ["--split", "no splits"]),
    (["detect", "--data", "FILE", "--test-split", "test"], ["--test-split", "no splits"]),
    (["detect", "--data", "FILE", "--outliers", "FILE", "--outliers-split", "train"], ["--outliers-split"]),
    (["detect", "--data", "FILE", "--root", "somewhere"], ["--root does not apply"]),
    (["detect", "--data", "digits", "--outliers-split", "test"], ["without --outliers"]),
    (["detect", "--data", "digits", "--split", "test", "--test-split", "test"], ["is the split trained on"]),
]


@pytest.mark.parametrize("argv, words", REFUSED, ids=[" ".join(a[:1] + a[3:]) for a, _ in REFUSED])
def test_options_that_cannot_apply_are_refused_before_loading(argv, words, tmp_path, small_table, capsys, no_work):
    argv = [str(small_table) if a == "FILE" else a for a in argv]
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    _one_line_error(capsys, *words)
    assert not out.exists() and _names(tmp_path) == {"rows.npy"}


def _blobs(n_per_class, seed=0):
    """Well separated classes of unequal sizes, every row distinct."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(len(n_per_class), 10))
    X = np.concatenate([c + rng.normal(size=(n, 10)) for c, n in zip(centres, n_per_class)]).astype(np.float32)
    y = np.concatenate([np.full(n, k) for k, n in enumerate(n_per_class)])
    order = rng.permutation(len(y))
    return X[order], y[order]


CLASSIFY_SMALL = ["--labels", "20", "--seeds", "1", "--max-steps", "20", "--propagate", "pca", "--encoder", "dense",
                  "--hidden", "16", "--latent", "4", "--batch-size", "64", "--device", "cpu", "--quiet"]


def test_classify_on_a_file_scores_only_rows_it_held_out(tmp_path, monkeypatch, capsys):
    import fewlabel.tasks.compare as compare_module

    X, y = _blobs([160, 120, 80, 40])
    np.savez(tmp_path / "rows.npz", X=X, y=y)
    seen = {}
    real_compare = compare_module.compare

    def recording_compare(X_train, y_train, X_test, y_test, **kwargs):
        seen.update(X=X_train, y=y_train, Xt=X_test, yt=y_test)
        return real_compare(X_train, y_train, X_test, y_test, **kwargs)

    monkeypatch.setattr(compare_module, "compare", recording_compare)
    out = tmp_path / "run"
    assert main(["classify", "--data", str(tmp_path / "rows.npz"), *CLASSIFY_SMALL, "--out", str(out)]) == 0
    trained = {row.tobytes() for row in seen["X"]}
    scored = {row.tobytes() for row in seen["Xt"]}
    assert not trained & scored and len(trained) + len(scored) == 400  # disjoint, and every row is used once
    assert np.bincount(seen["yt"]).tolist() == [32, 24, 16, 8]  # 20 % of each class: stratified
    m = json.loads((out / "metrics.json").read_text())
    ev = m["evaluation"]
    assert ev["scored_on"] == "held_out" and ev["test_rows"] == 80 and ev["train_rows"] == 320
    assert ev["test_fraction"] == 0.2 and ev["stratified"]
    assert sum(m["report_first_run"]["per_class"][c]["support"] for c in "0123") == 80
    assert "80 rows held out of" in capsys.readouterr().out
    # the same draw for the same --seed, another for another seed or fraction
    from fewlabel.datasets.subsets import hold_out

    y_file = np.load(tmp_path / "rows.npz")["y"]
    train, test = hold_out(y_file, 0.2, 0, "rows.npz")
    assert {row.tobytes() for row in X[test]} == scored and len(train) == 320
    other_train, other = hold_out(y_file, 0.25, 1, "rows.npz")
    assert len(other) == 100 and set(other) != set(test) and not set(other) & set(other_train)


def test_classify_scores_a_separate_test_file(tmp_path, capsys):
    X, y = _blobs([100, 100, 100], seed=1)
    np.savez(tmp_path / "train.npz", X=X[:240], y=y[:240])
    np.savez(tmp_path / "test.npz", X=X[240:], y=y[240:])
    out = tmp_path / "run"
    assert main(["classify", "--data", str(tmp_path / "train.npz"), "--test-data", str(tmp_path / "test.npz"),
                 *CLASSIFY_SMALL, "--out", str(out)]) == 0
    ev = json.loads((out / "metrics.json").read_text())["evaluation"]
    assert ev == {"scored_on": "test_data", "test_data": str(tmp_path / "test.npz"), "test_rows": 60,
                  "train_rows": 240}
    np.savez(tmp_path / "narrow.npz", X=X[240:, :5], y=y[240:])
    assert main(["classify", "--data", str(tmp_path / "train.npz"), "--test-data", str(tmp_path / "narrow.npz"),
                 *CLASSIFY_SMALL, "--out", str(tmp_path / "bad")]) == 2
    _one_line_error(capsys, "(5,)", "(10,)")
    assert not (tmp_path / "bad").exists()


def test_classify_refuses_files_it_cannot_score_honestly(tmp_path, capsys):
    X, y = _blobs([30, 30], seed=2)
    y_unlabeled = y.copy()
    y_unlabeled[:10] = -1
    np.savez(tmp_path / "partly.npz", X=X, y=y_unlabeled)
    assert main(["classify", "--data", str(tmp_path / "partly.npz"), *CLASSIFY_SMALL, "--out", str(tmp_path / "a")]) == 2
    _one_line_error(capsys, "10 rows with a negative label")
    y_single = y.copy()
    y_single[0] = 7  # a class with one row cannot be split in two
    np.savez(tmp_path / "single.npz", X=X, y=y_single)
    assert main(["classify", "--data", str(tmp_path / "single.npz"), *CLASSIFY_SMALL, "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "stratified --test-fraction")
    np.save(tmp_path / "unlabeled.npy", X)
    assert main(["classify", "--data", str(tmp_path / "unlabeled.npy"), *CLASSIFY_SMALL, "--out", str(tmp_path / "c")]) == 2
    _one_line_error(capsys, "has no labels")
    assert _names(tmp_path) == {"partly.npz", "single.npz", "unlabeled.npy"}
