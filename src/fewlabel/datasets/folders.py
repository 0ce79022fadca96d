"""Read a folder of images: one sub-folder per class (like torchvision's ImageFolder), or a flat folder."""

from __future__ import annotations

import io
import numbers
import os
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
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
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


def read_image_folder(path, size=None, color=None):
    """Read every image under ``path`` into one uint8 array.

    Parameters
    ----------
    path : str or os.PathLike
        Either a folder of class sub-folders (``path/cat/*.png``, ``path/dog/*.png``: sub-folder names are
        the classes), or a flat folder of images (unlabeled). Extensions png, jpg, jpeg, bmp, gif, tif,
        tiff, webp, in any case; other files are ignored.
    size : (height, width) or int, optional
        Resize every image to this size (bilinear). Without it all images must already share one size.
    color : None, "L" or "RGB"
        "L" gives grayscale (N, H, W), "RGB" gives (N, H, W, 3). None keeps grayscale when every image is
        grayscale, else gives RGB.

    An image that cannot be decoded, or whose header claims more pixels than its file could hold
    (``MAX_EXPANSION`` times its bytes: a damaged header), raises CorruptFileError naming the file;
    Pillow's decompression-bomb limit applies too.

    Returns
    -------
    X : numpy.ndarray, uint8, (N, H, W) or (N, H, W, 3)
    y : numpy.ndarray of int64 indexing ``class_names``, or None for a flat folder
    class_names : list of str (sorted sub-folder names), or None for a flat folder
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a folder path (str or os.PathLike), got {type(path).__name__}")
    if color not in (None, "L", "RGB"):
        raise InputError(f"color must be None, 'L' or 'RGB', got {color!r}")
    size = check_size(size)
    root = Path(path).expanduser()
    files, y, class_names = image_folder_files(root)
    if size is None:
        from fewlabel.datasets.partial import check_fits_in_memory

        check_fits_in_memory(files, root, color)
    arrays = [read_image(f, color, size) for f in files]

    if size is None:
        first = arrays[0].shape[:2]
        for f, a in zip(files, arrays, strict=True):
            if a.shape[:2] != first:
                raise InputError(
                    f"images differ in size: {files[0]} is {first[1]}x{first[0]} (width x height) but {f} is "
                    f"{a.shape[1]}x{a.shape[0]}; resize them all with size=(height, width) (--size HxW on the command "
                    "line)"
                )
    if color is None and any(a.ndim == 3 for a in arrays):
        # Some images are colour: give the grayscale ones three equal channels, as PIL's convert does.
        arrays = [a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2) for a in arrays]
    return np.stack(arrays), y, class_names
