"""Readers of the data formats autokd takes, each returning the same `RawData`.

    digits          scikit-learn's bundled digits (no files)
    cifar10/100     the "python version" pickle batches, as torchvision lays them out
    mnist, fashion  the idx files, as torchvision lays them out (MNIST/raw, FashionMNIST/raw);
                    fashion also gzip-compressed from Debian's `dataset-fashion-mnist` package
    folder:PATH     one sub-folder of images per class, or train/ and val/ holding those
    npz:PATH        a NumPy archive with `x` (N,H,W or N,C,H,W) and `y` (N,)

The torchvision layouts are read by autokd itself (they are simple, and torchvision's CIFAR class
insists on the official checksums); torchvision downloads them when asked (`--download`).
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import re
import struct
import sys
import warnings
import zipfile
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autokd.errors import AutoKDError, printable
from autokd.runtime import memory

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
# Where Debian's `dataset-fashion-mnist` package puts the gzip-compressed idx files; read, in this
# order, when --data-dir lacks torchvision's layout.
DEBIAN_FASHION_MNIST = (Path("/usr/share/datasets/fashion-mnist"),)
DEBIAN_FASHION_MNIST_APT = "apt-get install dataset-fashion-mnist"
# The names the data sets' authors give their labels, index by index.
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"
)  # fmt: skip
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


@dataclass(frozen=True)
class RawData:
    images: np.ndarray  # (N, C, H, W): uint8 0..255 where the source is 8-bit, else float32 [0, 1]
    labels: np.ndarray  # (N,) int64, 0 .. classes - 1
    val_images: np.ndarray | None = None  # a validation split the source itself defines
    val_labels: np.ndarray | None = None
    identity: str = ""  # what makes these the same images next time: file names, sizes, times
    class_names: tuple[str, ...] = ()  # label index -> what it means; empty: the index itself


@dataclass(frozen=True)
class SourceRequest:
    data_dir: Path  # where the torchvision data sets live
    download: bool = False
    input_size: int | None = None  # decode images straight to this side (folders of photos)


def files_identity(paths: list[Path], *, root: Path | None = None) -> str:
    """A digest of the files' paths (relative to `root`, so a class folder is part of it), sizes
    and modification times: cheap, and it changes when a file is replaced, moved or relabelled."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        name = path.relative_to(root) if root is not None else path.name
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def _require(files: list[Path], what: str, how: str) -> None:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise AutoKDError(f"{what} files are missing: {shown}; {how}")


def _download(dataset: str, root: Path) -> None:
    """Let torchvision download and unpack a data set into `root`, in its own layout."""
    import torchvision.datasets as tv

    classes = {
        "cifar10": tv.CIFAR10,
        "cifar100": tv.CIFAR100,
        "mnist": tv.MNIST,
        "fashion-mnist": tv.FashionMNIST,
    }
    try:
        classes[dataset](root=str(root), train=True, download=True)
    except Exception as err:  # noqa: BLE001 - offline downloads fail with many error types
        raise AutoKDError(
            f"could not download {dataset} into {root} (no internet?): {err}; put the files "
            "there by hand (see `autokd search --help`)"
        ) from None


def load_digits(request: SourceRequest) -> RawData:
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = digits.images.astype(np.float32)[:, None] / 16.0  # pixel values are 0..16
    return RawData(images, digits.target.astype(np.int64), identity="sklearn-digits")


class _CifarUnpickler(pickle.Unpickler):
    """Reads CIFAR's "python version" batches without running code: a pickle may name any
    function to call, and a hostile file in --data-dir would run it under `pickle.load`. The
    batches hold only dicts, lists, bytes, strings, numbers and NumPy arrays, so the only
    globals admitted are NumPy's array reconstruction; any other is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"it calls {module}.{name}, which a CIFAR batch never does"
            )
        return super().find_class(module, name)


def load_cifar(request: SourceRequest, *, hundred: bool) -> RawData:
    """CIFAR's training batches: uint8 rows of 3,072 values (the 3 channels one after another)."""
    name = "cifar100" if hundred else "cifar10"
    folder = request.data_dir / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    files = [folder / "train"] if hundred else [folder / f"data_batch_{i}" for i in range(1, 6)]
    if request.download and not all(f.is_file() for f in files):
        _download(name, request.data_dir)
    archive = "cifar-100-python.tar.gz" if hundred else "cifar-10-python.tar.gz"
    _require(
        files,
        name,
        f"pass --download, or unpack https://www.cs.toronto.edu/~kriz/{archive} "
        f"into {request.data_dir}",
    )
    images, labels = [], []
    for path in files:
        try:
            with path.open("rb") as handle:
                batch = _CifarUnpickler(handle, encoding="bytes").load()
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch[b"fine_labels" if hundred else b"labels"])
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError) as err:
            raise AutoKDError(f"'{path}' is not a CIFAR python batch ({err!r})") from None
    return RawData(
        np.concatenate(images),
        np.asarray(labels, dtype=np.int64),
        identity=files_identity(files),
        class_names=_cifar100_classes(folder / "meta") if hundred else CIFAR10_CLASSES,
    )


