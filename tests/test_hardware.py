import dataclasses
import json

import pytest
from torch import nn

from autokd.measure import metrics
from autokd.measure.flops import count_flops
from autokd.measure.latency import LatencyMeasurement, target_threads
from autokd.measure.metrics import MetricsCache
from autokd.measure.targets import load_target
from autokd.records.cache import JsonStore
from autokd.runtime.settings import Settings
from autokd.students.cnn import StageConfig, StudentConfig


def test_flops_count_one_multiply_add_as_one_flop():
    batch, cin, cout, size, k, classes = 1, 3, 8, 10, 3, 5
    model = nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=1, bias=False),
        nn.Flatten(),
        nn.Linear(cout * size * size, classes, bias=False),
    )
    conv = batch * cout * size * size * cin * k * k
    linear = batch * cout * size * size * classes
    assert count_flops(model, (cin, size, size)) == conv + linear


def _config(width=8):
    return StudentConfig("cnn", 1, 10, 16, 8, (StageConfig(1, width, 3, 1, 1),))


def _steady(median_ms=1.0, iqr_ms=0.01):
    return LatencyMeasurement(
        median_ms, iqr_ms, 5, 100, 1, 1, "torch", "cpu", noisy=iqr_ms > 0.1 * median_ms
    )


def _cache(tmp_path):
    return MetricsCache(
        Settings(cache_dir=tmp_path),
        counts=JsonStore("c", root=tmp_path),
        latencies=JsonStore("l", root=tmp_path),
    )


def test_metrics_are_measured_once_per_architecture(tmp_path, monkeypatch):
    cache, target = _cache(tmp_path), load_target("cpu-1t")
    calls = []
    monkeypatch.setattr(metrics, "measure_latency", lambda *a, **k: calls.append(a) or _steady())
    first = cache.measure(_config(), target)
    second = cache.measure(_config(), target)
    assert len(calls) == 1
    assert not first.cached and second.cached and second.seconds == 0
    assert (first.flops, first.params, first.latency) == (
        second.flops,
        second.params,
        second.latency,
    )
    cache.measure(_config(width=16), target)
    assert len(calls) == 2
    # Another thread count is another measurement; FLOPs and parameters are still reused.
    cache.measure(_config(), dataclasses.replace(target, threads=2))
    assert len(calls) == 3


def test_a_noisy_latency_is_used_but_never_cached(tmp_path, monkeypatch):
    cache, target = _cache(tmp_path), load_target("cpu-1t")
    calls = []
    noisy = _steady(iqr_ms=0.5)
    monkeypatch.setattr(metrics, "measure_latency", lambda *a, **k: calls.append(a) or noisy)
    assert cache.measure(_config(), target).latency == noisy
    again = cache.measure(_config(), target)
    assert not again.cached and len(calls) == 2  # it would mislead every later run


@pytest.mark.parametrize(
    "poison",
    [
        {"blocks": 1, "iqr_ms": 0.0, "median_ms": 706.0},  # one block: an IQR of 0 means nothing
        {"noisy": True},
        {"contended": True},
        {"median_ms": -1.0},
        {"median_ms": 0.0},
    ],
)
def test_an_untrusted_cached_latency_is_timed_again(tmp_path, monkeypatch, poison):
    """Entries an older autokd cached from a loaded machine are detected and re-measured."""
    cache, target = _cache(tmp_path), load_target("cpu-1t")
    monkeypatch.setattr(metrics, "measure_latency", lambda *a, **k: _steady())
    cache.measure(_config(), target)
    (entry,) = (tmp_path / "l").rglob("*.json")
    entry.write_text(json.dumps({**json.loads(entry.read_text()), **poison}))
    again = cache.measure(_config(), target)
    assert not again.cached and again.latency == _steady()
    assert json.loads(entry.read_text())["median_ms"] == 1.0  # overwritten with the good one


@pytest.mark.parametrize(
    ("store", "content"),
    [
        ("l", "{not json"),
        ("l", "[1, 2]"),
        ("l", '{"median_ms": "fast", "iqr_ms": 0, "blocks": 5, "calls_per_block": 1, '
              '"threads": 1, "batch_size": 1, "backend": "torch", "device": "cpu", '
              '"attempts": 1, "noisy": false, "contended": false}'),
        ("c", '{"flops": "many", "params": 3}'),
        ("c", '{"flops": [1], "params": 3}'),
        ("c", b"\xff\xfe binary"),
    ],
)  # fmt: skip
def test_a_damaged_cache_entry_is_a_miss_said_once(tmp_path, monkeypatch, capsys, store, content):
    cache, target = _cache(tmp_path), load_target("cpu-1t")
    monkeypatch.setattr(metrics, "measure_latency", lambda *a, **k: _steady())
    first = cache.measure(_config(), target)
    (entry,) = (tmp_path / store).rglob("*.json")
    damaged = content if isinstance(content, bytes) else content.encode()
    capsys.readouterr()
    for _ in range(2):  # damaged twice: recomputed twice, said once
        entry.write_bytes(damaged)
        again = cache.measure(_config(), target)
        assert (again.flops, again.params) == (first.flops, first.params)
        assert again.latency == first.latency
    err = capsys.readouterr().err
    assert err.count("is damaged") == 1 and str(entry) in err  # once, naming the file


def test_a_cache_entry_in_another_format_is_measured_again(tmp_path, monkeypatch):
    cache, target = _cache(tmp_path), load_target("cpu-1t")
    monkeypatch.setattr(metrics, "measure_latency", lambda *a, **k: _steady())
    cache.measure(_config(), target)
    for path in (tmp_path / "l").rglob("*.json"):
        path.write_text('{"old_field": 1}')
    assert not cache.measure(_config(), target).cached


def test_the_cache_survives_a_new_process_view(tmp_path):
    store = JsonStore("ns", root=tmp_path)
    store.put("abcdef", {"x": 1})
    assert JsonStore("ns", root=tmp_path).get("abcdef") == {"x": 1}
    assert store.get("missing") is None


@pytest.mark.parametrize("threads", [None, 1])
def test_target_threads_resolve_to_a_count(threads):
    target = dataclasses.replace(load_target("cpu"), threads=threads)
    assert target_threads(target) >= 1


def test_a_contended_latency_is_used_but_never_cached(tmp_path, monkeypatch):
    import dataclasses

    cache, target = _cache(tmp_path), load_target("cpu-1t")
    calls = []
    wrong = dataclasses.replace(_steady(), noisy=True, contended=True)
    monkeypatch.setattr(metrics, "measure_latency", lambda *a, **k: calls.append(a) or wrong)
    assert cache.measure(_config(), target).latency == wrong
    assert not cache.measure(_config(), target).cached and len(calls) == 2  # timed again
