"""Every data format autokd reads, on small files the tests write in the real on-disk format,
through the same `load_data` (and command line) users take."""

import dataclasses
import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from autokd.cli import main
from autokd.data import PREPROCESSING_VERSION, load_data, load_identified_data, sources
from autokd.data.augment import POLICIES
from autokd.data.sources import SourceRequest
from autokd.errors import AutoKDError
from autokd.records.attrs import RUN_ATTR
from autokd.records.folder import RunFolder, load_study, read_worker_record
from autokd.records.summary import DataIdentity
from autokd.records.yamlfiles import stable_hash
from autokd.teachers.timm import teacher_cache_path
from tests.helpers import TINY_SEARCH

RNG = np.random.default_rng(0)


def write_cifar(root, *, hundred=False, per_batch=20, classes=10):
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    names = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    for name in names:
        labels = [i % classes for i in range(per_batch)]
        batch = {
            b"data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"fine_labels" if hundred else b"labels": labels,
        }
        with (folder / name).open("wb") as handle:
            pickle.dump(batch, handle)


def write_idx(raw, count=60, side=28, *, compressed=False):
    """The idx files as torchvision unpacks them, or gzip-compressed as Debian ships them."""
    raw.mkdir(parents=True)
    images = RNG.integers(0, 256, (count, side, side), dtype=np.uint8)
    labels = np.arange(count, dtype=np.uint8) % 10
    suffix, write = (".gz", gzip.compress) if compressed else ("", bytes)
    (raw / f"train-images-idx3-ubyte{suffix}").write_bytes(
        write(struct.pack(">IIII", 2051, count, side, side) + images.tobytes())
    )
    (raw / f"train-labels-idx1-ubyte{suffix}").write_bytes(
        write(struct.pack(">II", 2049, count) + labels.tobytes())
    )
    return images, labels


def write_pngs(root, *, classes=("cat", "dog"), per_class=6, size=12, mode="RGB"):
    from PIL import Image

    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = (size, size, 3) if mode == "RGB" else (size, size)
            Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8), mode).save(
                root / name / f"{i}.png"
            )


@pytest.mark.parametrize(("name", "hundred"), [("cifar10", False), ("cifar100", True)])
def test_cifar_python_batches(tmp_path, name, hundred):
    write_cifar(tmp_path, hundred=hundred, per_batch=100 if hundred else 20)
    data = load_data(name, data_dir=tmp_path)
    total = 100
    assert len(data.train_y) + len(data.val_y) == total
    assert data.input_shape == (3, 32, 32) and data.classes == 10
    assert data.augment is not None  # crops and flips for full training


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_mnist_idx_files(tmp_path, name, folder):
    write_idx(tmp_path / folder / "raw")
    data = load_data(name, data_dir=tmp_path, seed=1)
    assert data.input_shape == (1, 28, 28) and data.classes == 10
    assert len(data.train_y) == 48 and len(data.val_y) == 12  # 20% held out, stratified
    assert torch.bincount(data.val_y, minlength=10).min() >= 1  # every class held out


