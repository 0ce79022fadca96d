"""Reading user data: image folders and tables (CSV, TSV, text, Parquet, .npy, .npz)."""

import re
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from fewlabel.datasets import read_image_folder, read_table
from fewlabel.datasets.partial import DataQualityWarning
from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError

# --- image folders ----------------------------------------------------------------------------------


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def rgb(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def gray(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def test_class_folders_rgb(tmp_path):
    a = save(tmp_path / "dog" / "b.png", rgb(6, 8, 0))
    b = save(tmp_path / "cat" / "z.PNG", rgb(6, 8, 1))  # extension case does not matter
    c = save(tmp_path / "dog" / "a.bmp", rgb(6, 8, 2))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0\1")
    X, y, names = read_image_folder(tmp_path)
    assert names == ["cat", "dog"]
    assert X.shape == (3, 6, 8, 3) and X.dtype == np.uint8  # (N, H, W, C)
    np.testing.assert_array_equal(X, np.stack([b, c, a]))  # classes sorted, files sorted within
    np.testing.assert_array_equal(y, [0, 1, 1])
    assert y.dtype == np.int64


def test_a_sub_folder_named_unlabeled_is_read_as_a_class_and_said(tmp_path):
    """read_image_folder reads sub-folders as classes, even one named like the unlabeled images: it says so,
    naming read_partly_labeled, which reads them as unlabeled."""
    from fewlabel.datasets.partial import read_partly_labeled

    for i in range(6):
        save(tmp_path / ("cat" if i < 2 else "dog" if i < 4 else "Un-labeled") / f"{i}.png", gray(4, 4, i))
    said = "'Un-labeled' is read as a class of 2 images; fewlabel.datasets.partial.read_partly_labeled(path, " \
           "unlabeled_folder='Un-labeled')"
    with pytest.warns(DataQualityWarning, match=re.escape(said)):
        X, y, names = read_image_folder(tmp_path)
    assert names == ["Un-labeled", "cat", "dog"] and len(X) == 6
    with pytest.raises(InputError, match="would be read as a class named 'Un-labeled'"):
        read_partly_labeled(tmp_path)  # a spelling of it is refused there, naming the way to say it
    with pytest.warns(DataQualityWarning, match="fewer than 5 labeled rows"):
        data = read_partly_labeled(tmp_path, unlabeled_folder="Un-labeled")
    assert data.y.tolist() == [0, 0, 1, 1, -1, -1]


def test_labels_that_differ_only_in_case_or_separators_are_said(tmp_path):
    """'T-shirt' and 't shirt', 'Bag' and 'bag' are read as written (four classes) and named in a note, since a
    person usually means one class by them; 'shirt' beside 'T-shirt' is another class, and no note."""
    from fewlabel.datasets.partial import read_partly_labeled

    labels = ["T-shirt", "t shirt", "t shirt", "Bag", "bag", "bag", "shirt", "shirt", ""] * 2
    path = write(tmp_path, "t.csv", "a,kind\n" + "".join(f"{i},{k}\n" for i, k in enumerate(labels)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_partly_labeled(path, label_column="kind")
    said = [str(w.message) for w in caught if "differ only in case" in str(w.message)]
    assert said == ["labels 'Bag' (2) and 'bag' (4) differ only in case, spaces, '-' or '_': read as 2 classes, as "
                    "written; if they are one class, write them alike",
                    "labels 'T-shirt' (2) and 't shirt' (4) differ only in case, spaces, '-' or '_': read as 2 "
                    "classes, as written; if they are one class, write them alike"] and said[0] in data.notes
    assert data.class_names == ["Bag", "T-shirt", "bag", "shirt", "t shirt"]


def test_flat_grayscale_folder(tmp_path):
    imgs = [save(tmp_path / f"{i}.png", gray(5, 7, i)) for i in range(3)]
    X, y, names = read_image_folder(str(tmp_path))
    assert y is None and names is None
    assert X.shape == (3, 5, 7)
    np.testing.assert_array_equal(X, np.stack(imgs))


def test_color_modes(tmp_path):
    g = save(tmp_path / "a" / "g.png", gray(4, 4, 0))
    c = save(tmp_path / "b" / "c.png", rgb(4, 4, 1))
    X, _, _ = read_image_folder(tmp_path)  # mixed: everything becomes RGB
    assert X.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(X[0], np.repeat(g[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(X[1], c)
    X, _, _ = read_image_folder(tmp_path, color="L")
    assert X.shape == (2, 4, 4)
    np.testing.assert_array_equal(X[1], np.asarray(Image.fromarray(c).convert("L")))
    X, _, _ = read_image_folder(tmp_path / "a", color="RGB")
    assert X.shape == (1, 4, 4, 3)
    with pytest.raises(InputError, match="color"):
        read_image_folder(tmp_path, color="CMYK")


def test_photos_stored_sideways_are_read_upright(tmp_path):
    """A phone stores a portrait photo as a landscape one and an EXIF orientation tag; viewers turn it, and so
    does fewlabel: the folder then holds one size, and each image is what its owner sees."""
    from fewlabel.datasets.partial import read_partly_labeled

    upright = [rgb(8, 6, i) for i in range(4)]  # portrait, 8 high and 6 wide, as seen
    # as stored: tag 6 (turn 90 degrees clockwise to view), 3 (half a turn), 2 (mirrored), none
    stored = [(np.rot90(upright[0], 1), 6), (np.rot90(upright[1], 2), 3), (np.fliplr(upright[2]), 2),
              (upright[3], None)]
    for i, (pixels, tag) in enumerate(stored):
        folder = tmp_path / "photos" / ["shoe", "boot", "unlabeled", "unlabeled"][i]
        folder.mkdir(parents=True, exist_ok=True)
        exif = Image.Exif()
        if tag is not None:
            exif[0x0112] = tag
        Image.fromarray(np.ascontiguousarray(pixels)).save(folder / f"{i}.png", exif=exif)
    X, _, _ = read_image_folder(tmp_path / "photos" / "unlabeled")
    np.testing.assert_array_equal(X, np.stack(upright[2:]))
    with pytest.warns(UserWarning, match="fewer than 5 labeled rows"):
        data = read_partly_labeled(tmp_path / "photos")
    assert data.X.shape == (4, 8, 6, 3)
    np.testing.assert_array_equal(data.X, np.stack([upright[1], upright[0], upright[2], upright[3]]))  # boot, shoe
    # a damaged EXIF block is ignored: the pixels still decode as stored
    from fewlabel.datasets import folders

    class Broken:
        def getexif(self):
            raise SyntaxError("bad EXIF")

    broken = Broken()
    assert folders._upright(broken) is broken


def test_a_palette_image_with_transparency_reads_without_a_warning(tmp_path):
    """Pillow warns on every palette PNG whose transparency is a byte string unless it goes through RGBA: a
    user of the command would see that library's warning, with its path, for their folder."""
    import warnings

    colours = rgb(6, 6, 3)
    pal = Image.fromarray(colours).convert("P")
    pal.save(tmp_path / "p.png", transparency=bytes([0] * 10 + [255] * 246))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, _, _ = read_image_folder(tmp_path)
    np.testing.assert_array_equal(X[0], np.asarray(pal.convert("RGB")))


def test_sizes(tmp_path):
    save(tmp_path / "a.png", gray(4, 4, 0))
    save(tmp_path / "b.png", gray(6, 5, 1))
    # as they are (size=None): images of two sizes are refused, each size named with a file
    with pytest.raises(InputError, match="size=") as e:
        read_image_folder(tmp_path, size=None)
    assert "a.png" in str(e.value) and "b.png" in str(e.value)
    # by default one size is chosen, their median shape (5 high, 4.5 wide), and said
    with pytest.warns(DataQualityWarning, match=r"2 sizes, from 4x4 to 5x6 \(width x height\), read at 4x5"):
        X, _, _ = read_image_folder(tmp_path)
    assert X.shape == (2, 5, 4)
    X, _, _ = read_image_folder(tmp_path, size=(3, 9))
    assert X.shape == (2, 3, 9)
    X, _, _ = read_image_folder(tmp_path, size=4)
    assert X.shape == (2, 4, 4)
    with pytest.raises(InputError, match="size"):
        read_image_folder(tmp_path, size=(0, 4))


def test_folder_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        read_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        read_image_folder(tmp_path / "empty")

    save(tmp_path / "classes" / "cat" / "1.png", gray(4, 4, 0))
    (tmp_path / "classes" / "dog").mkdir()
    (tmp_path / "classes" / "dog" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="dog") as e:
        read_image_folder(tmp_path / "classes")
    assert str(tmp_path / "classes" / "dog") in str(e.value)

    bad = tmp_path / "bad"
    save(bad / "ok.png", gray(4, 4, 0))
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    with pytest.raises(CorruptFileError) as e:
        read_image_folder(bad)
    assert f"in {bad} cannot be read as images: broken.png" in str(e.value)


# --- text tables ------------------------------------------------------------------------------------


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_header_and_string_labels(tmp_path):
    path = write(tmp_path, "t.csv", "a,b,species\n1,2,cat\n3,4.5,dog\n\n-1e3, 0 ,cat\n")
    X, y, names = read_table(path, label_column="species")
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5], [-1000, 0]])
    assert y.dtype.kind == "U" and list(y) == ["cat", "dog", "cat"]
    assert names == ["a", "b"]
    X, y, names = read_table(path, label_column=2, columns=["b"])
    np.testing.assert_array_equal(X, [[2], [4.5], [0]])
    assert names == ["b"]
    X, y, names = read_table(write(tmp_path, "u.csv", "a,b\n1,2\n"))  # no label column
    assert y is None and X.shape == (1, 2)


def test_csv_without_header(tmp_path):
    X, y, names = read_table(write(tmp_path, "t.csv", "1,2,0\n3,4,1\n5,6,1\n"), label_column=-1)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    assert y.dtype == np.int64 and list(y) == [0, 1, 1]
    assert names == ["0", "1"]
    # a data row whose label is a word is not mistaken for a header
    X, y, _ = read_table(write(tmp_path, "s.csv", "1.5,2,cat\n3,4,dog\n"), label_column=2)
    assert X.shape == (2, 2) and list(y) == ["cat", "dog"]
    with pytest.raises(InputError, match="no header"):
        read_table(write(tmp_path, "n.csv", "1,2\n"), label_column="label")


def test_tsv_and_whitespace_text(tmp_path):
    X, y, names = read_table(write(tmp_path, "t.tsv", "x\ty\tlabel\n1\t2\t7\n3\t4\t8\n"), label_column="label")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert list(y) == [7, 8] and names == ["x", "y"]
    X, _, _ = read_table(write(tmp_path, "t.txt", "1 2   3\n4\t5 6\n"))
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 6]])


def test_a_spreadsheets_semicolons_and_decimal_commas(tmp_path):
    """Where the comma is the decimal mark, spreadsheets save CSV with semicolons between cells: read as the
    user sees it in the spreadsheet, with or without a header, by every reader (the table, the partly labeled
    table, the rows streamed to a model's predict); a comma CSV is unchanged."""
    from fewlabel.datasets.partial import read_partly_labeled
    from fewlabel.datasets.stream import open_rows

    text = "height;width;kind\n1,5;2;oak\n3,25;-0,5;\n12;1e3;ash\n"
    X, y, names = read_table(write(tmp_path, "all.csv", text.replace(";\n", ";elm\n")), label_column="kind")
    np.testing.assert_array_equal(X, np.array([[1.5, 2], [3.25, -0.5], [12, 1000]], np.float32))
    assert names == ["height", "width"] and list(y) == ["oak", "elm", "ash"]
    write(tmp_path, "s.csv", text)
    with pytest.warns(UserWarning, match="fewer than 5"):
        data = read_partly_labeled(tmp_path / "s.csv", label_column="kind")
    assert data.X.shape == (3, 2) and data.y.tolist() == [1, -1, 0]
    rows = open_rows(write(tmp_path, "new.csv", "height;width\n0,75;4\n"), columns=["height", "width"])
    np.testing.assert_array_equal(np.concatenate([X for X, _ in rows.batches(10)]), [[0.75, 4]])
    X, _, _ = read_table(write(tmp_path, "n.csv", "1,5;2\n3;4,5\n"))  # no header: the first row is data
    np.testing.assert_array_equal(X, [[1.5, 2], [3, 4.5]])
    with pytest.raises(InputError, match="'1,2,5' is not a number"):
        read_table(write(tmp_path, "bad.csv", "a;b\n1,2,5;3\n"))
    X, _, _ = read_table(write(tmp_path, "c.csv", "a,b\n1.5,2\n"))
    np.testing.assert_array_equal(X, [[1.5, 2]])


def test_a_spreadsheet_or_a_compressed_table_is_named_with_what_to_do(tmp_path):
    from fewlabel.datasets.stream import open_rows

    for name, words in (("rows.xls", "save its sheet as CSV"), ("rows.ods", "save its sheet as CSV"),
                        ("rows.npy.gz", "decompress this one"), ("rows.zip", "decompress this one"),
                        ("rows.dat", "unsupported file type '.dat'")):
        path = write(tmp_path, name, "a,b\n1,2\n")
        for read in (read_table, open_rows):
            with pytest.raises(InputError, match=words) as e:
                read(path)
            assert str(e.value).startswith(str(path))


@pytest.mark.parametrize("ext", [".gz", ".bz2", ".xz"])
def test_a_compressed_text_table_is_read_as_the_table_it_holds(tmp_path, ext):
    """data.csv.gz (and .bz2, .xz; .tsv and .txt alike) reads as data.csv does, by every reader of tables: the whole
    table, the batches of a model applied to a file, the partly labeled table; a damaged one is named."""
    import bz2
    import gzip
    import lzma

    from fewlabel.datasets.partial import read_partly_labeled
    from fewlabel.datasets.stream import open_rows

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[ext]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).round(4)
    def table(labels):  # as a spreadsheet writes it: ; between cells, 3,25 for 3.25
        return "w;x;y;z;kind\n" + "".join(";".join(f"{v:g}".replace(".", ",") for v in row) + f";{lab}\n"
                                          for row, lab in zip(X, labels))

    kinds = np.array(["cat", "dog", "owl"])[np.arange(300) % 3]
    text = table(kinds)
    plain = write(tmp_path, "rows.csv", text)
    packed = tmp_path / f"rows.csv{ext}"
    with opener(packed, "wt", encoding="utf-8") as f:
        f.write("\ufeff" + text)  # a byte-order mark, as spreadsheets write one
    assert packed.stat().st_size < plain.stat().st_size
    for a, b in zip(read_table(packed, label_column="kind"), read_table(plain, label_column="kind")):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(read_table(packed, label_column="kind")[0], X, atol=1e-6)
    rows = open_rows(packed, columns=["w", "x", "y", "z"], label_column="kind")
    assert rows.n_rows == 300
    got = np.concatenate([batch for batch, _ in rows.batches(128)])
    np.testing.assert_allclose(got.reshape(300, 4), X, atol=1e-6)
    few = tmp_path / f"few.csv{ext}"
    with opener(few, "wt") as f:
        f.write(table(np.where(np.arange(300) % 10 == 0, kinds, "")))
    data = read_partly_labeled(few, label_column="kind", min_class_rows=1)
    assert data.kind == "table" and list(data.class_names) == ["cat", "dog", "owl"] and int((data.y >= 0).sum()) == 30
    # a whitespace-separated .txt and a .tsv, compressed alike
    for name, sep in (("rows.txt", " "), ("rows.tsv", "\t")):
        with opener(tmp_path / f"{name}{ext}", "wt") as f:
            f.write("".join(sep.join(f"{v:g}" for v in row) + "\n" for row in X))
        np.testing.assert_allclose(read_table(tmp_path / f"{name}{ext}")[0], X, atol=1e-6)
    # cut short, or not compressed at all under a compressed name: named as damaged, no traceback from inside
    cut = tmp_path / f"cut.csv{ext}"
    cut.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    fake = write(tmp_path, f"fake.csv{ext}", text)
    for bad in (cut, fake):
        for read in (lambda p: read_table(p, label_column="kind"),
                     lambda p: list(open_rows(p, columns=["w", "x", "y", "z"], label_column="kind").batches(64))):
            with pytest.raises(CorruptFileError, match="compressed file is damaged or cut short") as e:
                read(bad)
            assert str(e.value).startswith(str(bad))


