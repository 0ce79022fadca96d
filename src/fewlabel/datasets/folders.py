"""Read a folder of images: one sub-folder per class (like torchvision's ImageFolder), or a flat folder."""

from __future__ import annotations

import io
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fewlabel.errors import CorruptFileError, DataNotFoundError, InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# PIL modes that carry no colour. Everything else ("RGB", "RGBA", "P", "CMYK", ...) is treated as colour.
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_BILINEAR = getattr(Image, "Resampling", Image).BILINEAR  # Pillow >= 9.1 moved the constants
# An image's header may claim pixels of at most this many times its file's bytes (or MIN_PIXEL_BYTES,
# whichever is more); it is checked before anything is decoded. The most compressible images, of one
# colour: deflate (PNG, TIFF) expands at most 1032x, JPEG about 190x, GIF's 12-bit LZW at most about
# 2730x. Only lossless WebP goes further (a blank image is ~220
# bytes at any size): raise this for such files.
MAX_EXPANSION = 3000
MIN_PIXEL_BYTES = 1 << 20


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    """The images directly in ``folder``, or with ``recursive`` in its sub-folders too (a class folder sorted by
    year). Hidden files and folders (".DS_Store", "._x.png" from macOS, ".thumbnails/") are never images."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


#: :func:`header_size` reads an image's size from its first bytes (a JPEG's EXIF block is at most 64 KB),
#: and from the whole file only where they do not hold it
HEADER_BYTES = 1 << 18
#: ``size``: how images of a folder are sized when nothing is given (see :func:`auto_size`)
AUTO = "auto"
#: ``max_side``'s default: the longest side, in pixels, of the size ``size="auto"`` chooses
MAX_SIDE = 64


def is_auto(size) -> bool:
    """Whether ``size`` asks for the size to be chosen from the images (``size="auto"``)."""
    return isinstance(size, str) and size == AUTO


def check_size(size):
    if size is None:
        return None
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in size)):
        raise InputError(f"size must be (height, width) with positive integers, or one integer; got {size!r}")
    return int(size[0]), int(size[1])


def _pixel_bytes(im) -> int:
    """The bytes the pixels an image's header claims take once decoded (before any conversion)."""
    width, height = im.size
    per_band = 2 if "16" in im.mode else 4 if im.mode in ("I", "F") else 1
    return width * height * len(im.getbands()) * per_band


#: The EXIF tag that says how a camera held the picture (1: as stored).
_ORIENTATION = 0x0112


def _upright(im: Image.Image) -> Image.Image:
    """The image as a viewer shows it: turned or mirrored as its EXIF orientation says (phones store most photos
    sideways and set the tag). A missing or unreadable tag leaves the pixels as stored."""
    from PIL import ImageOps

    return im if orientation(im) == 1 else ImageOps.exif_transpose(im)