def _cifar100_classes(meta: Path) -> tuple[str, ...]:
    """CIFAR-100's fine label names, from the archive's `meta` file; none when it is absent."""
    try:
        with meta.open("rb") as handle:
            names = _CifarUnpickler(handle, encoding="bytes").load()[b"fine_label_names"]
        return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError, TypeError):
        return ()


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx file of unsigned bytes, gzip-compressed (`.gz`) or not: a magic number (0, 0, 0x08
    for uint8, `ndim`), `ndim` big-endian uint32 sizes, then exactly that many values."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            magic = handle.read(4)
            if magic != bytes((0, 0, 0x08, ndim)):
                raise ValueError(f"magic number {magic.hex()}, not that of {ndim}-d uint8 data")
            shape = struct.unpack(f">{ndim}I", handle.read(4 * ndim))
            values = np.empty(shape, dtype=np.uint8)
            if handle.readinto(values) != values.size or handle.read(1):
                raise ValueError(f"its values do not fill the shape {shape} its header gives")
    except (OSError, EOFError, ValueError, struct.error, zlib.error) as err:
        raise AutoKDError(f"'{path}' is not a readable idx file ({err})") from None
    return values


def _mnist_files(folder: Path, suffix: str = "") -> list[Path]:
    return [folder / f"train-{n}-ubyte{suffix}" for n in ("images-idx3", "labels-idx1")]


def load_mnist(request: SourceRequest, *, fashion: bool) -> RawData:
    """MNIST-style idx files: torchvision's layout (MNIST/raw or FashionMNIST/raw) under the data
    folder; for Fashion-MNIST, failing that, Debian's gzip-compressed ones (read as they are)."""
    name = "fashion-mnist" if fashion else "mnist"
    raw = request.data_dir / ("FashionMNIST" if fashion else "MNIST") / "raw"
    files = _mnist_files(raw)
    debian = [_mnist_files(folder, ".gz") for folder in DEBIAN_FASHION_MNIST] if fashion else []
    found = next((fs for fs in [files, *debian] if all(f.is_file() for f in fs)), None)
    if found is None and request.download:
        _download(name, request.data_dir)
    put = f"put the unpacked idx files (train-images-idx3-ubyte, train-labels-idx1-ubyte) in {raw}"
    how = f"pass --download, or {put}"
    if fashion:
        where = ", ".join(str(folder) for folder in DEBIAN_FASHION_MNIST)
        how = f"pass --download, {put}, or `{DEBIAN_FASHION_MNIST_APT}` (read from {where})"
    found = found or files
    _require(found, name, how)
    image_file, label_file = found
    images, labels = _read_idx(image_file, 3), _read_idx(label_file, 1)
    if len(images) != len(labels):
        raise AutoKDError(
            f"'{image_file}' holds {len(images)} images but '{label_file}' {len(labels)} labels"
        )
    return RawData(
        images[:, None],
        labels.astype(np.int64),
        identity=files_identity([image_file, label_file]),
        class_names=FASHION_MNIST_CLASSES if fashion else (),
    )


# --------------------------------------------------------------------------------------------
# An image folder


