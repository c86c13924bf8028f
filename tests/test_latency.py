"""The latency protocol on every backend, its re-measurement of noisy results, target checks."""

import time

import pytest
import torch
from torch import nn

from autokd.errors import AutoKDError
from autokd.measure.latency import check_target_usable, measure_latency, target_usable
from autokd.measure.protocol import CALLS_PER_SINGLE_BLOCK, MAX_ATTEMPTS, CallByCallTimer
from autokd.measure.targets import load_target
from tests.helpers import quick_target as quick

TINY = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                     nn.Flatten(), nn.Linear(4, 10))  # fmt: skip
GPU = torch.cuda.is_available()


@pytest.mark.parametrize(
    "target",
    ["cpu", "cpu-1t", "onnxruntime",
     pytest.param("cuda", marks=pytest.mark.skipif(not GPU, reason="no CUDA GPU on this machine"))],
)  # fmt: skip
def test_every_backend_measures_a_tiny_model(target):
    threads_before = torch.get_num_threads()
    measurement = measure_latency(TINY, quick(target), (1, 8, 8))
    assert measurement.median_ms > 0 and measurement.iqr_ms >= 0
    assert measurement.backend == load_target(target).backend
    assert measurement.device == load_target(target).device
    assert measurement.blocks >= 1 and measurement.calls_per_block >= 1
    assert 1 <= measurement.attempts <= MAX_ATTEMPTS and measurement.threads >= 1
    assert torch.get_num_threads() == threads_before  # the training thread count is restored


def test_one_thread_means_one_thread():
    assert measure_latency(TINY, quick("cpu-1t"), (1, 8, 8)).threads == 1


class NoisyTimer:
    """A stand-in for torch.utils.benchmark.Timer whose first results are noisy."""

    spreads: list[float] = []
    made = 0

    def __init__(self, stmt, globals, num_threads):
        self.call = globals["call"]

    def blocked_autorange(self, min_run_time):
        self.call()
        spread = NoisyTimer.spreads[NoisyTimer.made]
        NoisyTimer.made += 1
        return type("Result", (), {"median": 1e-3, "iqr": spread * 1e-3, "times": [1e-3] * 5,
                                   "number_per_run": 10})()  # fmt: skip


@pytest.mark.parametrize(
    ("spreads", "attempts", "noisy", "kept_iqr_ms"),
    [
        ([0.05], 1, False, 0.05),  # steady at once: measured once
        ([0.5, 0.08], 2, False, 0.08),  # noisy, then steady: measured again, the steady one kept
        ([0.5, 0.3, 0.4], 3, True, 0.3),  # noisy every time: bounded, the steadiest kept, flagged
    ],
)
def test_a_noisy_measurement_is_repeated_a_bounded_number_of_times(spreads, attempts, noisy,
                                                                    kept_iqr_ms):  # fmt: skip
    NoisyTimer.spreads, NoisyTimer.made = spreads + [0.5] * 5, 0
    measurement = measure_latency(TINY, quick("cpu-1t"), (1, 8, 8), timer=NoisyTimer)
    assert measurement.attempts == attempts == NoisyTimer.made
    assert measurement.noisy is noisy
    assert measurement.iqr_ms == pytest.approx(kept_iqr_ms)
    assert measurement.median_ms == pytest.approx(1.0)


@pytest.mark.skipif(GPU, reason="this machine has a GPU: the refusal cannot be shown")
def test_the_cuda_target_fails_at_once_without_a_gpu():
    usable, why = target_usable(load_target("cuda"))
    assert not usable and "has none that torch can use" in why
    with pytest.raises(AutoKDError, match="choose cpu, cpu-1t or onnxruntime"):
        check_target_usable(load_target("cuda"))


class StarvedTimer(NoisyTimer):
    """A steady-looking result from a process that got no CPU while it was timed: what timing
    beside a busy program looks like (the threads wait for cores; the IQR stays small)."""

    def blocked_autorange(self, min_run_time):
        import time

        time.sleep(0.05)
        return type("Result", (), {"median": 1e-3, "iqr": 1e-5, "times": [1e-3] * 5,
                                   "number_per_run": 10})()  # fmt: skip


