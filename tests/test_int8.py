"""The targets that quantize (`onnxruntime-int8`, `openvino-int8`): students quantized after
training, timed as they ship, and judged by the accuracy of the quantized model (`accuracy`,
with `accuracy_fp32` and `accuracy_drop` beside it); export ships the quantized file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import torch
import yaml

from autokd.cli import main
from autokd.data import load_data
from autokd.errors import ConfigError, TrialFailed
from autokd.measure.backends import get_backend, onnxruntime_int8, openvino_int8
from autokd.measure.deployed import accuracy_of, calibration_images, deployed_accuracy
from autokd.measure.targets import DEFAULT_CALIBRATION_IMAGES, load_target
from autokd.records.folder import RunFolder, load_study, weights_file
from autokd.students import build_student
from autokd.study.space import load_space, sample_architectures
from autokd.study.trial import TrialRecord
from tests.helpers import autokd, tiny_search

pytest.importorskip("onnxruntime.quantization")
QUANTIZERS = [
    pytest.param(onnxruntime_int8, "onnxruntime-int8", id="onnxruntime"),
    pytest.param(openvino_int8, "openvino-int8", id="openvino"),
]


@pytest.fixture(scope="module")
def student(digits):
    (config,) = sample_architectures(load_space("cnn"), digits.input_shape, digits.classes, 1, 3)
    torch.manual_seed(0)
    return config, build_student(config).eval()


@pytest.mark.slow
def test_the_quantized_model_has_integer_weights_and_follows_the_float_one(
    student, digits, tmp_path
):
    config, model = student
    int8 = onnxruntime_int8.quantize(model, calibration_images(digits, 32, seed=0))
    assert b"QuantizeLinear" in int8 and b"DequantizeLinear" in int8


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "target_name"), QUANTIZERS)
def test_the_shipped_file_follows_the_float_model(backend, target_name, student, digits, tmp_path):
    config, model = student
    calibration = calibration_images(digits, 32, seed=0)
    images = digits.val_x[torch.arange(64)]
    with torch.inference_mode():
        expected = model(images).argmax(1).numpy()
    path = tmp_path / get_backend(target_name).deployed_file
    backend.write_deployed(model, calibration, path)
    predicted = backend.load_deployed(path, 1)(images.numpy())
    assert predicted.shape == (64, digits.classes)
    assert (predicted.argmax(1) == expected).mean() >= 0.8  # 8 bits: close, not equal


@pytest.mark.slow
def test_calibration_images_with_a_unit_channel_stride_quantize(student):
    """A one-channel image store can hand out images whose channel axis has stride 1 (valid on
    a size-1 axis); torch.export derived contradictory batch bounds from it (Fashion-MNIST's
    every INT8 trial failed) until the exporter was given plain strides."""
    config, model = student
    side = config.input_size
    images = torch.randn(8, side, side, 1).permute(0, 3, 1, 2)  # strides (HW, 1, W, 1)
    assert images.stride()[1] == 1 and images.is_contiguous()
    assert b"QuantizeLinear" in onnxruntime_int8.quantize(model, images)


def test_calibration_images_are_a_seeded_draw_of_training_images(digits):
    first, again = calibration_images(digits, 16, seed=5), calibration_images(digits, 16, seed=5)
    assert first.shape == (16, *digits.input_shape) and torch.equal(first, again)
    assert not torch.equal(first, calibration_images(digits, 16, seed=6))
    assert len(calibration_images(digits, 10**6, seed=0)) == len(digits.train_x)  # all there are


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "target_name"), QUANTIZERS)
def test_the_deployed_accuracy_is_the_runtimes_on_every_validation_image(
    backend, target_name, student, digits, tmp_path
):
    config, model = student
    calibration = calibration_images(digits, 32, seed=0)
    target = load_target(target_name)
    deployed = deployed_accuracy(
        config, model.state_dict(), target, calibration, digits, keep_in=tmp_path
    )
    predict = backend.load_deployed(tmp_path / get_backend(target_name).deployed_file, 1)
    assert deployed.accuracy == accuracy_of(predict, digits) and deployed.seconds > 0


@pytest.mark.slow
def test_openvino_and_nncf_send_no_telemetry():
    """Outside pytest (NNCF turns its telemetry off under pytest by itself), in a fresh process."""
    probe = (
        "from autokd.measure.openvino import openvino_offline; openvino_offline(); "
        "import nncf.telemetry.wrapper as nncf_side; "
        "import openvino.tools.ovc.telemetry_utils as converter_side; "
        "from unittest.mock import MagicMock; "
        "print(isinstance(nncf_side.telemetry, MagicMock), converter_side.tm.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "openvino.tools.ovc.telemetry_stub"], done.stderr


def test_a_student_the_quantizer_refuses_fails_its_trial_with_the_reason(student, monkeypatch):
    import onnxruntime.quantization as quantization

    def refuse(*args, **kwargs):
        raise RuntimeError("Unsupported op: Frobnicate\nmore lines")

    monkeypatch.setattr(quantization, "quantize_static", refuse)
    with pytest.raises(TrialFailed, match=r"cannot quantize this student \(Unsupported op"):
        onnxruntime_int8.quantize(student[1], torch.zeros(2, 1, 16, 16))


def test_the_int8_target_calibrates_and_only_a_quantizing_backend_may(tmp_path):
    target = load_target("onnxruntime-int8")
    assert target.quantizes and target.calibration_images == DEFAULT_CALIBRATION_IMAGES
    assert get_backend(target.backend).precision == "int8"
    assert not load_target("onnxruntime").quantizes
    assert load_target("onnxruntime").calibration_images == 0
    float_file = tmp_path / "float.yaml"
    float_file.write_text("backend: onnxruntime\ncalibration_images: 64\n")
    with pytest.raises(ConfigError, match="backend 'onnxruntime' does not quantize"):
        load_target(float_file)
    too_many = tmp_path / "many.yaml"
    too_many.write_text("backend: onnxruntime-int8\ncalibration_images: 0\n")
    with pytest.raises(ConfigError, match=r"'calibration_images' must be an integer in \[1, "):
        load_target(too_many)


def test_targets_lists_the_int8_target(capsys):
    assert main(["targets"]) == 0
    assert "onnxruntime-int8" in capsys.readouterr().out


@pytest.mark.slow
def test_an_int8_search_records_the_deployed_accuracy_and_its_drop(tmp_path, digits, settings):
    args = [*tiny_search(tmp_path, "int8", 3), "--target", "onnxruntime-int8"]
    assert main(args) == 0
    folder = RunFolder(tmp_path / "runs" / "int8")
    trials = pd.read_csv(folder.trials_csv)
    complete = trials[trials["state"] == "COMPLETE"]
    assert len(complete) == 3
    columns = list(trials.columns)
    assert columns[2:5] == ["accuracy", "accuracy_fp32", "accuracy_drop"]
    assert "deploy_seconds" in columns
    drop = complete["accuracy_fp32"] - complete["accuracy"]
    assert np.allclose(complete["accuracy_drop"], drop)
    # the front's students, quantized again from their kept weights on the run's calibration
    # images, give exactly the accuracy the search recorded
    target = load_target("onnxruntime-int8")
    calibration = calibration_images(digits, target.calibration_images, seed=0)
    study = load_study(folder)
    for number in trials.loc[trials["is_pareto"], "number"]:
        config = TrialRecord.from_attrs(study.trials[int(number)].user_attrs).student
        weights = torch.load(weights_file(folder.weights_dir, int(number)), weights_only=True)
        deployed = deployed_accuracy(config, weights, target, calibration, digits)
        recorded = float(trials.loc[trials["number"] == number, "accuracy"].iloc[0])
        assert deployed.accuracy == pytest.approx(recorded, abs=1.5 / len(digits.val_x))
    report = (tmp_path / "reports" / "int8.html").read_text(encoding="utf-8")
    assert "float32 accuracy" in report and "drop" in report

    # export ships the INT8 file; plain ONNX Runtime on the validation images, normalised as
    # the bundle records, gives the accuracy the search recorded
    bundle = tmp_path / "bundle"
    assert main(["export", str(folder.path), "--pick", "knee", "-o", str(bundle)]) == 0
    description = yaml.safe_load((bundle / "student.yaml").read_text())
    assert description["files"]["deployed"] == "student.int8.onnx"
    metrics, prep = description["metrics"], description["preprocessing"]
    assert metrics["accuracy_fp32"] is not None
    raw = load_data("digits", seed=0, settings=settings)
    pixels = raw.val_x[torch.arange(len(raw.val_x))] * raw.val_x.std + raw.val_x.mean  # [0, 1]
    mean = np.array(prep["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(prep["std"], np.float32).reshape(1, -1, 1, 1)
    images = ((pixels.numpy() - mean) / std).astype(np.float32)
    session = onnxruntime.InferenceSession(
        str(bundle / "student.int8.onnx"), providers=["CPUExecutionProvider"]
    )
    logits = session.run(None, {"input": images})[0]
    accuracy = float((logits.argmax(1) == raw.val_y.numpy()).mean())
    assert accuracy == pytest.approx(metrics["accuracy"], abs=1.5 / len(raw.val_y))

    # `autokd train --qat` ships the trained student quantized after training and after
    # quantization-aware fine-tuning, and records both accuracies, each its file's
    # (in a process of its own: NNCF's PyTorch backend, once imported, stays in the process)
    trained = tmp_path / "trained"
    done = autokd("train", str(bundle), "--epochs", "2", "--qat", "-o", str(trained), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "nncf" not in done.stderr.lower()  # NNCF's progress bars and log kept out
    result = json.loads((trained / "result.json").read_text())
    assert result["files"]["deployed"] == "student.int8.onnx"
    assert result["files"]["qat_deployed"] == "qat/student.int8.onnx"
    qat = result["qat"]
    assert qat["epochs"] == 1 and qat["deployed_accuracy_ptq"] == result["deployed_accuracy"]
    before, after = (
        torch.load(trained / f, weights_only=True) for f in ("student.pt", "qat/student.pt")
    )
    assert before.keys() == after.keys()  # the student's own weights, NNCF's left out
    assert any(not torch.equal(before[k], after[k]) for k in before)  # fine-tuned
    for file, recorded in (("student.int8.onnx", qat["deployed_accuracy_ptq"]),
                           ("qat/student.int8.onnx", qat["deployed_accuracy"])):  # fmt: skip
        session = onnxruntime.InferenceSession(
            str(trained / file), providers=["CPUExecutionProvider"]
        )
        logits = session.run(None, {"input": images})[0]
        accuracy = float((logits.argmax(1) == raw.val_y.numpy()).mean())
        assert accuracy == pytest.approx(recorded, abs=1.5 / len(raw.val_y))


@pytest.mark.slow
def test_an_openvino_int8_search_exports_its_ir(tmp_path):
    args = [*tiny_search(tmp_path, "ov", 2), "--target", "openvino-int8"]
    assert main(args) == 0
    trials = pd.read_csv(tmp_path / "runs" / "ov" / "trials.csv")
    assert (trials["state"] == "COMPLETE").all() and trials["accuracy_fp32"].notna().all()
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "runs" / "ov"), "-o", str(bundle)]) == 0
    assert (bundle / "student.int8.xml").is_file() and (bundle / "student.int8.bin").is_file()


@pytest.mark.slow
def test_export_refuses_an_int8_model_whose_accuracy_moved(tmp_path, monkeypatch):
    from autokd.workflows import export

    assert main([*tiny_search(tmp_path, "moved", 1), "--target", "onnxruntime-int8"]) == 0
    monkeypatch.setattr(export, "DEPLOYED_TOLERANCE", -1.0)  # any difference is too much
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "runs" / "moved"), "-o", str(bundle)]) == 2
    assert not bundle.exists()


def test_the_openvino_performance_hint_is_the_targets_and_only_openvino_takes_one(tmp_path):
    assert load_target("openvino").performance_hint == "latency"  # the default, and the file's
    assert load_target("cpu").performance_hint is None
    (tmp_path / "ov.yaml").write_text("backend: openvino\nperformance_hint: throughput\n")
    throughput = load_target(tmp_path / "ov.yaml")
    assert throughput.performance_hint == "throughput"
    from autokd.measure.metrics import machine_fingerprint

    latency_key = machine_fingerprint(load_target("openvino"))
    assert machine_fingerprint(throughput) != latency_key  # timed apart, cached apart
    assert "performance_hint" not in machine_fingerprint(load_target("onnxruntime"))
    for text, message in (
        ("backend: openvino\nperformance_hint: fastest\n", "must be one of latency, throughput"),
        ("backend: onnxruntime\nperformance_hint: latency\n", "backend 'onnxruntime' takes none"),
    ):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_target(tmp_path / "bad.yaml")


PLUGIN_HINTS = """
import torch
from autokd.measure.openvino import compile_cpu, to_openvino
converted = to_openvino(torch.nn.Conv2d(1, 4, 3).eval(), torch.randn(1, 1, 16, 16))
for hint in ("latency", "throughput"):
    print(str(compile_cpu(converted, 1, hint).get_property("PERFORMANCE_HINT")).lower())
"""


def test_the_plugin_compiles_with_the_targets_hint():
    pytest.importorskip("openvino")
    # in a process of its own, as a search's worker compiles: OpenVINO's plugin stays loaded
    done = subprocess.run([sys.executable, "-c", PLUGIN_HINTS], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    said = done.stdout.split()
    assert said[0].endswith("latency") and said[1].endswith("throughput")
