"""--tensorboard DIR: every training's per-epoch metrics as scalars, the figures as images; a clear error, before
any work, when the tensorboard package is missing."""

import builtins
from pathlib import Path

import pytest

from fewlabel import Autoencoder, datasets
from fewlabel.cli import main
from fewlabel.errors import InputError
from fewlabel.train import tensorboard as tb_module

pytest.importorskip("tensorboard", reason="the tensorboard package is an optional dependency (pip install tensorboard)")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _runs(root: Path) -> dict:
    """Each run folder under ``root`` (relative name) -> its loaded events."""
    out = {}
    for events in root.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events.parent), size_guidance={"scalars": 0, "images": 0})
        acc.Reload()
        out[str(events.parent.relative_to(root))] = acc
    return out


def test_python_context_logs_each_fit_to_its_own_run(tmp_path):
    X, _ = datasets.load("digits")
    with tb_module.tensorboard(tmp_path / "tb") as log:
        assert tb_module.active() is log
        Autoencoder(hidden=(32,), latent=4, epochs=3, validation_fraction=0.2, verbose=False,
                    random_state=0).fit(X)
        Autoencoder(hidden=(32,), latent=4, epochs=2, verbose=False, random_state=1).fit(X)
    assert tb_module.active() is None
    runs = _runs(tmp_path / "tb")
    assert len(runs) == 2  # one run per fit, numbered from the second on
    first, second = (runs[k] for k in sorted(runs, key=len))
    loss = first.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3]
    assert loss[-1].value < loss[0].value  # it learned, and the figures are the history's
    assert [e.step for e in first.Scalars("val_loss")] == [1, 2, 3]
    assert "lr" in first.Tags()["scalars"]
    assert [e.step for e in second.Scalars("loss")] == [1, 2]
    # outside the block nothing is logged
    Autoencoder(hidden=(32,), latent=4, epochs=1, verbose=False).fit(X)
    assert len(_runs(tmp_path / "tb")) == 2


def test_run_logs_steps_scalars_and_figures(tmp_path):
    log_dir = tmp_path / "tb"
    code = main(["run", str(EXAMPLES / "toy_8bit.toml"), "--out", str(tmp_path / "out"), "--quiet",
                 "--set", "pretrain.epochs=300", "--set", "pretrain.lr=1.0", "--tensorboard", str(log_dir)])
    assert code == 0
    runs = _runs(log_dir)
    training = [k for k in runs if k.startswith("pretrain/") and "loss" in runs[k].Tags()["scalars"]]
    assert len(training) == 1
    assert len(runs[training[0]].Scalars("loss")) == 300
    summary = runs["pretrain"]
    assert "loss" in summary.Tags()["scalars"]  # the step's final numbers
    images = summary.Tags()["images"]
    assert images and all(tag.endswith(".png") for tag in images)
    first = summary.Images(images[0])[0]
    assert first.width > 50 and first.height > 50


def test_pretrain_command_logs_its_figures(tmp_path):
    log_dir = tmp_path / "tb"
    code = main(["pretrain", "--data", "digits", "--epochs", "2", "--quiet", "--out", str(tmp_path / "out"),
                 "--tensorboard", str(log_dir)])
    assert code == 0
    runs = _runs(log_dir)
    assert any("loss" in acc.Tags()["scalars"] for acc in runs.values())
    assert any(acc.Tags()["images"] for acc in runs.values())


def test_missing_package_is_a_clear_error_before_any_work(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(InputError, match="pip install tensorboard"):
        tb_module.TensorBoardLog(tmp_path / "tb")
    out = tmp_path / "out"
    code = main(["pretrain", "--data", "digits", "--epochs", "1", "--quiet", "--out", str(out),
                 "--tensorboard", str(tmp_path / "tb")])
    assert code == 2
    assert "tensorboard package" in capsys.readouterr().err
    assert not out.exists()


def test_log_dir_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        tb_module.TensorBoardLog(f)
