"""Property-based fuzzing of every reader of user or cache files: any bytes, and any structure the
format allows, give either a valid object or autokd's own one-line error, never another
exception or a hang (each example is bounded by hypothesis's deadline)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autokd.data.sources import RawData, _read_idx, load_npz
from autokd.errors import AutoKDError
from autokd.measure import metrics
from autokd.measure.targets import Target, load_target
from autokd.records.cache import JsonStore
from autokd.study.space import SearchSpace, load_space
from autokd.workflows.bundle import Bundle, load_bundle

FUZZ = settings(
    max_examples=150,
    deadline=2000,  # ms per example: a reader that hangs fails here
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples in every CI run
)
SHIPPED_SPACE = yaml.safe_load(Path("search_spaces/cnn.yaml").read_text())
SHIPPED_TARGET = yaml.safe_load(Path("hardware/cpu.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutated(document: dict) -> st.SearchStrategy[dict]:
    """A shipped document with one key's value replaced by anything, at any depth."""

    def replace(path_and_value):
        path, value = path_and_value
        copy = json.loads(json.dumps(document))
        place = copy
        for key in path[:-1]:
            place = place[key] if isinstance(place.get(key), dict) else place
        place[path[-1]] = value
        return copy

    keys = [(k,) for k in document] + [
        (k, sub) for k, v in document.items() if isinstance(v, dict) for sub in v
    ]
    return st.tuples(st.sampled_from(keys), values).map(replace)


def yaml_text(document: dict) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


def loads_or_refuses(load, path: Path, kind: type) -> None:
    try:
        assert isinstance(load(path), kind)
    except AutoKDError as err:
        assert str(err) and "\n" not in str(err)


@pytest.fixture
def folder(tmp_path):
    return tmp_path


LOADERS = pytest.mark.parametrize(
    ("load", "kind", "shipped"),
    [(load_space, SearchSpace, SHIPPED_SPACE), (load_target, Target, SHIPPED_TARGET)],
    ids=["space", "target"],
)


@LOADERS
@FUZZ
@given(content=st.binary(max_size=300))
def test_a_yaml_file_of_any_bytes(folder, load, kind, shipped, content):
    path = folder / "file.yaml"
    path.write_bytes(content)
    loads_or_refuses(load, path, kind)


def nested(depth: int, opener: str) -> str:
    """A YAML value nested `depth` levels in flow style: lists or mappings."""
    closer = {"[": "]", "{x: ": "}"}[opener]
    return opener * depth + "1" + closer * depth


def aliases(levels: int, fanout: int) -> str:
    """A flow mapping of anchors, each repeating the one before `fanout` times: fanout ** levels
    values once expanded (a "billion laughs" is 9 levels of 10)."""
    entries = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        entries.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * fanout)}]")
    return "{" + ", ".join(entries) + "}"


yaml_structures = st.one_of(
    st.builds(nested, st.integers(1, 5000), st.sampled_from(["[", "{x: "])),
    st.builds(aliases, st.integers(1, 12), st.integers(2, 16)),
)


@LOADERS
@settings(FUZZ, max_examples=60, deadline=1000)  # a bomb refused in milliseconds, not expanded
@given(value=yaml_structures, key=st.sampled_from(["description", "student", "name", "extra"]))
def test_a_yaml_file_nested_deep_or_full_of_aliases(folder, load, kind, shipped, value, key):
    path = folder / "file.yaml"
    others = {k: v for k, v in shipped.items() if k != key}
    path.write_text(yaml_text(others) + f"{key}: {value}\n")
    loads_or_refuses(load, path, kind)


@pytest.mark.slow
@LOADERS
@FUZZ
@given(data=st.data())
def test_a_yaml_file_with_any_value_anywhere(folder, load, kind, shipped, data):
    path = folder / "file.yaml"
    path.write_text(yaml_text(data.draw(mutated(shipped))))
    loads_or_refuses(load, path, kind)


