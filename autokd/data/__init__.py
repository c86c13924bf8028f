"""Data set registry: a name becomes one `DataBundle` that carries everything models need to know.

Names: `digits` (the default), `cifar10`, `cifar100`, `mnist`, `fashion-mnist` (torchvision's
layouts under `--data-dir`), `folder:PATH` and `npz:PATH` (the user's own images).

Data sets are held as tensors in memory: a trial slices batches from one tensor instead of paying
a DataLoader's per-batch overhead, and the teacher's outputs line up with the training images by
index, which is what lets them be computed once and cached. Data sets whose float32 images would
pass the in-memory limit (`AUTOKD_IN_MEMORY_GB`, default 2) are stored as 8-bit pixels instead,
turned into training batches in process or by DataLoader workers (`store.py`, `batches.py`).
Decoding a folder of images, the one costly load, uses a pool of threads.

The random views of full training (the teacher's, `autokd train --augment`) follow an
augmentation policy (`augment.POLICIES`); `auto` is the data set's own, and for a folder or an
archive crops and flips when its images are colour, shifts when grey.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autokd.data.augment import (
    AUTO,
    POLICIES,
    Augment,
    check_augment_policy,
    crop_and_flip,
    policy_for_channels,
    policy_name,
    random_shift,
)
from autokd.data.batches import loader_workers
from autokd.data.sources import (
    RawData,
    SourceRequest,
    load_cifar,
    load_digits,
    load_folder,
    load_mnist,
    load_npz,
)
from autokd.data.store import ImageStore, build_stores
from autokd.errors import AutoKDError
from autokd.records.params import MAX_INPUT_SIZE
from autokd.records.summary import DataIdentity
from autokd.records.yamlfiles import stable_hash
from autokd.runtime import memory
from autokd.runtime.registry import Registry
from autokd.runtime.settings import Settings

# Part of every data key: bump it when preprocessing changes, so cached teachers and teacher
# outputs made from differently prepared tensors are not reused.
PREPROCESSING_VERSION = 2
VAL_FRACTION = 0.2  # of the training images, held out (stratified) when a source has no split
MAX_VAL_IMAGES = 5000  # enough to rank students; more only slows every epoch's evaluation


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    load: Callable[[SourceRequest], RawData]
    input_size: int | None  # the size images are resized to by default; None: their own size
    description: str
    augment: Augment | None = None  # label-preserving random views for full training
    # the user's own images: `auto` picks the views by their channels (before policies existed,
    # `augment` for every image)
    augment_by_channels: bool = False


@dataclass(frozen=True)
class DataBundle:
    """Train and validation tensors, normalised with training statistics, plus their shape facts."""

    name: str
    train_x: ImageStore  # (N, C, H, W); train_x[index] is a normalised float32 batch
    train_y: torch.Tensor  # (N,) int64
    val_x: ImageStore
    val_y: torch.Tensor
    channels: int
    classes: int
    input_size: int
    key: str  # identity of exactly these tensors; keys the teacher and teacher-output caches
    description: str = ""
    class_names: tuple[str, ...] = ()  # label index -> the name of its class
    augment: Augment | None = None
    augment_policy: str = AUTO  # the policy `augment` is drawn by (`auto`: a plugin's own)
    options: dict[str, Any] | None = None  # how to prepare it again (seed, size, subset, dir)
    key_parts: tuple = ()  # what the key is made of besides the subset and the storage
    loader_workers: int = 0  # DataLoader workers that make 8-bit training batches

    def key_for(self, *, subset: int | None, compact: bool) -> str:
        """The key these images would have as a `subset` of them, stored so: checks a run made
        on a subset without preparing the subset again."""
        return data_key(self.key_parts, subset=subset, compact=compact)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.input_size, self.input_size)

    @property
    def storage(self) -> str:
        if not self.train_x.compact:
            return "normalised float32 tensors in memory"
        workers = self.loader_workers
        if workers:
            return f"8-bit pixels, training batches made by {workers} DataLoader worker(s)"
        return "8-bit pixels, training batches made in the training process"

    def identity(self) -> DataIdentity:
        """What identifies these images: enough to prepare them again anywhere, and their key."""
        options = self.options or {}
        return DataIdentity(
            name=self.name,
            seed=options.get("seed", 0),
            input_size=self.input_size,
            key=self.key,
            subset=options.get("subset"),
            data_dir=options.get("data_dir"),
            compact=self.train_x.compact,
            augment_policy=self.augment_policy,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "train_images": len(self.train_y),
            "val_images": len(self.val_y),
            "channels": self.channels,
            "classes": self.classes,
            "class_names": list(self.class_names),
            "input_size": self.input_size,
            "key": self.key,
            "description": self.description,
            "augment_policy": self.augment_policy,
            "storage": self.storage,
            "compact": self.train_x.compact,
            "mean": self.train_x.mean.flatten().tolist(),
            "std": self.train_x.std.flatten().tolist(),
            **(self.options or {}),
        }


DATASETS: Registry[DatasetSpec] = Registry("data set")
# Sources named by a prefix and a path: `folder:PATH`, `npz:PATH`.
_PATH_SOURCES: dict[str, tuple[Callable[[Path, SourceRequest], RawData], str]] = {
    "folder": (
        lambda path, request: load_folder(path, side=request.input_size),
        "images in class folders",
    ),
    "npz": (lambda path, request: load_npz(path), "a NumPy archive with x and y"),
}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.add(spec.name, spec, defined_by=spec.load)


def list_datasets() -> list[str]:
    return DATASETS.names() + [f"{prefix}:PATH" for prefix in _PATH_SOURCES]


def get_dataset(name: str) -> DatasetSpec:
    """The registered data set `name`, or a `folder:PATH` / `npz:PATH` source."""
    prefix, _, location = name.partition(":")
    if location and prefix in _PATH_SOURCES:
        reader, what = _PATH_SOURCES[prefix]
        path = Path(location).expanduser().resolve()  # one name however the path is spelled
        if not path.exists():
            raise AutoKDError(f"--data {name}: '{path}' does not exist")
        return DatasetSpec(
            f"{prefix}:{path}",
            lambda request: reader(path, request),
            None,
            f"{what} at {path}",
            augment=random_shift,
            augment_by_channels=True,
        )
    return DATASETS.get(name, also_valid=[f"{prefix}:PATH" for prefix in _PATH_SOURCES])


register_dataset(
    DatasetSpec(
        "digits",
        load_digits,
        16,
        "scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), upsampled "
        "to 16x16 so students have room for three stride-2 stages",
        augment=random_shift,
    )
)
register_dataset(
    DatasetSpec(
        "cifar10",
        partial(load_cifar, hundred=False),
        32,
        "CIFAR-10 training images (50,000, 10 classes, 32x32 RGB)",
        augment=crop_and_flip,
    )
)
register_dataset(
    DatasetSpec(
        "cifar100",
        partial(load_cifar, hundred=True),
        32,
        "CIFAR-100 training images (50,000, 100 classes, 32x32 RGB)",
        augment=crop_and_flip,
    )
)
register_dataset(
    DatasetSpec(
        "mnist",
        partial(load_mnist, fashion=False),
        28,
        "MNIST training digits (60,000, 10 classes, 28x28 grey)",
        augment=random_shift,
    )
)
register_dataset(
    DatasetSpec(
        "fashion-mnist",
        partial(load_mnist, fashion=True),
        28,
        "Fashion-MNIST training images (60,000, 10 classes, 28x28 grey)",
        augment=random_shift,
    )
)


def _class_names(names: tuple[str, ...], classes: int) -> tuple[str, ...]:
    """One name per output of a student: the source's (a file may use only its first labels),
    or, where it names none or too few, the label index itself."""
    if len(names) >= classes:
        return names[:classes]
    return tuple(str(label) for label in range(classes))


def data_key(parts: tuple, *, subset: int | None, compact: bool) -> str:
    """Identity of exactly the prepared tensors and the views drawn from them; keys the teacher
    and teacher-output caches. 8-bit storage rounds the resized pixels: other tensors, so
    another key. The augmentation policy is in `parts` only where it is not what autokd drew
    before policies existed (None), so runs and caches from then keep their keys."""
    name, seed, val_images, size, images, source, policy = parts
    return stable_hash(
        [name, seed, val_images, size, images, subset, source, PREPROCESSING_VERSION]
        + (["uint8"] if compact else [])
        + ([f"augment:{policy}"] if policy is not None else [])
    )


def _augmentation(
    spec: DatasetSpec, policy: str | None, channels: int
) -> tuple[str, Augment | None, str | None]:
    """(policy name, its views, the name for the key: None when it is the views autokd drew
    before policies, the spec's `augment`). `policy` None: a run or bundle that recorded none."""
    before = policy_name(spec.augment)
    if policy is None:
        policy = before
    elif policy == AUTO:
        by_channels = spec.augment_by_channels
        policy = policy_for_channels(channels) if by_channels else before
    views = spec.augment if policy == AUTO else POLICIES[policy]
    return policy, views, None if policy == before else policy


MIN_INPUT_SIZE = 8  # as a target's input_size (`measure.targets`)


def _check_memory(stored: int, name: str, size: int, compact: bool) -> None:
    """Refuse, before anything is resized, images that would not fit in memory at `size`."""
    available = memory.available_bytes("cpu")
    if stored > memory.MEMORY_SHARE * available:
        pixels = "8-bit" if compact else "float32"
        raise AutoKDError(
            f"data {name} at {size}x{size} needs about {memory.gib(stored)} of memory as "
            f"{pixels} pixels, this machine has {memory.gib(available)} available: choose a "
            "smaller --input-size or a --subset"
        )


def draws_views(name: str, policy: str | None) -> bool:
    """Whether data set `name` prepared with `policy` (a recorded one; None: before policies)
    has random views, known without preparing it: `auto` picks views for every folder."""
    if policy is None or policy == AUTO:
        return get_dataset(name).augment is not None
    return POLICIES[check_augment_policy(policy)] is not None


def _stratified_split(
    labels: np.ndarray, size: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, taken) indices: `size` of them taken (a count, or a fraction), every class in
    proportion."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    try:
        return tuple(train_test_split(indices, test_size=size, stratify=labels, random_state=seed))
    except ValueError as err:  # a class too small to be split
        raise AutoKDError(f"cannot split {len(labels)} images stratified by class: {err}") from None


def load_data(
    name: str,
    *,
    seed: int = 0,
    input_size: int | None = None,
    subset: int | None = None,
    data_dir: Path | None = None,
    download: bool = False,
    compact: bool | None = None,
    augment_policy: str | None = AUTO,
    settings: Settings | None = None,
) -> DataBundle:
    """Load a data set, split off validation images (stratified, by seed) unless the source has
    its own, keep a stratified `subset` of the training images if asked, resize, normalise.

    `compact` stores the images as 8-bit pixels (True) or float32 (False); None decides by the
    in-memory limit. A run records its choice, so that preparing its data again gives the same
    tensors whatever the limit is then. `augment_policy` names the random views of full
    training (`augment.list_augment_policies()`; None: what autokd drew before policies, for a
    run that recorded none); a teacher trained on other views is another teacher, so the policy
    is part of the key. `settings` (read by the caller; default autokd's): the cache folder's
    `data` is the default `data_dir`, the in-memory limit, the DataLoader workers of 8-bit
    batches."""
    if augment_policy is not None:
        check_augment_policy(augment_policy)  # before a folder is decoded
    if input_size is not None and not MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE:
        raise AutoKDError(
            f"--input-size must be between {MIN_INPUT_SIZE} and {MAX_INPUT_SIZE} pixels (the "
            f"bounds of a target's input), got {input_size}"
        )
    settings = settings or Settings()
    spec = get_dataset(name)
    name = spec.name  # a folder or archive by its absolute path
    request = SourceRequest(Path(data_dir or settings.cache_dir / "data"), download, input_size)
    raw = spec.load(request)
    images, labels = raw.images, raw.labels
    classes = int(max(labels.max(), raw.val_labels.max() if raw.val_labels is not None else 0)) + 1
    if len(np.unique(labels)) < 2:
        raise AutoKDError(f"data set {name} has a single class; a classifier needs two or more")
    if raw.val_images is not None:
        train_idx, val_x, val_y = np.arange(len(labels)), raw.val_images, raw.val_labels
    else:
        share = VAL_FRACTION if VAL_FRACTION * len(labels) <= MAX_VAL_IMAGES else MAX_VAL_IMAGES
        train_idx, val_idx = _stratified_split(labels, share, seed)
        val_x, val_y = images[val_idx], labels[val_idx]
    if subset is not None:
        if subset < classes:
            raise AutoKDError(
                f"--subset {subset} is smaller than the {classes} classes of {name}: "
                "every class needs at least one training image"
            )
        if subset >= len(train_idx):
            raise AutoKDError(
                f"--subset {subset} is not smaller than the {len(train_idx)} "
                f"training images of {name}"
            )
        _, chosen = _stratified_split(labels[train_idx], subset, seed)
        train_idx = train_idx[np.sort(chosen)]
    policy, augment, policy_part = _augmentation(spec, augment_policy, images.shape[1])
    size = input_size or spec.input_size or images.shape[-1]
    float_bytes = (len(train_idx) + len(val_y)) * images.shape[1] * size * size * 4
    if compact is None:
        compact = float_bytes > settings.in_memory_bytes
    _check_memory(float_bytes // 4 if compact else float_bytes, name, size, compact)
    train_x, val_x = build_stores(images[train_idx], val_x, size, compact=compact)
    options = {
        "seed": seed,
        "subset": subset,
        "requested_input_size": input_size,
        "data_dir": str(request.data_dir),
    }
    key_parts = (name, seed, len(val_y), size, len(labels), raw.identity, policy_part)
    return DataBundle(
        name=name,
        train_x=train_x,
        train_y=torch.from_numpy(labels[train_idx]).contiguous(),
        val_x=val_x,
        val_y=torch.from_numpy(val_y).contiguous(),
        channels=images.shape[1],
        classes=classes,
        input_size=size,
        key=data_key(key_parts, subset=subset, compact=compact),
        key_parts=key_parts,
        description=spec.description,
        class_names=_class_names(raw.class_names, classes),
        augment=augment,
        augment_policy=policy,
        options=options,
        loader_workers=loader_workers(settings.loader_workers),
    )


def load_identified_data(
    identity: DataIdentity, *, settings: Settings, all_images: bool = False
) -> DataBundle:
    """The data set a run or bundle was made on, prepared again (stored as the run stored it) and
    checked by its key; with `all_images`, every training image of it when the run searched on
    a `--subset` (the same validation images: the subset is drawn from the training split)."""
    if all_images and identity.subset is None:
        raise AutoKDError(
            "--all-images: this student's run searched on every training image already "
            "(it had no --subset)"
        )
    data = load_data(
        identity.name,
        seed=identity.seed,
        input_size=identity.input_size,
        subset=None if all_images else identity.subset,
        data_dir=identity.data_dir,
        compact=None if all_images else identity.compact,  # all images may pass the limit
        augment_policy=identity.augment_policy,  # None: recorded before policies
        settings=settings,
    )
    now = data.key_for(subset=identity.subset, compact=identity.compact)
    if now != identity.key:
        raise AutoKDError(
            f"data set '{identity.name}' as autokd prepares it now (key {now}) is not the one "
            f"the student was searched on (key {identity.key}): its files, their labels or "
            "autokd's preparation of them changed"
        )
    return data


def iterate_batches(
    n: int, batch_size: int, *, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Index batches over `n` items: shuffled with `generator`, in order without one.

    A last batch of a single item joins the one before it: BatchNorm cannot train on one value
    per channel (a 1x1 feature map of one image).
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches
