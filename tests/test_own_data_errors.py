"""Bad input to the own-data commands, each tried as a user would: one line that names the problem, exit
status 2, nothing written; and the checks that the arguments alone decide run before anything trains."""

import json
import warnings

import numpy as np
import pytest
from PIL import Image

import fewlabel
from fewlabel.cli import main
from fewlabel.errors import CorruptFileError, InputError


def _png(path, size=(28, 28), value=None, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size, dtype=np.uint8) if value is None else np.full(size, value, np.uint8)
    Image.fromarray(img).save(path)


def _folder(root, classes=("cat", "dog"), labeled=3, unlabeled=4, size=(28, 28)):
    for c in classes:
        for i in range(labeled):
            _png(root / c / f"{i}.png", size, seed=sum(map(ord, c)) * 31 + i)
    for i in range(unlabeled):
        _png(root / "unlabeled" / f"u{i}.png", size, seed=500 + i)
    return root


def _refused(capsys, argv, out, *words):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    assert out is None or not out.exists(), f"{out} was written"
    return err


@pytest.fixture
def no_training(monkeypatch):
    """Any training fails the test: the error must come first."""
    from fewlabel.train import Trainer

    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained before the check"))


def test_a_folder_with_no_labeled_image(tmp_path, capsys, no_training):
    root = tmp_path / "photos"
    for i in range(5):
        _png(root / "unlabeled" / f"{i}.png", seed=i)
    _refused(capsys, ["classify", "--data", root, "--out", tmp_path / "out"], tmp_path / "out", "no labeled one",
             "sub-folder named after its class")


def test_a_folder_with_one_class(tmp_path, capsys, no_training):
    root = _folder(tmp_path / "photos", classes=("cat",))
    _refused(capsys, ["classify", "--data", root, "--out", tmp_path / "out"], tmp_path / "out", "one class only",
             "'cat'")


def test_an_empty_class_folder_is_a_class_with_no_labels(tmp_path, capsys, no_training):
    root = _folder(tmp_path / "photos")
    (root / "bird").mkdir()
    _refused(capsys, ["classify", "--data", root, "--out", tmp_path / "out"], tmp_path / "out", "bird",
             "no labeled rows")


def test_a_label_column_mixing_blanks_nan_and_question_marks(tmp_path, capsys, no_training):
    path = tmp_path / "t.csv"
    rows = ["a,b,label"] + [f"{i},{i % 3},{'x' if i % 2 else 'y'}" for i in range(10)]
    rows += ["1,2,", "3,4,NaN", "5,6,?", "7,8,"]
    path.write_text("\n".join(rows) + "\n")
    err = _refused(capsys, ["classify", "--data", path, "--label-column", "label", "--out", tmp_path / "out"],
                   tmp_path / "out", "3 ways", "an empty cell (2 rows", "NaN (1 rows", "'?' (1 rows")
    assert "row 11" in err  # the first blank is the 11th data row


def test_images_in_a_class_folders_sub_folders_belong_to_the_class(tmp_path):
    """photos/cat/2019/a.png is a cat, as fewlabel predict reads the same folder; the unlabeled folder's
    sub-folders are unlabeled; hidden folders are left out."""
    root = _folder(tmp_path / "photos", labeled=2, unlabeled=1)
    _png(root / "cat" / "2019" / "old.png", seed=70)
    _png(root / "unlabeled" / "batch2" / "x.png", seed=71)
    _png(root / "dog" / ".thumbnails" / "t.png", seed=72)
    from fewlabel.datasets.partial import read_partly_labeled

    data = read_partly_labeled(root, min_class_rows=1)
    assert data.row_names == ["cat/0.png", "cat/1.png", "cat/2019/old.png", "dog/0.png", "dog/1.png",
                              "unlabeled/batch2/x.png", "unlabeled/u0.png"]
    assert list(data.labels) == ["cat", "cat", "cat", "dog", "dog", None, None]
    import shutil

    shutil.rmtree(root / "unlabeled")
    X, y, names = fewlabel.datasets.read_image_folder(root)  # the Python reader, every row labeled
    assert names == ["cat", "dog"] and y.tolist() == [0, 0, 0, 1, 1] and len(X) == 5


def test_an_unlabeled_folder_named_but_missing_is_refused_naming_the_folders_there(tmp_path, capsys, no_training):
    """A typo in --unlabeled-folder would leave the folder meant to be read as a class of its own."""
    root = _folder(tmp_path / "photos")
    _refused(capsys, ["classify", "--data", root, "--unlabeled-folder", "unlabelled", "--out", tmp_path / "out"],
             tmp_path / "out", f"unlabeled images {root / 'unlabelled'} does not exist", "sub-folders: cat, dog, "
             "unlabeled")


def test_an_unlabeled_folder_spelled_another_way_is_not_a_class(tmp_path, capsys, no_training):
    root = _folder(tmp_path / "photos", unlabeled=0)
    for i in range(4):
        _png(root / "Unlabelled" / f"u{i}.png", seed=900 + i)
    _refused(capsys, ["classify", "--data", root, "--out", tmp_path / "out"], tmp_path / "out",
             "would be read as a class named 'Unlabelled'", "--unlabeled-folder 'Unlabelled'")
    from fewlabel.datasets.partial import read_partly_labeled

    data = read_partly_labeled(root, unlabeled_folder="Unlabelled", min_class_rows=1)
    assert data.class_names == ["cat", "dog"] and (data.y == -1).sum() == 4
    # a table's label cells, and labels given in Python, the same way
    (tmp_path / "rows.csv").write_text("a,kind\n" + "".join(f"{i},{k}\n" for i, k in
                                                              enumerate(["x", "y", "unlabeled", "x", "y"] * 3)))
    _refused(capsys, ["classify", "--data", tmp_path / "rows.csv", "--label-column", "kind", "--out",
                      tmp_path / "out"], tmp_path / "out", "'unlabeled' (3 rows) would be read as a class",
             "an empty cell, NaN, '?' or -1")
    with pytest.raises(InputError, match="'Unlabelled' .1 rows. would be read as a class"):
        fewlabel.SemiSupervisedClassifier().fit(np.zeros((4, 3)), np.array(["a", "b", "Unlabelled", None],
                                                                              dtype=object))
    with pytest.raises(InputError, match="'un-labeled' .2 rows. would be read as a class"):
        fewlabel.SemiSupervisedClassifier().fit(np.zeros((4, 3)), np.array(["a", "b", "un-labeled", "un-labeled"]))


def test_a_column_of_row_names_not_named_as_such(tmp_path, capsys, no_training):
    path = tmp_path / "t.csv"
    rows = ["sample,a,b,label"] + [f"s{i:02d},{i},{i % 3},{'x' if i % 2 else ''}" for i in range(12)]
    path.write_text("\n".join(rows) + "\n")
    _refused(capsys, ["classify", "--data", path, "--label-column", "label", "--out", tmp_path / "out"],
             tmp_path / "out", "'sample'", "'s00' is not a number", "--id-column")


def test_a_column_of_categories_among_the_features_is_named_with_what_to_do(tmp_path, capsys, no_training):
    path = tmp_path / "t.csv"
    rows = ["sample,a,region,label"] + [f"s{i:02d},{i},{['north', 'south'][i % 2]},{'x' if i % 3 else ''}"
                                        for i in range(12)]
    path.write_text("\n".join(rows) + "\n")
    for command in ("classify", "cluster"):
        _refused(capsys, [command, "--data", path, "--label-column", "label", "--id-column", "sample", "--out",
                          tmp_path / "out"], tmp_path / "out", "column 3 ('region'): 'north' is not a number",
                 "a column of categories is read as one 0/1 column per category with --categorical NAME")