def test_an_excel_sheet_is_read_as_the_csv_of_its_first_sheet(tmp_path):
    """A partly labeled table kept in Excel, as people label rows: numbers as numbers or as text, blank label cells,
    a TRUE/FALSE column, a formula, a date column naming the rows; read by every reader of tables as its CSV would
    be, errors naming the sheet's row; a second sheet is warned of; a damaged workbook is named."""
    import datetime

    openpyxl = pytest.importorskip("openpyxl")
    from fewlabel.datasets.partial import DataQualityWarning, read_partly_labeled
    from fewlabel.datasets.stream import open_rows

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).round(6)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "labels"
    sheet.append(["when", "a", "b", "c", "flag", "kind"])
    day = datetime.date(2026, 1, 1)
    for i, row in enumerate(X):
        kind = ["cat", "dog"][i % 2] if i % 3 == 0 else None
        b = str(row[1]) if i == 5 else float(row[1])  # a number typed as text, as pasted cells often are
        sheet.append([day + datetime.timedelta(days=i), float(row[0]), b, float(row[2]), i % 2 == 0, kind])
    sheet["H1"] = None  # a cell touched and left empty widens the sheet's recorded size, not the table
    path = tmp_path / "rows.xlsx"
    book.save(path)
    data = read_partly_labeled(path, label_column="kind", id_column="when", min_class_rows=1)
    assert data.kind == "table" and list(data.class_names) == ["cat", "dog"] and int((data.y >= 0).sum()) == 20
    assert data.feature_names == ["a", "b", "c", "flag"] and data.row_names[0] == "2026-01-01T00:00:00"
    np.testing.assert_allclose(data.X[:, :3], X, atol=1e-6)
    np.testing.assert_array_equal(data.X[:, 3], (np.arange(60) % 2 == 0).astype(np.float32))
    rows = open_rows(path, columns=["a", "b", "c", "flag"], id_column="when", label_column="kind")
    got, names = zip(*rows.batches(25))
    np.testing.assert_allclose(np.concatenate(got)[:, :3], X, atol=1e-6)
    assert rows.n_rows == 60 and sum(names, [])[1] == "2026-01-02T00:00:00"
    # a second sheet: the first is read, and the data's notes say so (what `fewlabel classify` prints)
    book.create_sheet("notes")
    book.save(path)
    with pytest.warns(DataQualityWarning, match="2 sheets .*'labels', 'notes'.*the first, 'labels', is read"):
        data = read_partly_labeled(path, label_column="kind", id_column="when", min_class_rows=1)
    assert any("2 sheets" in note for note in data.notes) and len(data.X) == 60
    # a bad cell is named by the sheet's own row number (the header is row 1)
    sheet["B8"] = "n/a?"
    book.save(path)
    with pytest.raises(InputError, match=r"line 8\), column 2 \('a'\): 'n/a\?' is not a number"):
        read_partly_labeled(path, label_column="kind", id_column="when", min_class_rows=1)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match="cannot read the Excel workbook .*broken.xlsx"):
        read_table(broken)