def test_fashion_mnist_from_debians_package(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    images, labels = write_idx(debian, compressed=True)
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", (tmp_path / "absent", debian))
    raw = sources.load_mnist(SourceRequest(tmp_path / "data"), fashion=True)
    assert raw.images.shape == (60, 1, 28, 28) and raw.images.dtype == np.uint8
    assert np.array_equal(raw.images[:, 0], images) and raw.labels.tolist() == labels.tolist()
    data = load_data("fashion-mnist", data_dir=tmp_path / "data")
    assert data.input_shape == (1, 28, 28) and data.classes == 10
    assert load_data("fashion-mnist", data_dir=tmp_path / "data").key == data.key  # same files
    unpacked, _ = write_idx(tmp_path / "data" / "FashionMNIST" / "raw")
    raw = sources.load_mnist(SourceRequest(tmp_path / "data"), fashion=True)
    assert np.array_equal(raw.images[:, 0], unpacked)  # torchvision's layout comes first
    assert load_data("fashion-mnist", data_dir=tmp_path / "data").key != data.key


def test_fashion_mnist_missing_everywhere_names_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", (tmp_path / "debian",))
    with pytest.raises(AutoKDError) as caught:
        load_data("fashion-mnist", data_dir=tmp_path)
    message = str(caught.value)
    assert "FashionMNIST/raw/train-images-idx3-ubyte" in message and "--download" in message
    assert "`apt-get install dataset-fashion-mnist`" in message
    assert f"(read from {tmp_path / 'debian'})" in message
    with pytest.raises(AutoKDError) as caught:
        load_data("mnist", data_dir=tmp_path)
    assert "apt-get" not in str(caught.value)  # Debian packages Fashion-MNIST only


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not gzip at all", "is not a readable idx file"),
        (gzip.compress(struct.pack(">II", 2049, 3) + bytes(3)), "magic number 00000801"),
        (
            gzip.compress(struct.pack(">IIII", 2051, 5, 28, 28) + bytes(100)),
            "do not fill the shape \\(5, 28",
        ),
        (gzip.compress(struct.pack(">IIII", 2051, 5, 28, 28) + bytes(3920))[:-12], "idx file"),
    ],
)
def test_broken_debian_files_are_one_clear_line(tmp_path, monkeypatch, content, message):
    write_idx(tmp_path / "debian", compressed=True)
    (tmp_path / "debian" / "train-images-idx3-ubyte.gz").write_bytes(content)
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", (tmp_path / "debian",))
    with pytest.raises(AutoKDError, match=message):
        load_data("fashion-mnist", data_dir=tmp_path)


def test_missing_files_say_which_where_and_how(tmp_path):
    with pytest.raises(AutoKDError) as caught:
        load_data("cifar10", data_dir=tmp_path)
    message = str(caught.value)
    assert "cifar10 files are missing" in message and str(tmp_path) in message
    assert "--download" in message and "cifar-10-python.tar.gz" in message
    with pytest.raises(AutoKDError, match="train-images-idx3-ubyte"):
        load_data("mnist", data_dir=tmp_path)


def test_an_offline_download_fails_with_what_to_do(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets as tv

    def offline(*args, **kwargs):
        raise URLError("no route to host")

    monkeypatch.setattr(tv, "MNIST", offline)
    with pytest.raises(AutoKDError, match="could not download mnist .* \\(no internet\\?\\)"):
        load_data("mnist", data_dir=tmp_path, download=True)


def test_an_image_folder_with_stratified_split(tmp_path):
    write_pngs(tmp_path / "pets", per_class=10)
    data = load_data(f"folder:{tmp_path / 'pets'}", seed=0)
    assert data.classes == 2 and data.input_shape == (3, 12, 12)
    assert data.class_names == ("cat", "dog")  # label index -> its folder's name
    assert len(data.train_y) == 16 and torch.bincount(data.val_y).tolist() == [2, 2]
    smaller = load_data(f"folder:{tmp_path / 'pets'}", input_size=8)
    assert smaller.input_shape == (3, 8, 8)


def test_an_image_folder_with_its_own_train_and_val(tmp_path):
    write_pngs(tmp_path / "set" / "train", per_class=5, mode="L")
    write_pngs(tmp_path / "set" / "val", per_class=2, mode="L")
    data = load_data(f"folder:{tmp_path / 'set'}")
    assert len(data.train_y) == 10 and len(data.val_y) == 4
    assert data.channels == 1  # grey images stay one channel


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda root: root.mkdir(), "holds no class folders"),
        (lambda root: (root / "cat").mkdir(parents=True), "class folder '.*cat' holds no images"),
        (
            lambda root: (
                (root / "cat").mkdir(parents=True),
                (root / "cat" / "broken.png").write_bytes(b"not an image"),
            ),
            "image '.*broken.png' cannot be read",
        ),
    ],
)
def test_bad_image_folders_are_one_clear_line(tmp_path, build, message):
    root = tmp_path / "bad"
    build(root)
    with pytest.raises(AutoKDError, match=message):
        load_data(f"folder:{root}")


