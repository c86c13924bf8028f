"""The ExecuTorch targets (`executorch`, `executorch-int8`: XNNPACK delegate, INT8 by PT2E):
the student exported by torch.export and timed in ExecuTorch's runtime; on `executorch-int8` the
search's accuracy is the quantized program's and export ships it as `student.int8.pte`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from autokd.cli import main
from autokd.errors import AutoKDError, TrialFailed
from autokd.measure import executorch as et
from autokd.measure.backends import executorch_int8, get_backend
from autokd.measure.deployed import accuracy_of, calibration_images
from autokd.measure.latency import measure_latency
from autokd.measure.targets import load_target
from autokd.students import build_student
from autokd.study.space import load_space, sample_architectures
from tests.helpers import autokd, tiny_search

pytest.importorskip("executorch.runtime")


@pytest.fixture(scope="module")
def student(digits):
    (config,) = sample_architectures(load_space("cnn"), digits.input_shape, digits.classes, 1, 3)
    torch.manual_seed(0)
    return config, build_student(config).eval()


def test_the_float_program_computes_what_pytorch_computes(student, digits):
    _, model = student
    images = digits.val_x[torch.arange(4)]
    method = et.load_method(et.to_pte(model, images[:1]), threads=1)
    with torch.no_grad():
        expected = model(images).numpy()
    assert np.allclose(et.predict_one_by_one(method, images.numpy()), expected, atol=1e-4)


@pytest.mark.slow
def test_the_shipped_int8_program_follows_the_float_model(student, digits, tmp_path):
    _, model = student
    images = digits.val_x[torch.arange(64)]
    with torch.inference_mode():
        expected = model(images).argmax(1).numpy()
    path = tmp_path / get_backend("executorch-int8").deployed_file
    executorch_int8.write_deployed(model, calibration_images(digits, 32, seed=0), path)
    assert path.suffix == ".pte" and path.read_bytes()[4:8] == b"ET12"  # the flatbuffer's id
    predict = executorch_int8.load_deployed(path, 1)
    predicted = predict(images.numpy())
    assert predicted.shape == (64, digits.classes)
    assert (predicted.argmax(1) == expected).mean() >= 0.8  # 8 bits: close, not equal
    assert 0.0 <= accuracy_of(predict, digits) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["executorch", "executorch-int8"])
def test_the_latency_protocol_times_both_programs(name, student, tmp_path):
    config, model = student
    target_file = tmp_path / f"{name}.yaml"
    batch = 2  # a program takes the batch it was exported with, the target's
    fields = {"backend": name, "threads": 1, "batch_size": batch, "min_run_time": 0.05}
    target_file.write_text(yaml.safe_dump(fields))
    shape = (config.in_channels, config.input_size, config.input_size)
    found = measure_latency(model, load_target(target_file), shape)
    assert found.backend == name and found.batch_size == batch and found.median_ms > 0


def test_a_student_executorch_cannot_lower_fails_its_trial_with_the_reason(student, monkeypatch):
    import executorch.exir

    def refuse(*args, **kwargs):
        raise RuntimeError("Unsupported operator: aten.frobnicate\nmore lines")

    monkeypatch.setattr(executorch.exir, "to_edge_transform_and_lower", refuse)
    with pytest.raises(TrialFailed, match=r"ExecuTorch cannot convert this student \(Unsupp"):
        et.to_pte(student[1], torch.zeros(1, 1, 16, 16))


def test_the_missing_extra_names_its_install_command(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "executorch.runtime", None)
    with pytest.raises(AutoKDError, match=r"pip install 'autokd\[executorch\]'"):
        get_backend("executorch-int8").check("executorch-int8", "cpu")


def test_the_int8_target_calibrates_and_lists(capsys):
    target = load_target("executorch-int8")
    assert target.quantizes and target.calibration_images == 256
    assert not load_target("executorch").quantizes
    assert main(["targets"]) == 0
    listed = capsys.readouterr().out
    assert "executorch-int8" in listed and "executorch " in listed


@pytest.mark.slow
def test_an_executorch_int8_search_exports_its_program(tmp_path, digits):
    # as a user runs it (a process of its own): ExecuTorch's C++ log stays out of the output
    done = autokd(*tiny_search(tmp_path, "et", 1), "--target", "executorch-int8")
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "threadpool" not in said and "cpuinfo" not in said and "KernelPreference" not in said
    trials = pd.read_csv(tmp_path / "runs" / "et" / "trials.csv")
    assert (trials["state"] == "COMPLETE").all() and trials["accuracy_fp32"].notna().all()
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "runs" / "et"), "-o", str(bundle)]) == 0
    description = yaml.safe_load((bundle / "student.yaml").read_text())
    assert description["files"]["deployed"] == "student.int8.pte"
    predict = executorch_int8.load_deployed(bundle / "student.int8.pte", 1)
    recorded = description["metrics"]["accuracy"]
    assert accuracy_of(predict, digits) == pytest.approx(recorded, abs=1.5 / len(digits.val_x))