def test_an_excel_table_placed_lower_right_keeps_the_sheets_row_numbers(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B3"], sheet["C3"] = "a", "b"
    sheet["B4"], sheet["C4"], sheet["B6"], sheet["C6"] = 1.5, 2, 3, "x"  # row 5 left blank
    book.save(tmp_path / "t.xlsx")
    with pytest.raises(InputError, match=r"row 2 \(line 6\), column 2 \('b'\): 'x' is not a number"):
        read_table(tmp_path / "t.xlsx")
    sheet["C6"] = 4
    book.save(tmp_path / "t.xlsx")
    X, y, names = read_table(tmp_path / "t.xlsx")
    np.testing.assert_array_equal(X, [[1.5, 2], [3, 4]])
    assert names == ["a", "b"] and y is None


def test_an_excel_sheet_without_openpyxl_says_what_to_install(tmp_path, monkeypatch):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["a", "b"])
    book.active.append([1, 2])
    book.save(tmp_path / "t.xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now raises ImportError
    with pytest.raises(InputError, match=r"needs openpyxl.*pip install fewlabel\[xlsx\]"):
        read_table(tmp_path / "t.xlsx")


def test_quotes_blank_lines_and_extra_fields(tmp_path):
    X, y, names = read_table(write(tmp_path, "q.csv", 'a,b,name\n1,2,"Smith, J"\n3,4,x\n'), label_column="name")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert list(y) == ["Smith, J", "x"]
    X, y, names = read_table(write(tmp_path, "b.csv", "\n\na,b,y\n1,2,0.5\n\n3,4,1\n"), label_column="y")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert names == ["a", "b"] and y.dtype == np.float64 and list(y) == [0.5, 1.0]
    # a row with an extra field is ragged even when only the first columns are asked for
    with pytest.raises(InputError, match="line 2: 4 fields, expected 3"):
        read_table(write(tmp_path, "r.csv", "1,2,3\n4,5,6,7\n"), columns=[0, 1])
    with pytest.raises(InputError, match="line 4: 1 fields"):
        read_table(write(tmp_path, "r.txt", "1 2\n\n3 4\n5\n"))


def test_a_table_written_in_windows_1252_is_read_and_said(tmp_path):
    """Excel's "CSV" on Windows is Windows-1252, not UTF-8: read so, its accented letters right, and said; a byte
    Windows-1252 leaves undefined makes it Latin-1; a binary file under a table's name still fails as not text."""
    from fewlabel.datasets.partial import read_partly_labeled
    from fewlabel.datasets.stream import open_rows

    text = "espèce,a,b\r\n" + "".join(f"{['sétosa', 'versicolor', ''][i % 3]},{i},{i % 4}\r\n" for i in range(30))
    path = tmp_path / "iris.csv"
    path.write_bytes(text.encode("cp1252"))
    with pytest.warns(DataQualityWarning, match="is not UTF-8 text: read as Windows-1252"):
        data = read_partly_labeled(path, label_column="espèce")
    assert data.class_names == ["sétosa", "versicolor"] and data.X.shape == (30, 2)
    rows = open_rows(path, columns=["a", "b"], label_column="espèce")  # as fewlabel predict reads next week's file
    X, names = next(rows.batches(100))
    assert X.shape == (30, 2) and X[29].tolist() == [29, 1]
    odd = tmp_path / "odd.csv"
    odd.write_bytes(b"a,kind\r\n1,caf\xe9\r\n2,\x81x\r\n3,zz\r\n")
    with pytest.warns(DataQualityWarning, match="read as Latin-1"):
        X, y, _ = read_table(odd, label_column="kind")
    assert y.tolist() == ["café", "\x81x", "zz"]
    unicode_text = tmp_path / "sheet.txt"  # Excel's "Unicode text": UTF-16 with its mark, tab-separated
    unicode_text.write_bytes(text.replace(",", "\t").encode("utf-16"))
    data = read_partly_labeled(unicode_text, label_column="espèce")
    assert data.class_names == ["sétosa", "versicolor"] and data.X.shape == (30, 2)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        read_table(binary)


def test_missing_cells(tmp_path):
    path = write(tmp_path, "t.csv", "a,b\n1,2\n3,\n")
    with pytest.raises(InputError) as e:
        read_table(path)
    assert "line 3" in str(e.value) and "column 2 ('b')" in str(e.value) and "allow_nan" in str(e.value)
    assert "--missing fill" in str(e.value)
    X, _, _ = read_table(path, allow_nan=True)
    assert np.isnan(X[1, 1]) and X[1, 0] == 3
    X, _, _ = read_table(path, missing="fill")  # the column's median over the rows that have it: 2
    assert X[1, 1] == 2 and X[1, 0] == 3
    with pytest.raises(InputError, match=r"row 1 \(line 1\), column 1"):  # "NaN" is a number: no header here
        read_table(write(tmp_path, "n.csv", "NaN,1\n2,3\n"))


def test_non_numeric_ragged_empty(tmp_path):
    with pytest.raises(InputError) as e:
        read_table(write(tmp_path, "t.csv", "a,b,c\n1,2,3\n4,five,6\n"))
    assert "line 3" in str(e.value) and "column 2" in str(e.value) and "'five'" in str(e.value)
    with pytest.raises(InputError, match="line 3: 2 fields, expected 3"):
        read_table(write(tmp_path, "r.csv", "1,2,3\n4,5,6\n7,8\n"))
    with pytest.raises(InputError, match="empty"):
        read_table(write(tmp_path, "e.csv", ""))
    with pytest.raises(InputError, match="empty"):
        read_table(write(tmp_path, "b.csv", "\n\n"))
    with pytest.raises(InputError, match="no data rows"):
        read_table(write(tmp_path, "h.csv", "a,b\n"))
    with pytest.raises(InputError, match="infinite"):
        read_table(write(tmp_path, "i.csv", "1,inf\n"))
    with pytest.raises(InputError, match="unsupported"):
        read_table(write(tmp_path, "t.json", "[]"))
    with pytest.raises(DataNotFoundError):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="not a column"):
        read_table(write(tmp_path, "l.csv", "a,b\n1,2\n"), label_column="c")