def test_npz_archives(tmp_path):
    x = RNG.integers(0, 256, (40, 10, 10), dtype=np.uint8)
    y = np.repeat([3, 7], 20)  # any label values: they become 0 and 1
    np.savez(tmp_path / "a.npz", x=x, y=y)
    data = load_data(f"npz:{tmp_path / 'a.npz'}")
    assert data.classes == 2 and data.input_shape == (1, 10, 10)
    assert data.class_names == ("3", "7")  # the archive's own label values
    np.savez(tmp_path / "c.npz", x=RNG.random((30, 3, 8, 8), dtype=np.float32), y=np.arange(30) % 3)
    assert load_data(f"npz:{tmp_path / 'c.npz'}").input_shape == (3, 8, 8)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((5, 4, 4)), "y": np.zeros(4, dtype=int)}, "x holds 5 images but y holds"),
        ({"x": np.zeros((5, 4, 4))}, "lacks the array\\(s\\) y"),
        ({"x": np.zeros((5, 4)), "y": np.zeros(5, dtype=int)}, "x must be \\(N, H, W\\)"),
        ({"x": np.zeros((5, 4, 4)), "y": np.zeros(5)}, "y must hold integer class labels"),
        ({"x": np.full((5, 4, 4), np.nan), "y": np.arange(5)}, "x holds NaN or infinite values"),
    ],
)
def test_bad_npz_archives_are_one_clear_line(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(AutoKDError, match=message):
        load_data(f"npz:{tmp_path / 'bad.npz'}")


def test_every_source_names_its_classes(tmp_path, digits):
    assert digits.class_names == tuple("0123456789")
    write_cifar(tmp_path / "c10", per_batch=100)
    assert load_data("cifar10", data_dir=tmp_path / "c10").class_names[:2] == (
        "airplane",
        "automobile",
    )
    write_idx(tmp_path / "f" / "FashionMNIST" / "raw")
    fashion = load_data("fashion-mnist", data_dir=tmp_path / "f")
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    write_cifar(tmp_path / "c100", hundred=True, per_batch=100)
    meta = {b"fine_label_names": [f"kind{i}".encode() for i in range(100)]}
    (tmp_path / "c100" / "cifar-100-python" / "meta").write_bytes(pickle.dumps(meta))
    assert load_data("cifar100", data_dir=tmp_path / "c100").class_names[3] == "kind3"


def test_a_stratified_subset_of_the_training_images(digits):
    small = load_data("digits", subset=200)
    assert len(small.train_y) == 200 and len(small.val_y) == len(digits.val_y)
    assert torch.bincount(small.train_y).min() >= 19  # every class kept, in proportion
    assert small.key != digits.key
    with pytest.raises(AutoKDError, match="--subset 5000 is not smaller than the 1437"):
        load_data("digits", subset=5000)


@pytest.mark.slow
@pytest.mark.usefixtures("teacher_on_noise")
def test_a_search_on_an_image_folder_end_to_end(tmp_path, capsys):
    write_pngs(tmp_path / "pets", classes=("cat", "dog", "owl"), per_class=12, size=16)
    args = [
        "search",
        "--data",
        f"folder:{tmp_path / 'pets'}",
        "--budget",
        "2",
        "--name",
        "pets",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--reports-dir",
        str(tmp_path / "reports"),
        *TINY_SEARCH,
    ]
    assert main(args) == 0
    assert (tmp_path / "reports" / "pets.html").is_file()
    code = main([*args, "--name", "pets-subset", "--subset", "500"])
    assert code == 2 and "--subset 500 is not smaller" in capsys.readouterr().err


def test_moving_an_image_to_another_class_changes_the_data_key(tmp_path):
    write_pngs(tmp_path / "pets", per_class=10)
    before = load_data(f"folder:{tmp_path / 'pets'}")
    (tmp_path / "pets" / "cat" / "0.png").rename(tmp_path / "pets" / "dog" / "moved.png")
    assert load_data(f"folder:{tmp_path / 'pets'}").key != before.key


def test_the_same_folder_however_spelled_is_one_data_set(tmp_path, monkeypatch):
    write_pngs(tmp_path / "pets", per_class=10)
    monkeypatch.chdir(tmp_path)
    relative, absolute = load_data("folder:pets"), load_data(f"folder:{tmp_path / 'pets'}")
    assert relative.key == absolute.key and relative.name == f"folder:{tmp_path / 'pets'}"


def test_a_train_and_test_layout_uses_test_for_validation(tmp_path):
    write_pngs(tmp_path / "set" / "train", per_class=5)
    write_pngs(tmp_path / "set" / "test", per_class=2)
    data = load_data(f"folder:{tmp_path / 'set'}")
    assert data.classes == 2 and len(data.train_y) == 10 and len(data.val_y) == 4


def test_sixteen_bit_grey_images_keep_their_range(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "deep" / name).mkdir(parents=True)
        for i in range(6):
            ramp = (np.linspace(0, 65535, 64).reshape(8, 8) * (i + 1) / 6).astype(np.uint16)
            Image.fromarray(ramp).save(tmp_path / "deep" / name / f"{i}.png")  # I;16
    from autokd.data.sources import load_folder

    raw = load_folder(tmp_path / "deep")
    assert raw.images.shape[1] == 1 and raw.images.min() >= 0.0 and raw.images.max() <= 1.0
    assert (raw.images >= 0.999).mean() < 0.1  # not clipped to white


def test_channels_last_archives_are_read_as_images(tmp_path):
    np.savez(
        tmp_path / "hwc.npz",
        x=RNG.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
        y=np.arange(20) % 2,
    )
    assert load_data(f"npz:{tmp_path / 'hwc.npz'}").input_shape == (3, 8, 8)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: np.save(p, np.zeros((4, 4))), "holds a single array"),
        (lambda p: np.savez(p, x=np.zeros((6, 4, 4)), y=np.zeros(6, dtype=int)), "a single class"),
    ],
)
def test_archives_that_cannot_train_a_classifier(tmp_path, write, message):
    path = tmp_path / "data.npz"
    with path.open("wb") as handle:
        write(handle)
    with pytest.raises(AutoKDError, match=message):
        load_data(f"npz:{path}")