def orientation(im: Image.Image) -> int:
    """The EXIF orientation of an opened image (1: as stored; 5 to 8: stored sideways), read from its header;
    1 where the tag is missing or the EXIF block is damaged (the pixels decode all the same)."""
    try:
        return int(im.getexif().get(_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block
        return 1


def check_max_side(max_side) -> int:
    if not isinstance(max_side, numbers.Integral) or isinstance(max_side, bool) or max_side < 1:
        raise InputError(f"max_side must be a positive integer (pixels), got {max_side!r}")
    return int(max_side)


def header_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` of an image as a viewer shows it (turned as its EXIF orientation says), from its header
    alone: nothing is decoded. None where the header cannot be read (reading the image then names the file)."""
    def size_of(data: bytes):
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            return (width, height) if orientation(im) in (5, 6, 7, 8) else (height, width)

    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)  # the header and its EXIF block, not a camera photo's megabytes twice
        try:
            return size_of(head)
        except Exception:  # noqa: BLE001 - a header that runs past its start: the whole file
            return size_of(path.read_bytes()) if len(head) == HEADER_BYTES else None
    except Exception:  # noqa: BLE001 - decoding names the file properly
        return None


def auto_size(sizes, max_side: int = MAX_SIDE) -> tuple[int, int] | None:
    """The one size ``(height, width)`` that ``size="auto"`` reads a folder's images at, from their sizes as
    viewers show them: images that all share a size whose longest side is at most ``max_side`` are read as they
    are; otherwise the median height and the median width, scaled down (the median shape kept) until the longest
    side is ``max_side``. A folder of photos of many sizes then trains at one size, and camera photos at a size
    a network learns from on a CPU, not at 12 million pixels each. None when no size is known."""
    known = [tuple(s) for s in sizes if s is not None]
    if not known:
        return None
    max_side = check_max_side(max_side)
    if len(set(known)) == 1 and max(known[0]) <= max_side:
        return known[0]
    height, width = (float(np.median([s[i] for s in known])) for i in (0, 1))
    scale = min(1.0, max_side / max(height, width))
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def size_note(sizes, chosen, max_side: int) -> str | None:
    """What ``size="auto"`` did, for the user: None where every image was read at its own size."""
    known = [tuple(s) for s in sizes if s is not None]
    if not known or all(s == tuple(chosen) for s in known):
        return None
    distinct = sorted(set(known), key=lambda s: (s[0] * s[1], s))
    if len(distinct) > 1:
        found = (f"images of {len(distinct)} sizes, from {distinct[0][1]}x{distinct[0][0]} to "
                 f"{distinct[-1][1]}x{distinct[-1][0]} (width x height), read at {chosen[1]}x{chosen[0]}: their "
                 f"median shape with its longest side at most {max_side} pixels")
    else:
        found = (f"images of {known[0][1]}x{known[0][0]} (width x height) read at {chosen[1]}x{chosen[0]}: their "
                 f"longest side at most {max_side} pixels")
    return f"{found}; choose with --size HxW or --max-side N (size=, max_side= in Python)"


def read_image(path: Path, color, size):
    """One image as a uint8 array, (H, W) or (H, W, 3)."""
    try:
        # Pillow is handed the file's bytes, not the file: a damaged length field in the file (a PNG chunk
        # claiming 2.7 GB, a TIFF tag) then makes its reads return what the file holds instead of
        # allocating what the field says.
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            claimed = _pixel_bytes(im)  # Image.open read only the header: nothing is decoded yet
            if claimed > max(MIN_PIXEL_BYTES, MAX_EXPANSION * len(data)):
                raise CorruptFileError(
                    f"cannot read image {path}: its header claims {im.size[0]}x{im.size[1]} {im.mode} pixels "
                    f"({claimed:,} bytes), more than {MAX_EXPANSION} times the file's {len(data):,} bytes: the "
                    f"header is damaged (if the file is sound, raise fewlabel.datasets.folders.MAX_EXPANSION)"
                )
            if size is not None and im.format == "JPEG":
                # decode at the smallest of 1/2, 1/4, 1/8 scale still at least the size asked (the DCT scales
                # as it decodes): a camera photo read at 64 pixels then decodes a 64th of its pixels
                turned = orientation(im) in (5, 6, 7, 8)
                im.draft(im.mode, (size[0], size[1]) if turned else (size[1], size[0]))
            im.load()
            src = _upright(im)
            mode = color or ("L" if src.mode in GRAY_MODES else "RGB")
            if src.mode == "P" and "transparency" in src.info:
                # through RGBA, as Pillow asks (it warns on every such file otherwise): the same colours, and
                # the alpha dropped as for any other image with transparency
                src = src.convert("RGBA")
            if src.mode.startswith("I"):
                # 16/32-bit grayscale: scale to 0..255 instead of letting convert() clip at 255. 32-bit
                # ("I") values that already fit in 0..255 are kept (Pillow opens some 8-bit files as "I").
                a = np.asarray(src, dtype=np.float64)
                if src.mode.startswith("I;16") or 255 < a.max() <= 65535:
                    peak = 65535.0
                else:
                    peak = max(255.0, float(a.max()))
                src = Image.fromarray(np.clip(np.round(a * 255.0 / peak), 0, 255).astype(np.uint8), "L")
            im2 = src.convert(mode)
            if size is not None and im2.size != (size[1], size[0]):
                im2 = im2.resize((size[1], size[0]), _BILINEAR)  # PIL sizes are (width, height)
            return np.asarray(im2, dtype=np.uint8)
    except CorruptFileError:
        raise
    except UnidentifiedImageError as e:  # Pillow's own text names the in-memory buffer, not the file
        raise CorruptFileError(f"cannot read image {path}: not an image Pillow recognizes (damaged, or another kind "
                               "of file under an image's name)") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptFileError(f"cannot read image {path}: {type(e).__name__}: {e}") from e


def image_folder_files(path) -> tuple[list[Path], np.ndarray | None, list[str] | None]:
    """``(files, y, class_names)`` of an image folder, in the order :func:`read_image_folder` reads them:
    the class sub-folders sorted, each one's images sorted (``y`` and ``class_names`` None for a flat folder).
    Commands name each row by its file's path under the folder from this list."""
    root = Path(path).expanduser()
    if not root.exists():
        raise DataNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; read_image_folder needs a folder of images")

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    top_images = _images_in(root)
    if class_dirs and top_images:
        raise InputError(
            f"{root} holds both image files (e.g. {top_images[0].name}) and sub-folders (e.g. "
            f"{class_dirs[0].name}/); use either one sub-folder per class or a flat folder of images"
        )
    if class_dirs:
        files, labels = [], []
        for k, d in enumerate(class_dirs):
            found = _images_in(d, recursive=True)
            if not found:
                raise InputError(
                    f"class folder {d} has no images (looked for {', '.join(IMAGE_EXTENSIONS)}); "
                    "remove it or add images"
                )
            files += found
            labels += [k] * len(found)
        class_names = [d.name for d in class_dirs]
        y = np.asarray(labels, dtype=np.int64)
    else:
        files = top_images
        if not files:
            raise InputError(f"no images in {root} (looked for {', '.join(IMAGE_EXTENSIONS)}, any case)")
        class_names, y = None, None

    return files, y, class_names


def read_image_folder(path, size=AUTO, color=None, max_side=MAX_SIDE):
    """Read every image under ``path`` into one uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        Either a folder of class sub-folders (``path/cat/*.png``, ``path/dog/*.png``: sub-folder names are
        the classes), or a flat folder of images (unlabeled). Extensions png, jpg, jpeg, bmp, gif, tif,
        tiff, webp, in any case; other files are ignored.
    size : "auto", (height, width), int or None
        "auto" (the default): one size chosen from the images' headers (:func:`auto_size`: as they are where
        they share a size whose longest side is at most ``max_side``; else their median shape, its longest side
        at most ``max_side``), with a :class:`~fewlabel.datasets.partial.DataQualityWarning` saying so where an
        image is resized. A size: resize every image to it (bilinear). None: as they are, and images of
        different sizes are refused.
    color : None, "L" or "RGB"
        "L" gives grayscale (N, H, W), "RGB" gives (N, H, W, 3). None keeps grayscale when every image is
        grayscale, else gives RGB.
    max_side : int
        ``size="auto"``: the longest side, in pixels, of the size it chooses (default 64).

    A class sub-folder named "unlabeled" (however spelled) is read as a class, with a
    :class:`~fewlabel.datasets.partial.DataQualityWarning`: :func:`~fewlabel.datasets.partial.read_partly_labeled`
    (with ``unlabeled_folder=`` for another spelling) reads a folder whose unlabeled images lie there.

    An image that cannot be decoded, or whose header claims more pixels than its file could hold
    (``MAX_EXPANSION`` times its bytes: a damaged header), raises CorruptFileError naming the file;
    Pillow's decompression-bomb limit applies too.

    Returns
    -------
    X : numpy.ndarray, uint8, (N, H, W) or (N, H, W, 3)
    y : numpy.ndarray of int64 indexing ``class_names``, or None for a flat folder
    class_names : list of str (sorted sub-folder names), or None for a flat folder
    """
    from fewlabel.datasets.partial import DataQualityWarning, read_images, resolve_size, spells_unlabeled

    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a folder path (str or os.PathLike), got {type(path).__name__}")
    if color not in (None, "L", "RGB"):
        raise InputError(f"color must be None, 'L' or 'RGB', got {color!r}")
    if not is_auto(size):
        check_size(size)  # a bad size or max_side is named before the folder is looked at
    check_max_side(max_side)
    root = Path(path).expanduser()
    files, y, class_names = image_folder_files(root)
    for k, name in enumerate(class_names or []):
        if spells_unlabeled(name):  # meant as the unlabeled images, most often: said, since it changes every result
            warnings.warn(f"{root}: the sub-folder {name!r} is read as a class of {int((y == k).sum()):,} images; "
                          f"fewlabel.datasets.partial.read_partly_labeled(path, unlabeled_folder={name!r}) reads its "
                          "images as unlabeled", DataQualityWarning, stacklevel=2)
    size, note = resolve_size(files, size, max_side)
    if note:
        warnings.warn(f"{root}: {note}", DataQualityWarning, stacklevel=2)
    return read_images(files, root, size, color), y, class_names