def test_a_table_without_its_label_column_named_points_at_the_likely_one(tmp_path, capsys, no_training):
    """The column of a few class names among empty cells is offered, before ids (a value a row) and before a
    numeric feature with a missing value; features that are all numbers are not."""
    path = tmp_path / "plants.csv"
    with open(path, "w") as f:
        f.write("id,height,width,kind\n")
        for i in range(40):
            kind = ["oak", "ash", "elm"][i % 3] if i < 12 else ("?" if i % 2 else "")
            height = "" if i == 5 else f"{3 + 0.01 * i:.2f}"
            f.write(f"p{i},{height},{1 + 0.01 * (i % 7):.2f},{kind}\n")
    err = _refused(capsys, ["classify", "--data", path, "--out", tmp_path / "out"], tmp_path / "out",
                   "name the column that holds the labels", "--label-column")
    assert err.endswith("look like it: 'kind' (12 filled with 3 value(s), 28 empty); 'height' (39 filled with "
                        "39 value(s), 1 empty); 'id' (40 filled with 40 value(s), 0 empty)"), err
    (tmp_path / "clean.csv").write_text("a,b\n1,2\n3,4\n")
    err = _refused(capsys, ["classify", "--data", tmp_path / "clean.csv", "--out", tmp_path / "out"], None,
                   "name the column that holds the labels")
    assert "look like it" not in err