def _class_folders(root: Path) -> dict[str, list[Path]]:
    classes = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise AutoKDError(
                f"class folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        classes[folder.name] = images
    if not classes:
        raise AutoKDError(
            f"image folder '{root}' holds no class folders: put each class's images in a "
            "sub-folder named after the class (optionally under train/ and val/)"
        )
    return classes


def _decode(path: Path, mode: str, side: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode.startswith("I"):  # 16- or 32-bit grey: scale to [0, 1] before resizing
                deep = np.asarray(image, dtype=np.float32)
                image = Image.fromarray(deep / (65535.0 if deep.max() > 255 else 255.0), mode="F")
                pixels = image.resize((side, side), Image.BILINEAR)
                array = np.asarray(pixels, dtype=np.float32)
                if mode == "RGB":
                    array = np.repeat(array[..., None], 3, axis=-1)
            else:
                pixels = image.convert(mode).resize((side, side), Image.BILINEAR)
                array = np.asarray(pixels, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise AutoKDError(f"image '{path}' cannot be read ({err})") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _unit_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image


MAX_IMAGE_PIXELS = 50_000_000  # a photo of 8000x6000 passes; past this, an image is refused


def _header(path: Path) -> tuple[str, int]:
    """An image's mode and longer side, from its header only; one of more than
    `MAX_IMAGE_PIXELS` (a decompression bomb, or a scan no student needs) is refused unread."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            (width, height), mode = image.size, image.mode
            pixels, size = width * height, f" ({width}x{height})"
    except Image.DecompressionBombError as bomb:  # past twice PIL's own bound: no size given
        found = re.search(r"\((\d+) pixels\)", str(bomb))
        pixels, size, mode, width, height = int(found[1]) if found else 0, "", "", 0, 0
    except (UnidentifiedImageError, OSError) as err:
        raise AutoKDError(f"image '{path}' cannot be read ({err})") from None
    if pixels > MAX_IMAGE_PIXELS or not mode:
        raise AutoKDError(
            f"image '{path}' has {pixels / 1e6:,.0f} million pixels{size}; autokd reads images "
            f"of at most {MAX_IMAGE_PIXELS // 1_000_000} million: shrink it or leave it out"
        )
    return mode, max(width, height)


VAL_FOLDERS = ("val", "valid", "validation", "test")


def _check_decoded_fits(root: Path, images: int, channels: int, side: int) -> None:
    """Refuse, before decoding, a folder whose images at `side` would not fit in memory."""
    needed = images * channels * side * side  # 8-bit pixels
    available = memory.available_bytes("cpu")
    if needed > memory.MEMORY_SHARE * available:
        raise AutoKDError(
            f"image folder '{root}': {images} images at {side}x{side} need about "
            f"{memory.gib(needed)} of memory, this machine has {memory.gib(available)} "
            "available: choose a smaller --input-size"
        )


def load_folder(root: Path, *, side: int | None = None) -> RawData:
    """Images in class folders, or train/ and val/ (or valid/, validation/, test/) holding class
    folders. Grey images stay one channel, anything else becomes RGB; every image is decoded
    straight to `side` x `side` (default: the most common longer side), by a thread pool."""
    if not root.is_dir():
        raise AutoKDError(f"image folder '{root}' is not a folder")
    split = (root / "train").is_dir()
    val_root = next((root / n for n in VAL_FOLDERS if split and (root / n).is_dir()), None)
    train = _class_folders(root / "train" if split else root)
    val = _class_folders(val_root) if val_root is not None else {}
    unknown = sorted(set(val) - set(train))
    if unknown:
        raise AutoKDError(f"'{val_root}' has classes that train/ lacks: {', '.join(unknown)}")
    names = sorted(train)
    paths = [(p, names.index(c)) for part in (train, val) for c, ps in part.items() for p in ps]
    from PIL import Image

    # (PIL warns of images past its own bound; `_header` refuses those past autokd's instead)
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=8) as pool:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        headers = list(pool.map(_header, [p for p, _ in paths]))
        mode = "L" if all(m in _GREY_MODES for m, _ in headers) else "RGB"
        side = side or Counter(s for _, s in headers).most_common(1)[0][0]
        _check_decoded_fits(root, len(paths), 1 if mode == "L" else 3, side)
        decoded = list(pool.map(lambda p: _decode(p, mode, side), [p for p, _ in paths]))
    if any(image.dtype != np.uint8 for image in decoded):  # 16-bit images among 8-bit ones
        decoded = [_unit_float(image) for image in decoded]
    images = np.stack(decoded)
    labels = np.asarray([label for _, label in paths], dtype=np.int64)
    n_train = sum(len(ps) for ps in train.values())
    identity = files_identity([p for p, _ in paths], root=root)
    if val_root is not None:
        return RawData(
            images[:n_train],
            labels[:n_train],
            images[n_train:],
            labels[n_train:],
            identity=identity,
            class_names=tuple(names),
        )
    return RawData(images, labels, identity=identity, class_names=tuple(names))


def load_npz(path: Path) -> RawData:
    """`x`: (N, H, W), (N, C, H, W) or (N, H, W, C) images (uint8 0-255, or floats), `y`: (N,)
    labels of any integer values."""
    if not path.is_file():
        raise AutoKDError(f"NumPy archive '{path}' is not a file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise AutoKDError(f"'{path}' is not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise AutoKDError(
            f"'{path}' holds a single array; autokd needs an .npz archive with the "
            "images in x and the labels in y (np.savez(path, x=..., y=...))"
        )
    missing = [k for k in ("x", "y") if k not in archive.files]
    if missing:
        raise AutoKDError(
            f"'{path}' lacks the array(s) {', '.join(missing)}; it holds "
            f"{', '.join(archive.files) or 'none'}: images go in x, labels in y"
        )
    try:
        x, y = archive["x"], archive["y"]
    except ValueError as err:  # object arrays: they would need pickle, which autokd refuses
        raise AutoKDError(f"'{path}': x and y must be plain numeric arrays ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:  # a truncated archive
        raise AutoKDError(f"'{path}' is damaged: its arrays cannot be read ({err})") from None
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):  # members not .npy
        raise AutoKDError(f"'{path}': x and y must be NumPy arrays (np.savez(path, x=..., y=...))")
    if not (_real_numbers(x) and _real_numbers(y)):
        raise AutoKDError(f"'{path}': x and y must hold real numbers, got {x.dtype} and {y.dtype}")
    if x.ndim not in (3, 4):
        raise AutoKDError(f"'{path}': x must be (N, H, W) or (N, C, H, W), got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise AutoKDError(
            f"'{path}': x holds {len(x)} images but y holds {y.shape} labels; they "
            "must match one to one"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise AutoKDError(f"'{path}': y must hold integer class labels, got {y.dtype}")
    if x.size == 0:
        raise AutoKDError(f"'{path}': x holds no pixels (shape {x.shape}); give at least one image")
    if len(np.unique(y)) < 2:
        raise AutoKDError(f"'{path}': y holds a single class; a classifier needs two or more")
    if x.ndim == 4 and x.shape[1] not in (1, 3, 4) and x.shape[-1] in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # channels last (N, H, W, C), as images usually come
    images = x[:, None] if x.ndim == 3 else x
    images = images if x.dtype == np.uint8 else _unit_range(images.astype(np.float32), path)
    values, labels = np.unique(y, return_inverse=True)  # any label values: 0 .. classes - 1
    if not np.array_equal(values, np.arange(len(values))):
        shown = ", ".join(str(v) for v in values[:6].tolist())
        shown += ", ..." if len(values) > 6 else ""
        print(
            f"autokd: '{printable(path)}': its labels {shown} are classes 0 to "
            f"{len(values) - 1}, in that order (recorded as the class names the bundle reports)",
            file=sys.stderr,
        )
    return RawData(
        images,
        labels.astype(np.int64),
        identity=files_identity([path]),
        class_names=tuple(str(v) for v in values.tolist()),  # the archive's own label values
    )


def _real_numbers(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)


def _unit_range(images: np.ndarray, path: Path) -> np.ndarray:
    """Pixel values of any range (0-255 floats, 16-bit counts, [-1, 1]) moved linearly into
    [0, 1]: normalisation undoes a linear change anyway, and 8-bit storage needs [0, 1]."""
    low, high = float(images.min()), float(images.max())  # NaN and infinities carry through
    if not (np.isfinite(low) and np.isfinite(high)):
        raise AutoKDError(f"'{path}': x holds NaN or infinite values")
    if low >= 0.0 and high <= 1.0:
        return images
    images -= low  # in place: `images` is already the reader's own float32 copy
    images /= max(high - low, 1e-12)
    return images