BUNDLE = {
    "autokd_bundle": 1,
    "student": {"family": "cnn", "in_channels": 1, "num_classes": 10, "input_size": 16,
                "stem_width": 8, "stages": [{"depth": 1, "width": 8, "kernel": 3,
                                             "dilation": 1, "stride": 1}]},
    "distill": {"temperature": 2.0, "alpha": 0.5, "feature_weights": [0.0]},
    "train": {"epochs": 1, "lr": 0.01, "batch_size": 64, "seed": 0},
    "source": {"run": "runs/a", "trial": 3, "pick": "knee"},
    "teacher": {"name": "test_resnet", "weights_digest": "ab12", "seed": 0, "epochs": 2},
    "data": {"name": "digits", "seed": 0, "input_size": 16, "key": "k1"},
    "target": {**SHIPPED_TARGET, "name": "cpu", "threads": 1, "input_size": 16},
    "metrics": {"accuracy": 0.5, "latency_ms": 0.2, "flops": 1000, "params": 100},
}  # fmt: skip


@pytest.mark.slow
@FUZZ
@given(document=mutated(BUNDLE))
def test_a_bundle_description_with_any_value_anywhere(folder, document):
    bundle = folder / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir()
    (bundle / "student.yaml").write_text(yaml_text(document))
    (bundle / "student.pt").write_bytes(b"")
    loads_or_refuses(load_bundle, bundle, Bundle)


def test_the_unchanged_bundle_description_loads(folder):
    """The fuzzed bundle above starts from a valid one (else every example is a refusal)."""
    (folder / "student.yaml").write_text(yaml_text(BUNDLE))
    (folder / "student.pt").write_bytes(b"")
    assert isinstance(load_bundle(folder), Bundle)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


arrays = st.builds(
    lambda shape, dtype, seed: np.random.default_rng(seed).integers(0, 3, shape).astype(dtype),
    st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple),
    st.sampled_from(["uint8", "int64", "float32", "float64", "bool", "complex64"]),
    st.integers(0, 100),
)


@FUZZ
@given(x=arrays, y=arrays)
def test_an_npz_of_any_arrays(folder, x, y):
    path = folder / "data.npz"
    path.write_bytes(_npz_bytes({"x": x, "y": y}))
    loads_or_refuses(load_npz, path, RawData)


@FUZZ
@given(content=st.binary(max_size=400), cut=st.integers(0, 400))
def test_an_npz_of_any_bytes_or_cut_short(folder, content, cut):
    path = folder / "data.npz"
    valid = _npz_bytes({"x": np.zeros((3, 4, 4), np.uint8), "y": np.arange(3)})
    path.write_bytes(valid[:cut] + content if cut < len(valid) else content)
    loads_or_refuses(load_npz, path, RawData)


def test_an_npz_that_is_a_zip_of_other_files_is_refused(folder):
    path = folder / "data.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"not an array")
        archive.writestr("y.npy", b"")
    with pytest.raises(AutoKDError):
        load_npz(path)


@FUZZ
@given(content=st.binary(max_size=200), ndim=st.sampled_from([1, 3]), headed=st.booleans())
def test_an_idx_file_of_any_bytes(folder, content, ndim, headed):
    """Any bytes, or any bytes after a valid magic number (so that sizes and values are fuzzed
    too, not only the magic number)."""
    path = folder / "images-idx"
    path.write_bytes(bytes((0, 0, 8, ndim)) + content if headed else content)
    loads_or_refuses(lambda p: _read_idx(p, ndim), path, np.ndarray)


@FUZZ
@given(content=st.binary(max_size=200) | values.map(lambda v: json.dumps(v).encode()))
def test_a_cache_entry_of_any_bytes(folder, content):
    store = JsonStore("fuzz", root=folder)
    store.put("abcd", {"x": 1})
    (entry,) = (folder / "fuzz").rglob("*.json")
    entry.write_bytes(content)
    got = store.get("abcd")
    assert got is None or isinstance(got, dict)


latency_fields = st.fixed_dictionaries(
    {
        name: values
        for name in (
            "median_ms",
            "iqr_ms",
            "blocks",
            "calls_per_block",
            "threads",
            "batch_size",
            "backend",
            "device",
            "attempts",
            "noisy",
            "contended",
        )
    }  # fmt: skip
)


@FUZZ
@given(stored=latency_fields | st.dictionaries(st.text(max_size=5), values, max_size=4))
def test_a_cached_latency_of_any_shape(stored):
    if metrics._valid_latency(stored):
        latency = metrics._as_latency(stored)
        assert latency is None or latency.trusted


@FUZZ
@given(stored=st.dictionaries(st.sampled_from(["flops", "params", "x"]), values, max_size=3))
def test_cached_counts_of_any_shape(stored):
    assert metrics._valid_counts(stored) in (True, False)