def test_a_subset_needs_an_image_per_class(digits):
    with pytest.raises(AutoKDError, match="--subset 5 is smaller than the 10 classes"):
        load_data("digits", subset=5)


@pytest.mark.usefixtures("teacher_on_noise")
def test_a_run_refuses_to_continue_on_changed_data(tmp_path, capsys):
    np.savez(
        tmp_path / "d.npz",
        x=RNG.integers(0, 256, (60, 16, 16), dtype=np.uint8),
        y=np.arange(60) % 3,
    )
    args = [
        "search",
        "--data",
        f"npz:{tmp_path / 'd.npz'}",
        "--name",
        "d",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--reports-dir",
        str(tmp_path / "reports"),
        *TINY_SEARCH,
    ]
    assert main([*args, "--budget", "1"]) == 0
    np.savez(
        tmp_path / "d.npz",
        x=RNG.integers(0, 256, (60, 16, 16), dtype=np.uint8),
        y=np.arange(60) % 4,
    )
    capsys.readouterr()
    assert main([*args, "--budget", "2"]) == 2
    assert "changed since run 'd' started" in capsys.readouterr().err


@pytest.mark.parametrize(("mode", "policy"), [("RGB", "crop-flip"), ("L", "shift")])
def test_auto_augmentation_of_a_folder_follows_its_channels(tmp_path, mode, policy):
    write_pngs(tmp_path / "pets", per_class=5, mode=mode)
    data = load_data(f"folder:{tmp_path / 'pets'}")
    assert data.channels == (3 if mode == "RGB" else 1)
    assert data.augment_policy == policy and data.augment is POLICIES[policy]
    assert data.summary()["augment_policy"] == policy  # summary.json's data record