# --- Parquet ----------------------------------------------------------------------------------------


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"f": [1.5, 2.5, 3.5], "i": [1, 2, 3], "label": ["a", "b", "a"]}), path)
    X, y, names = read_table(path, label_column="label")
    np.testing.assert_array_equal(X, [[1.5, 1], [2.5, 2], [3.5, 3]])
    assert X.dtype == np.float32 and list(y) == ["a", "b", "a"] and names == ["f", "i"]

    pq.write_table(pa.table({"f": [1.0, None, 3.0], "y": [0, 1, 0]}), path)
    with pytest.raises(InputError, match="row 2.*'f'"):
        read_table(path, label_column="y")
    X, y, _ = read_table(path, label_column="y", allow_nan=True)
    assert np.isnan(X[1, 0]) and y.dtype == np.int64

    pq.write_table(pa.table({"f": ["1", "x"]}), path)
    with pytest.raises(InputError, match="row 2.*'x' is not a number"):
        read_table(path)


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError, match=r"pip install fewlabel\[parquet\]"):
        read_table(path)


# --- NumPy files ------------------------------------------------------------------------------------


def test_npy_and_npz(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[1, 2, 0], [3, 4, 1]], dtype=np.float64))
    X, y, names = read_table(tmp_path / "a.npy", label_column=2)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert X.dtype == np.float32 and y.dtype == np.int64 and list(y) == [0, 1]

    images = np.random.default_rng(0).integers(0, 256, (4, 5, 5), dtype=np.uint8)
    np.save(tmp_path / "img.npy", images)
    X, y, names = read_table(tmp_path / "img.npy")
    assert X.dtype == np.uint8 and y is None and names is None
    np.testing.assert_array_equal(X, images)

    np.savez(tmp_path / "d.npz", X=np.ones((3, 2)), y=np.array(["a", "b", "c"]))
    X, y, names = read_table(tmp_path / "d.npz")
    assert X.shape == (3, 2) and list(y) == ["a", "b", "c"]
    np.savez(tmp_path / "e.npz", data=np.ones((3, 2)))
    with pytest.raises(InputError, match="'X'"):
        read_table(tmp_path / "e.npz")
    np.savez(tmp_path / "f.npz", X=np.ones((3, 2)), y=np.ones(2))
    with pytest.raises(InputError, match="y has shape"):
        read_table(tmp_path / "f.npz")


def test_npy_errors(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="object array"):
        read_table(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", X=np.array([[1, None]], dtype=object))
    with pytest.raises(InputError, match="object array"):
        read_table(tmp_path / "obj.npz")
    np.save(tmp_path / "one.npy", np.arange(5.0))
    with pytest.raises(InputError, match="1-D"):
        read_table(tmp_path / "one.npy")
    np.save(tmp_path / "nan.npy", np.array([[1.0, 2.0], [np.nan, 1.0]]))
    with pytest.raises(InputError, match="row 2, column 1"):
        read_table(tmp_path / "nan.npy")
    (tmp_path / "junk.npy").write_bytes(b"hello world")
    with pytest.raises(CorruptFileError, match="junk.npy"):
        read_table(tmp_path / "junk.npy")


def test_a_large_jpeg_is_decoded_small_and_reads_as_pillow_reads_it_whole(tmp_path, monkeypatch):
    """A camera-sized JPEG read at a small size is decoded at 1/2 to 1/8 of its size (the DCT scales as it decodes;
    JpegImageFile.draft) and then resized: the same pixels, within a grey level on average, as Pillow's full decode
    resized, for a photo stored upright and one stored sideways with its EXIF tag."""
    from PIL import ImageOps, JpegImagePlugin
    from sklearn.datasets import load_sample_image

    from fewlabel.datasets.folders import read_image

    photo = Image.fromarray(load_sample_image("china.jpg")).resize((1280, 960), Image.BICUBIC)
    photo.save(tmp_path / "upright.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter, as a phone stores a portrait
    photo.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "sideways.jpg", quality=90, exif=exif)
    asked = []
    draft = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, size: asked.append((self.size, size)) or draft(self, mode, size))
    for name in ("upright.jpg", "sideways.jpg"):
        with Image.open(tmp_path / name) as im:
            im.load()
            whole = np.asarray(ImageOps.exif_transpose(im).convert("RGB").resize((64, 48), Image.BILINEAR))
        small = read_image(tmp_path / name, None, (48, 64))
        assert small.shape == (48, 64, 3)
        assert np.abs(small.astype(int) - whole).mean() < 1.0, name
    # each decoded at 1/8 (160x120, or 120x160 as stored), the most that keeps 64x48 of it
    assert asked == [((1280, 960), (64, 48)), ((960, 1280), (48, 64))]
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    with Image.open(tmp_path / "upright.jpg") as im:
        im.draft("RGB", (64, 48))
        assert im.size == (160, 120)


def test_an_images_size_is_read_from_its_first_bytes_and_from_the_whole_file_only_where_needed(tmp_path, monkeypatch):
    """size="auto" reads every image's header before any is decoded: a camera-sized JPEG's from its first bytes
    (not its megabytes, which reading then decodes); a PNG whose 400 KB text chunk puts its EXIF tag past them
    from the whole file, turned as the tag says."""
    from pathlib import Path

    from PIL import PngImagePlugin

    from fewlabel.datasets.folders import HEADER_BYTES, header_size

    noise = Image.fromarray(rgb(60, 80, 0)).resize((4032, 3024), Image.NEAREST)
    noise.save(tmp_path / "camera.jpg", quality=95)
    assert (tmp_path / "camera.jpg").stat().st_size > 4 * HEADER_BYTES
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 400_000)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(gray(30, 50, 1)).save(tmp_path / "long.png", pnginfo=info, exif=exif)
    whole = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: whole.append(self.name) or read_bytes(self))
    assert header_size(tmp_path / "camera.jpg") == (3024, 4032) and whole == []
    assert header_size(tmp_path / "long.png") == (50, 30) and whole == ["long.png"]
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert header_size(tmp_path / "broken.jpg") is None and header_size(tmp_path / "missing.png") is None
