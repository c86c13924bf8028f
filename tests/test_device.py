"""Training device and precision: resolution, refusals, and the mixed-precision paths of the engine.

The autocast and gradient-scaler code is device-generic, so its bfloat16 and float16 paths run on
the CPU here; the CUDA tests run where a GPU is present and are skipped (with the reason) elsewhere.
"""

import dataclasses

import pytest
import torch

from autokd.distill.config import KDConfig, TrainConfig
from autokd.distill.engine import fit
from autokd.distill.training import place_on_device
from autokd.errors import AutoKDError
from autokd.runtime.device import Execution, resolve_device, resolve_execution
from tests.test_engine import small_student

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def test_auto_is_the_gpu_where_there_is_one():
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "CPU", ""])
def test_a_malformed_device_is_refused(bad):
    with pytest.raises(AutoKDError, match="is not a device; give auto, cpu, cuda or cuda:N"):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(AutoKDError, match="this machine has no GPU that torch can use"):
        resolve_device("cuda")


def test_the_cpu_trains_in_float32_whatever_is_asked():
    assert resolve_execution("cpu", "mixed") == Execution("cpu", "fp32")
    with pytest.raises(AutoKDError, match="--precision 'fp8'"):
        resolve_execution("cpu", "fp8")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_paths_train_and_match_float32_closely(digits, tiny_outputs, precision):
    kd = KDConfig(temperature=4.0, alpha=0.5, feature_weights=(0.5, 1.0))
    schedule = TrainConfig(epochs=1, lr=0.01, seed=3)
    results = {}
    for name, execution in (("fp32", Execution()), (precision, Execution("cpu", precision))):
        torch.manual_seed(0)
        model = small_student(digits)
        results[name] = fit(
            model, digits, schedule, kd=kd, teacher=tiny_outputs, execution=execution
        )
    assert not results[precision].diverged
    assert abs(results[precision].val_accuracy - results["fp32"].val_accuracy) < 0.15


def test_on_the_cpu_nothing_moves(digits, tiny_outputs):
    data, outputs = place_on_device(digits, tiny_outputs, Execution())
    assert data is digits and outputs is tiny_outputs


@needs_cuda
def test_data_and_teacher_outputs_go_to_the_gpu_when_they_fit(digits, tiny_outputs):
    execution = resolve_execution("cuda")
    data, outputs = place_on_device(digits, tiny_outputs, execution)
    assert data.train_x.pixels.is_cuda and data.val_y.is_cuda
    assert outputs.logits.is_cuda and all(f.is_cuda for f in outputs.features)


@needs_cuda
@pytest.mark.parametrize("precision", ["mixed", "fp32"])
def test_a_student_trains_on_the_gpu(digits, tiny_outputs, precision):
    execution = resolve_execution("cuda", precision)
    data, outputs = place_on_device(digits, tiny_outputs, execution)
    kd = KDConfig(temperature=4.0, alpha=0.5, feature_weights=(0.5, 1.0))
    model = small_student(digits)
    result = fit(
        model, data, TrainConfig(epochs=2, lr=0.01), kd=kd, teacher=outputs, execution=execution
    )
    assert next(model.parameters()).is_cuda
    assert result.val_accuracy > 0.3 and not result.diverged


@needs_cuda
def test_checkpoints_made_on_the_gpu_resume(digits, tiny_outputs, tmp_path):
    execution = resolve_execution("cuda")
    data, outputs = place_on_device(digits, tiny_outputs, execution)
    kd = KDConfig(temperature=4.0, alpha=0.5, feature_weights=(0.0, 0.0))
    schedule = TrainConfig(epochs=2, lr=0.01)
    fit(
        small_student(digits),
        data,
        dataclasses.replace(schedule, epochs=2),
        kd=kd,
        teacher=outputs,
        checkpoint=tmp_path / "c.pt",
        execution=execution,
    )
    state = torch.load(tmp_path / "c.pt", map_location="cpu", weights_only=True)
    assert len(state["history"]) == 2