@pytest.mark.parametrize(
    ("shape", "policy"),
    [((20, 3, 8, 8), "crop-flip"), ((20, 8, 8, 3), "crop-flip"), ((20, 8, 8), "shift")],
)
def test_auto_augmentation_of_an_archive_follows_its_channels(tmp_path, shape, policy):
    np.savez(tmp_path / "a.npz", x=RNG.integers(0, 256, shape, dtype=np.uint8), y=np.arange(20) % 2)
    data = load_data(f"npz:{tmp_path / 'a.npz'}")
    assert data.augment_policy == policy and data.augment is POLICIES[policy]
    off = load_data(f"npz:{tmp_path / 'a.npz'}", augment_policy="none")
    assert off.augment is None and off.augment_policy == "none"


def test_the_augment_policy_is_part_of_the_data_and_teacher_identity(tmp_path, settings):
    write_pngs(tmp_path / "pets", per_class=5)
    name = f"folder:{tmp_path / 'pets'}"
    auto, shift = load_data(name), load_data(name, augment_policy="shift")
    assert (auto.augment_policy, shift.augment_policy) == ("crop-flip", "shift")
    assert auto.key != shift.key
    cached = {
        teacher_cache_path("resnet18", data, epochs=1, seed=0, cache_dir=tmp_path)
        for data in (auto, shift)
    }
    assert len(cached) == 2  # a teacher trained on shifts is never reused for crops and flips
    # shifts, what folders drew before policies, keep the key they had then: old caches load
    *parts, policy_part = shift.key_parts
    name_, seed, val_images, size, images, source = parts
    old_key = stable_hash([name_, seed, val_images, size, images, None, source,
                           PREPROCESSING_VERSION])  # fmt: skip
    assert policy_part is None and shift.key == old_key
    # a run, bundle or worker prepares the data again with the views it recorded
    identity = DataIdentity.from_dict(auto.identity().to_dict())
    assert identity.augment_policy == "crop-flip"
    again = load_identified_data(identity, settings=settings)
    assert again.augment_policy == "crop-flip" and again.key == auto.key
    # one recorded before policies (no field) drew shifts, whatever `auto` picks now
    before = dataclasses.replace(identity, key=shift.key, augment_policy=None)
    assert load_identified_data(before, settings=settings).augment is POLICIES["shift"]


@pytest.mark.slow
def test_a_continued_run_keeps_its_augment_policy(tmp_path, capsys):
    labels = np.arange(60) % 3
    noise = RNG.integers(0, 40, (60, 3, 16, 16))
    bright = (labels[:, None, None, None] * 100 + noise).astype(np.uint8)  # a teacher learns it
    np.savez(tmp_path / "c.npz", x=bright, y=labels)
    args = [
        "search",
        "--data",
        f"npz:{tmp_path / 'c.npz'}",
        "--name",
        "c",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--reports-dir",
        str(tmp_path / "reports"),
        *TINY_SEARCH,
    ]
    assert main([*args, "--budget", "1", "--augment-policy", "none"]) == 0
    capsys.readouterr()
    assert main([*args, "--budget", "2", "--augment-policy", "crop-flip"]) == 2
    err = capsys.readouterr().err
    assert "run 'c' trains with --augment-policy none, this command asks for crop-flip" in err
    assert main([*args, "--budget", "2"]) == 0  # auto: the run's own
    folder = RunFolder(tmp_path / "runs" / "c")
    assert folder.read_summary().data.augment_policy == "none"
    assert folder.data_identity().augment_policy == "none"  # what train and validate prepare
    record = read_worker_record(load_study(folder).user_attrs[RUN_ATTR], "test")
    assert record.data.augment_policy == "none"  # what `autokd worker` prepares