def test_a_measurement_starved_of_cpu_is_repeated_call_by_call_and_flagged():
    measurement = measure_latency(
        TINY, quick("cpu-1t"), (1, 8, 8), timer=StarvedTimer, contended_timer=StarvedTimer
    )
    assert measurement.contended and measurement.noisy
    # still contended but steady on the call-by-call repeat: kept, since the other program stays
    assert measurement.attempts == 2


def test_after_a_starved_attempt_the_calls_are_timed_one_by_one():
    measurement = measure_latency(TINY, quick("cpu-1t"), (1, 8, 8), timer=StarvedTimer)
    assert measurement.attempts == 2
    assert measurement.calls_per_block == CALLS_PER_SINGLE_BLOCK
    assert measurement.blocks >= 3
    # timed the contended machine's way: flagged, never cached, even if the core was free by then
    assert measurement.contended and not measurement.trusted


class Sleeper(nn.Module):
    """A student whose calls hold no core (sleeping): a warm-up starved of CPU time."""

    calls = 0

    def forward(self, x):
        Sleeper.calls += 1
        time.sleep(0.03)
        return x


@pytest.fixture
def helper_regimes(monkeypatch):
    """Records each timed attempt's OpenMP regime: True when its helpers slept at once."""
    import contextlib

    from autokd.measure import latency

    entered = []

    @contextlib.contextmanager
    def recorded():
        entered.append(True)
        yield

    monkeypatch.setattr(latency, "helpers_sleep_at_once", recorded)
    return entered


def test_a_starved_warm_up_goes_straight_to_call_by_call_timing_with_sleeping_helpers(
    helper_regimes,
):
    NoisyTimer.spreads, NoisyTimer.made = [0.05] * 5, 0
    target = quick("cpu-1t", warmup=50, min_run_time=0.05)
    Sleeper.calls = 0
    measurement = measure_latency(Sleeper(), target, (1, 8, 8), timer=NoisyTimer)
    assert NoisyTimer.made == 0  # the blocked timer was never used
    assert measurement.attempts == 1 and measurement.contended
    assert measurement.calls_per_block <= CALLS_PER_SINGLE_BLOCK
    assert helper_regimes == [True]
    assert Sleeper.calls < 50  # the warm-up ended once judged, long before its 50 calls


def test_a_quiet_measurement_keeps_the_spinning_helpers(helper_regimes):
    measurement = measure_latency(TINY, quick("cpu-1t", warmup=50), (1, 8, 8))
    assert not measurement.contended and helper_regimes == []


def test_call_by_call_timing_is_not_spoiled_by_stalls():
    """Every 5th call stalls 20 ms (a thread waiting for a core a busy program holds): a block's
    average would be ~5 ms, the median of single calls stays at the ~1 ms a call takes."""
    count = iter(range(10**6))

    def call():
        time.sleep(0.02 if next(count) % 5 == 4 else 0.001)

    result = CallByCallTimer("call()", {"call": call}, 1).blocked_autorange(min_run_time=0.15)
    assert len(result.times) >= 2 and result.number_per_run == CALLS_PER_SINGLE_BLOCK
    assert 0.001 <= result.median < 0.004


def test_call_by_call_timing_is_bounded_by_its_run_time():
    """A call slower than the whole run time is timed once, not ten times."""
    result = CallByCallTimer("call()", {"call": lambda: time.sleep(0.05)}, 1).blocked_autorange(
        min_run_time=0.01
    )
    assert len(result.times) == 1 and result.number_per_run == 1


@pytest.mark.parametrize(
    ("target", "call"),
    [("cpu", "the module's forward, eval mode"), ("onnxruntime", "InferenceSession.run")],
)
def test_the_protocol_text_says_what_one_call_runs_on_the_targets_backend(target, call):
    from autokd.measure.latency import protocol_text

    text = protocol_text(load_target(target))
    assert call in text and "blocked_autorange" in text
    assert ("inference_mode" in text) == (target == "cpu")