def test_one_spelling_of_unlabeled_is_read_the_same_way_everywhere(tmp_path):
    from fewlabel.datasets.partial import read_partly_labeled

    base = ["a,b,label"] + [f"{i},{i % 3},{'x' if i % 2 else 'y'}" for i in range(10)]
    for mark in ("", "NaN", "?", "-1", "null"):
        path = tmp_path / f"t{mark or 'blank'}.csv"
        path.write_text("\n".join(base + [f"1,2,{mark}", f"3,4,{mark}"]) + "\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_partly_labeled(path, label_column="label")
        assert data.class_names == ["x", "y"] and int((data.y < 0).sum()) == 2, mark
    # and in the Python API: strings with None, or integers with -1
    clf = fewlabel.SemiSupervisedClassifier(max_steps=4, propagate=None, verbose=False)
    X = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    y = np.array(["x", "y"] * 5 + [None, None], dtype=object)
    assert list(clf.fit(X, y).classes_) == ["x", "y"] and clf.n_labeled_ == 10
    with pytest.raises(InputError, match="2 ways"):
        clf.fit(X, np.array(["x", "y"] * 5 + [None, ""], dtype=object))


def test_images_of_mixed_sizes(tmp_path, capsys, no_training):
    """By default a folder of images of several sizes is read at one size (their median shape), said in a note
    and kept with what was read; read as they are (size=None), it is refused, naming each size with a file."""
    from fewlabel.datasets.partial import DataQualityWarning, read_partly_labeled

    root = _folder(tmp_path / "photos")
    _png(root / "unlabeled" / "big.png", size=(32, 40), seed=9)  # 40 wide, 32 high
    with pytest.warns(DataQualityWarning, match=r"images of 2 sizes, from 28x28 to 40x32 \(width x height\), read at "
                                                 r"28x28: their median shape with its longest side at most 64"):
        data = read_partly_labeled(root)
    assert data.X.shape == (11, 28, 28) and any("read at 28x28" in note for note in data.notes)
    assert data.record()["read"] == {"size": [28, 28], "color": None, "max_side": 64}
    big = data.row_names.index("unlabeled/big.png")
    from PIL import Image

    expected = np.asarray(Image.open(root / "unlabeled" / "big.png").resize((28, 28), Image.BILINEAR))
    np.testing.assert_array_equal(data.X[big], expected)
    with pytest.raises(InputError, match="differ in size") as e:
        read_partly_labeled(root, size=None)
    assert "unlabeled/big.png" in str(e.value) and "40x32" in str(e.value) and "--size" in str(e.value)
    with pytest.raises(InputError, match="max_side must be a positive integer"):
        read_partly_labeled(root, max_side=0)
    with pytest.raises(SystemExit):  # argparse's refusal of the option, before anything is read
        main(["classify", "--data", str(root), "--max-side", "0", "--out", str(tmp_path / "out")])
    assert "argument --max-side: expected a whole number of at least 1, got '0'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_photos_too_large_for_memory_are_refused_before_decoding(tmp_path, capsys, no_training, monkeypatch):
    """A folder of camera photos read at their own size (or at a --size given) would not fit in memory: refused
    from the first image's header, before any is decoded, with a --size that keeps the photos' shape. By default
    (the size chosen, its longest side at most 64) they read."""
    from fewlabel.datasets import folders, partial

    root = _folder(tmp_path / "photos", labeled=5, unlabeled=4, size=(200, 300))  # 300 wide, 200 high
    monkeypatch.setattr(partial, "available_memory", lambda: 1_000_000)  # 14 grey images need 0.8 MB
    decoded = []
    read = folders.read_image
    monkeypatch.setattr(folders, "read_image", lambda *a: decoded.append(a) or read(*a))
    err = _refused(capsys, ["classify", "--data", root, "--size", "200x300", "--out", tmp_path / "out"],
                   tmp_path / "out", "the 14 images in", "read at 300x200 (width x height", "0.8 MB as pixels",
                   "1.0 MB of free", "--size 64x96")
    assert not decoded, err
    monkeypatch.setattr(partial, "available_memory", lambda: 400_000)  # one class's 5 images need 0.3 MB
    with pytest.raises(InputError, match="are 300x200 .* --size 64x96"):
        fewlabel.datasets.read_image_folder(root / "cat", size=None)
    assert not decoded
    with pytest.warns(partial.DataQualityWarning, match="images of 300x200 .* read at 64x43"):
        X, _, _ = fewlabel.datasets.read_image_folder(root / "cat")
    assert X.shape == (5, 43, 64) and len(decoded) == 5
    # where even the size chosen would not fit, the size suggested is one that does (not a larger one)
    monkeypatch.setattr(partial, "available_memory", lambda: 20_000)  # 5 x 64x43 = 13.8 KB, half of it is 10 KB
    with pytest.raises(InputError, match=r"read at 64x43 .*, e\.g\. --size 36x54"):
        fewlabel.datasets.read_image_folder(root / "cat")
    assert len(decoded) == 5
    X, _, _ = fewlabel.datasets.read_image_folder(root / "cat", size=(20, 30))
    assert X.shape == (5, 20, 30) and len(decoded) == 10
    monkeypatch.setattr(partial, "available_memory", lambda: None)  # memory unknown: nothing refused
    assert fewlabel.datasets.read_image_folder(root / "dog", size=None)[0].shape == (5, 200, 300)


def test_one_corrupt_png_among_a_thousand(tmp_path, capsys, no_training):
    root = _folder(tmp_path / "photos", labeled=5, unlabeled=0)
    for i in range(990):
        _png(root / "unlabeled" / f"u{i:03d}.png", value=i % 256)
    (root / "unlabeled" / "u500.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    _refused(capsys, ["classify", "--data", root, "--out", tmp_path / "out"], tmp_path / "out",
             "1 of the 1,000 files", "unlabeled/u500.png", "remove or replace")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A classifier fitted on 28x28 images in a few steps, saved (240 rows: enough for its unfamiliarity score)."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (240, 28, 28), dtype=np.uint8)
    y = np.array(["a", "b", "c"] * 10 + [None] * 210, dtype=object)
    clf = fewlabel.SemiSupervisedClassifier(max_steps=4, propagate=None, verbose=False).fit(X, y).fit_unfamiliarity(X)
    path = tmp_path_factory.mktemp("m") / "model"
    fewlabel.save(clf, path)
    return path


def test_predict_with_a_model_trained_on_another_shape(tmp_path, capsys, tiny_model):
    np.save(tmp_path / "x.npy", np.zeros((5, 8, 8), np.uint8))
    out = tmp_path / "p.csv"
    _refused(capsys, ["predict", "--model", tiny_model, "--data", tmp_path / "x.npy", "--out", out], out,
             "shape 8x8", "28x28")


def test_predict_on_an_empty_folder(tmp_path, capsys, tiny_model):
    (tmp_path / "new").mkdir()
    out = tmp_path / "p.csv"
    _refused(capsys, ["predict", "--model", tiny_model, "--data", tmp_path / "new", "--out", out], out,
             "no images in")


def test_predict_names_every_unreadable_image_of_the_folder_at_once(tmp_path, capsys, tiny_model):
    """Next week's folder read in batches: the first unreadable image stops it, and every unreadable image of the
    folder is named then, counted against the folder (it named those of the batch only, counted against the
    batch: '1 of the 8 files'); no output is left."""
    new = tmp_path / "new"
    for i in range(30):
        _png(new / f"n{i:02d}.png", value=i)
    (new / "n12.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")  # in the second batch of 8
    (new / "n25.png").write_text("a note saved as .png")  # in the fourth
    out = tmp_path / "p.csv"
    _refused(capsys, ["predict", "--model", tiny_model, "--data", new, "--out", out, "--batch-size", "8",
                      "--quiet"], out, "2 of the 30 files in", "n12.png", "n25.png (not an image Pillow recognizes",
             "remove or replace them")


def test_predict_refuses_an_existing_file_and_codes_from_a_classifier(tmp_path, capsys, tiny_model):
    np.save(tmp_path / "x.npy", np.zeros((5, 28, 28), np.uint8))
    out = tmp_path / "p.csv"
    out.write_text("mine")
    _refused(capsys, ["predict", "--model", tiny_model, "--data", tmp_path / "x.npy", "--out", out], None,
             "already exists", "--force")
    assert out.read_text() == "mine"
    _refused(capsys, ["predict", "--model", tiny_model, "--data", tmp_path / "x.npy", "--out", tmp_path / "c.npy"],
             tmp_path / "c.npy", ".npy file holds an encoder's codes")


def test_predict_streams_a_memory_mapped_file_and_matches_the_model(tmp_path, capsys, tiny_model):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 255, (2500, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "p.csv"
    assert main(["predict", "--model", str(tiny_model), "--data", str(tmp_path / "x.npy"), "--out", str(out),
                 "--batch-size", "1000"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "row,label,confidence,margin,unfamiliar,flagged" and len(lines) == 2501
    model = fewlabel.load(tiny_model)
    assert [line.split(",")[1] for line in lines[1:]] == list(model.predict(X))
    # plain progress lines on a pipe, not a bar
    assert "predict: 1,000/2,500 rows" in capsys.readouterr().err


def test_an_explicit_root_that_does_not_exist_or_is_a_file(tmp_path, capsys, no_training):
    for root, words in ((tmp_path / "typo", ("does not exist",)), (tmp_path / "f", ("is a file",))):
        (tmp_path / "f").write_text("x")
        _refused(capsys, ["cluster", "--data", "mnist", "--root", root, "--out", tmp_path / "out"],
                 tmp_path / "out", str(root), *words)


def test_an_empty_data_argument(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["classify", "--data", "", "--out", str(tmp_path / "out")])
    assert e.value.code == 2 and "is empty (an unset shell variable?)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, words", [
    (["map", "--data", "digits", "--max-points", "1"], ("at least 4 rows", "--max-points 1")),
    (["map", "--data", "digits", "--method", "tsne", "--max-points", "2"], ("tsne map needs at least 4",)),
    (["cluster", "--data", "digits", "--max-rows", "5", "--k", "auto"], ("--max-rows 5", "UMAP map to 10")),
    (["cluster", "--data", "digits", "--max-rows", "2", "--k", "auto", "--manifold", "none"], ("--k auto",)),
])
def test_what_the_arguments_decide_is_refused_before_training(tmp_path, capsys, no_training, argv, words):
    pytest.importorskip("umap")
    _refused(capsys, [*argv, "--out", tmp_path / "out"], tmp_path / "out", *words)


def test_detect_names_outliers_of_another_shape_before_training(tmp_path, capsys, no_training):
    np.savez(tmp_path / "data.npz", X=np.zeros((50, 28, 28), np.uint8))
    np.save(tmp_path / "odd.npy", np.zeros((5, 8, 8), np.uint8))
    _refused(capsys, ["detect", "--data", tmp_path / "data.npz", "--outliers", tmp_path / "odd.npy",
                      "--out", tmp_path / "out"], tmp_path / "out", "--outliers", "(8, 8)", "(28, 28)")


def test_a_model_whose_weights_are_nan_is_refused_at_load(tmp_path, tiny_model):
    import shutil

    from safetensors.torch import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    tensors = load_file(str(bad / "model.safetensors"))
    name = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 10)
    tensors[name][0] = float("nan")
    save_file(tensors, str(bad / "model.safetensors"))
    with pytest.raises(CorruptFileError, match="NaN or infinite"):
        fewlabel.load(bad)


def test_saving_where_nothing_can_be_written(tmp_path, tiny_model):
    """A clean error, not a FileNotFoundError naming a hidden .partial folder."""
    model = fewlabel.load(tiny_model)
    with pytest.raises(InputError, match="cannot save a model to /proc/x"):
        fewlabel.save(model, "/proc/x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot save a model to"):
        fewlabel.save(model, tmp_path / "file" / "m")


def test_info_shows_what_the_model_was_trained_on(tiny_model, capsys):
    assert main(["info", str(tiny_model)]) == 0
    out = capsys.readouterr().out
    assert "type: SemiSupervisedClassifier" in out and "240 rows of shape 28x28 (uint8)" in out
    assert "30 in 3 classes (a 10, b 10, c 10)" in out and "torch" in out
    assert main(["info", str(tiny_model), "--json"]) == 0
    header = json.loads(capsys.readouterr().out)
    assert header["config"]["fitted"]["data"]["fingerprint"].startswith("blake2b:")


def test_a_warning_is_one_line_that_names_the_command(tmp_path, capsys):
    """Too few rows for a part of the fit is said in the command's own words: no path into fewlabel's code, no
    source line; a library's other warnings keep Python's format."""
    from sklearn.datasets import load_iris

    d = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[d.target]
    table = tmp_path / "iris.csv"
    with open(table, "w") as f:
        f.write("a,b,c,d,species\n")
        for i, (x, name) in enumerate(zip(d.data, names)):
            f.write(",".join(map(str, x)) + f",{name if i % 10 == 0 else ''}\n")
    argv = ["classify", "--data", table, "--label-column", "species", "--folds", "0", "--max-steps", "8",
            "--out", tmp_path / "out"]
    assert main([str(a) for a in argv]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line.lower()]
    assert lines == ["fewlabel classify: warning: 150 rows are too few for an unfamiliarity score (its cut-off needs "
                     "20 held-out rows, a tenth of at least 200): the classifier has none"], err
    assert ".py:" not in err and (tmp_path / "out" / "predictions.csv").exists()
    # outside the command, the warning is Python's, for code to catch or filter
    from fewlabel.errors import FewlabelWarning, TooLittleDataWarning

    with pytest.warns(TooLittleDataWarning):
        fewlabel.SemiSupervisedClassifier(max_steps=2, propagate=None, verbose=False).fit(
            d.data, np.where(np.arange(150) % 10 == 0, d.target, -1)).fit_unfamiliarity(d.data)
    assert issubclass(TooLittleDataWarning, FewlabelWarning)


def test_a_gzipped_table_through_classify_and_predict(tmp_path, capsys):
    """The partly labeled table as downloaded, iris.csv.gz: `classify` reads it, `predict` applies the model to
    another compressed file and gives the same labels as for the plain rows; a file cut short is named."""
    import csv
    import gzip

    from sklearn.datasets import load_iris

    d = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[d.target]
    table = tmp_path / "iris.csv.gz"
    with gzip.open(table, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "d", "species"])
        for i, (x, name) in enumerate(zip(d.data, names)):
            w.writerow([*x, name if i % 10 == 0 else ""])
    out = tmp_path / "out"
    assert main([str(a) for a in ["classify", "--data", table, "--label-column", "species", "--folds", "0",
                                  "--max-steps", "8", "--out", out]]) == 0
    said = capsys.readouterr().out
    assert "iris.csv.gz: 150 rows of shape 4; 15 labeled in 3 classes" in said and "135 unlabeled" in said
    with open(out / "predictions.csv", newline="") as f:
        first = {int(r["row"]): r["label"] for r in csv.DictReader(f)}
    again = tmp_path / "again.csv"
    assert main(["predict", "--model", str(out / "model"), "--data", str(table), "--out", str(again)]) == 0
    capsys.readouterr()
    with open(again, newline="") as f:
        second = {int(r["row"]): r["label"] for r in csv.DictReader(f)}
    assert len(second) == 150 and all(second[i] == label for i, label in first.items())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(table.read_bytes()[:200])
    _refused(capsys, ["classify", "--data", cut, "--label-column", "species", "--out", tmp_path / "out2"],
             tmp_path / "out2", "compressed file is damaged or cut short")
