"""Choosing, exporting and fully training a student; `autokd validate`."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from autokd.cli import main
from autokd.distill.config import KDConfig
from autokd.errors import AutoKDError
from autokd.records.folder import RunFolder
from autokd.students import build_student
from autokd.study.picks import knee_position
from autokd.workflows.bundle import BundleDescription, load_bundle
from autokd.workflows.export import choose_trial
from tests.helpers import snapshot, tiny_search

FRAME = pd.DataFrame(
    {
        "number": [0, 1, 2, 3, 4, 5],
        "state": ["COMPLETE"] * 5 + ["FAIL"],
        "accuracy": [0.80, 0.95, 0.97, 0.90, 0.99, None],
        "latency_ms": [0.10, 0.12, 0.20, 0.30, 0.50, None],
        "is_pareto": [True, True, True, False, True, False],
    }
)


def test_the_knee_is_farthest_above_the_line_from_fastest_to_most_accurate():
    latency = np.array([0.10, 0.12, 0.20, 0.50])
    accuracy = np.array([0.80, 0.95, 0.97, 0.99])
    assert knee_position(accuracy, latency) == 1  # most of the accuracy for little latency
    assert knee_position(accuracy[:2], latency[:2]) == 1  # two students: the more accurate one


def test_picks_and_the_latency_limit():
    assert choose_trial(FRAME, pick="knee")["number"] == 1
    assert choose_trial(FRAME, pick="fastest")["number"] == 0
    assert choose_trial(FRAME, pick="best-accuracy")["number"] == 4
    assert choose_trial(FRAME, pick="best-accuracy", max_latency_ms=0.25)["number"] == 2
    assert choose_trial(FRAME, trial=3)["number"] == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trial": 9}, "trial 9 does not exist; the run has trials 0 to 5"),
        ({"trial": 5}, "trial 5 is fail, not complete"),
        ({"max_latency_ms": 0.05}, "no Pareto student is as fast as 0.05 ms; the fastest takes"),
    ],
)
def test_choosing_explains_what_is_wrong(kwargs, message):
    with pytest.raises(AutoKDError, match=message):
        choose_trial(FRAME, **kwargs)


def test_a_run_without_complete_trials_has_nothing_to_export():
    with pytest.raises(AutoKDError, match="no complete trial"):
        choose_trial(FRAME[FRAME["state"] == "FAIL"])


@pytest.fixture(scope="module")
def run_and_bundle(tmp_path_factory):
    work = tmp_path_factory.mktemp("export")
    assert main(tiny_search(work, "src", 3)) == 0
    bundle = work / "bundle"
    assert (
        main(["export", str(work / "runs" / "src"), "--pick", "best-accuracy", "-o", str(bundle)])
        == 0
    )
    return work, bundle


@pytest.mark.slow
def test_only_the_front_keeps_its_weights(run_and_bundle):
    work, _ = run_and_bundle
    run = RunFolder(work / "runs" / "src")
    trials = pd.read_csv(run.trials_csv)
    kept = {int(p.stem.split("-")[1]) for p in run.weights_dir.glob("trial-*.pt")}
    assert kept == set(trials.loc[trials["is_pareto"], "number"])


def test_the_bundle_rebuilds_the_same_model(run_and_bundle):
    work, bundle_path = run_and_bundle
    bundle = load_bundle(bundle_path)
    for name in ("student.yaml", "student.pt", "student.onnx", "student.torchscript.pt"):
        assert (bundle_path / name).is_file()
    trial = bundle.description.source.trial
    original = build_student(bundle.student).eval()
    original.load_state_dict(torch.load(RunFolder(work / "runs" / "src").weights_path(trial)))
    rebuilt = build_student(bundle.student).eval()
    rebuilt.load_state_dict(bundle.weights())
    x = torch.randn(5, 1, 16, 16)
    assert torch.equal(rebuilt(x), original(x))
    description = yaml.safe_load((bundle_path / "student.yaml").read_text())
    assert description["teacher"]["name"] == "test_resnet"
    assert description["teacher"]["weights_digest"] == bundle.teacher.weights_digest
    assert description["metrics"]["flops"] > 0 and description["metrics"]["latency_protocol"]
    assert description["data"]["name"] == "digits" and description["target"]["name"] == "cpu"
    assert set(description["distill"]) == set(KDConfig.__dataclass_fields__)
    assert KDConfig.from_dict(description["distill"]) == bundle.kd  # train reproduces it
    # the file and the dataclass say the same: written from one, read into one
    assert BundleDescription.from_dict(description) == bundle.description
    assert bundle.description.to_dict() == description


def test_onnx_and_torchscript_match_pytorch(run_and_bundle):
    import onnxruntime as ort

    _, bundle_path = run_and_bundle
    bundle = load_bundle(bundle_path)
    model = build_student(bundle.student).eval()
    model.load_state_dict(bundle.weights())
    session = ort.InferenceSession(
        str(bundle_path / "student.onnx"), providers=["CPUExecutionProvider"]
    )
    scripted = torch.jit.load(str(bundle_path / "student.torchscript.pt"))
    for batch in (1, 3, 8):  # the batch axis is dynamic
        x = torch.randn(batch, 1, 16, 16)
        with torch.no_grad():
            expected = model(x).numpy()
            assert np.abs(session.run(None, {"input": x.numpy()})[0] - expected).max() <= 1e-4
            assert np.abs(scripted(x).numpy() - expected).max() <= 1e-4


@pytest.mark.slow
def test_export_refuses_a_non_empty_folder_unless_forced(run_and_bundle, capsys):
    work, bundle = run_and_bundle
    before = snapshot(bundle)
    assert main(["export", str(work / "runs" / "src"), "-o", str(bundle)]) == 2
    assert "exists and is not empty; pass --force" in capsys.readouterr().err
    assert snapshot(bundle) == before
    again = work / "again"
    assert main(["export", str(work / "runs" / "src"), "--pick", "fastest", "-o", str(again)]) == 0
    assert (
        main(
            ["export", str(work / "runs" / "src"), "--pick", "fastest", "-o", str(again), "--force"]
        )
        == 0
    )


def test_a_trial_without_kept_weights_cannot_be_exported(run_and_bundle, capsys, tmp_path):
    import shutil

    work, _ = run_and_bundle
    copy = tmp_path / "copy"
    shutil.copytree(work / "runs" / "src", copy)
    trial = int(pd.read_csv(copy / "trials.csv")["number"].iloc[0])
    RunFolder(copy).weights_path(trial).unlink(missing_ok=True)  # as a dominated trial's are
    code = main(["export", str(copy), "--trial", str(trial), "-o", str(tmp_path / "out")])
    assert code == 2 and f"the weights of trial {trial} were not kept" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_train_with_and_without_kd_writes_result_json(run_and_bundle):
    _, bundle = run_and_bundle
    for flags, kd in (([], True), (["--no-kd"], False), (["--augment"], True)):
        out = bundle.parent / f"train-{kd}-{len(flags)}"
        assert main(["train", str(bundle), "--epochs", "1", "-o", str(out), "--quiet", *flags]) == 0
        result = json.loads((out / "result.json").read_text())
        assert result["kd"] is kd and result["epochs"] == 1
        assert result["augment"] is (flags == ["--augment"])
        assert 0 <= result["final_val_accuracy"] <= 1 and result["latency_ms"] > 0
        assert result["flops"] > 0 and (out / "student.pt").is_file()
        assert (out / "checkpoint.pt").is_file()


@pytest.mark.slow
def test_a_student_searched_on_a_subset_trains_on_every_image_when_asked(tmp_path):
    # (300 images are 5 batches an epoch: the tiny teacher needs more epochs to beat chance)
    search = [*tiny_search(tmp_path, "part", 1), "--subset", "300", "--teacher-epochs", "8"]
    assert main(search) == 0
    bundle = tmp_path / "bundle"
    assert (
        main(["export", str(tmp_path / "runs" / "part"), "--pick", "knee", "-o", str(bundle)]) == 0
    )
    sizes = {}
    for flags in ([], ["--all-images"]):
        assert main(["train", str(bundle), "--epochs", "1", "--quiet", *flags]) == 0
        folder = bundle / f"train-kd{'-all' if flags else ''}-e1-s0"
        sizes[bool(flags)] = json.loads((folder / "result.json").read_text())["train_images"]
    assert sizes == {False: 300, True: 1437}


def test_train_resumes_an_interrupted_run_at_the_next_epoch(run_and_bundle, monkeypatch):
    from contextlib import contextmanager

    import autokd
    from autokd.runtime import progress

    _, bundle_path = run_and_bundle
    out = bundle_path.parent / "resumed"
    seen = []

    @contextmanager
    def stop_after_epoch_one(*args, **kwargs):
        def callback(report):
            seen.append(report.epoch)
            if report.epoch == 1:
                raise KeyboardInterrupt

        yield callback

    monkeypatch.setattr(progress, "epoch_bar", stop_after_epoch_one)
    with pytest.raises(KeyboardInterrupt):
        autokd.train(load_bundle(bundle_path), epochs=2, output=out, progress=False)
    result = autokd.train(bundle_path, epochs=2, output=out, resume=True, progress=False)
    assert seen == [1, 2]  # the resumed call trained epoch 2 only
    assert [h.epoch for h in result.history] == [1, 2]


def test_train_refuses_unclear_output_and_broken_bundles(run_and_bundle, capsys, tmp_path):
    _, bundle = run_and_bundle
    out = bundle.parent / "train-True-0"  # written by an earlier test
    assert main(["train", str(bundle), "--epochs", "1", "-o", str(out), "--quiet"]) == 2
    assert "pass --resume to continue its training or --force" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a training")
    assert main(["train", str(bundle), "-o", str(other), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "student.yaml").write_text((bundle / "student.yaml").read_text())
    assert main(["train", str(broken), "--quiet"]) == 2
    assert "has no student.pt; export it again" in capsys.readouterr().err
    assert main(["train", str(bundle), "--qat", "-o", str(tmp_path / "q"), "--quiet"]) == 2
    assert "--qat fine-tunes for a target that quantizes" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


@pytest.mark.slow
def test_validate_stores_tau_and_gains_and_shows_them(run_and_bundle):
    work, _ = run_and_bundle
    run = work / "runs" / "src"
    reports = ["--reports-dir", str(work / "reports")]
    assert main(["validate", str(run), "--top-k", "2", "--epochs", "1", *reports, "--quiet"]) == 0
    result = json.loads((run / "validation.json").read_text())
    assert result["epochs"] == 1 and 1 <= result["students_validated"] <= 2
    for student in result["students"]:
        assert student["kd_gain"] == pytest.approx(
            student["kd_accuracy"] - student["no_kd_accuracy"]
        )
    assert result["kendall_tau"] is None or -1 <= result["kendall_tau"] <= 1
    assert "Validation:" in (work / "reports" / "src.html").read_text()


def test_kendall_tau_by_hand():
    from autokd.workflows.validate import kendall_tau

    assert kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)  # 5 of 6 pairs agree
    assert kendall_tau([1, 1], [1, 2]) is None


def test_validation_spreads_its_students_along_the_front():
    from autokd.workflows.validate import spread_along

    front = pd.DataFrame(
        {
            "number": range(7),
            "latency_ms": [0.7, 0.1, 0.3, 0.2, 0.5, 0.4, 0.6],
            "accuracy": [0.99, 0.8, 0.92, 0.9, 0.96, 0.94, 0.98],
        }
    )
    assert spread_along(front, 3)["number"].tolist() == [1, 5, 0]  # fastest, middle, slowest
    assert spread_along(front, 10)["number"].tolist() == [1, 3, 2, 5, 4, 6, 0]


def test_a_rejected_trial_says_why_it_cannot_be_exported():
    frame = FRAME.assign(rejected_by=[None, None, None, None, None, "params 900 > 500"])
    frame.loc[5, "state"] = "PRUNED"
    with pytest.raises(AutoKDError, match="trial 5 was rejected by the constraints \\(params"):
        choose_trial(frame, trial=5)


@pytest.mark.slow
def test_validate_in_worker_processes_matches_one_process(run_and_bundle, monkeypatch):
    """Retrainings spread over two processes give exactly what one process gives (same seed,
    one thread each), so `--workers` changes the time, not the numbers."""
    work, _ = run_and_bundle
    run = work / "runs" / "src"
    monkeypatch.setenv("AUTOKD_THREADS", "1")
    results = []
    for workers in ("1", "2"):
        args = ["validate", str(run), "--top-k", "2", "--epochs", "1", "--workers", workers]
        assert main([*args, "--reports-dir", str(work / "reports"), "--quiet"]) == 0
        results.append(json.loads((run / "validation.json").read_text()))
    assert [r["workers"] for r in results] == [1, min(2, 2 * results[0]["students_validated"])]
    assert results[0]["students"] == results[1]["students"]


def _write_digit_folders(root, *, classes=("zero", "one", "two"), val_per_class=12):
    """scikit-learn's digits 0-2 as 16x16 grey PNGs in train/ and val/ class folders."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label, name in enumerate(classes):
        images = digits.images[digits.target == label]
        for split, part in (("val", images[:val_per_class]), ("train", images[val_per_class:])):
            (root / split / name).mkdir(parents=True)
            for i, image in enumerate(part):
                pixels = Image.fromarray((image * 255 / 16).astype(np.uint8), "L")
                pixels.resize((16, 16), Image.BILINEAR).save(root / split / name / f"{i}.png")


def _accuracy_outside_autokd(onnx_file, student_yaml, val_folder):
    """What a user does with a bundle and plain onnxruntime: read the recorded preprocessing
    and class names, normalise each raw image, run it and name its class."""
    import onnxruntime as ort
    from PIL import Image

    description = yaml.safe_load(student_yaml.read_text())
    prep, names = description["preprocessing"], description["class_names"]
    mean = np.array(prep["mean"], np.float32).reshape(-1, 1, 1)
    std = np.array(prep["std"], np.float32).reshape(-1, 1, 1)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    right = total = 0
    for path in sorted(val_folder.glob("*/*.png")):
        image = Image.open(path)
        assert image.size == (prep["input_size"],) * 2  # saved at the student's input size
        pixels = np.asarray(image, np.float32)[None] / 255.0  # (C, H, W), [0, 1]
        logits = session.run(None, {"input": ((pixels - mean) / std)[None].astype(np.float32)})
        right += names[int(logits[0].argmax())] == path.parent.name
        total += 1
    return right / total, total


@pytest.mark.slow
def test_a_bundle_runs_on_raw_images_with_only_what_it_records(tmp_path):
    """The exported ONNX file, and the one `autokd train` writes of the trained weights, named
    by class outside autokd, give the accuracies autokd recorded."""
    _write_digit_folders(tmp_path / "digits")
    search = tiny_search(tmp_path, "folder", 2)  # (a small folder: the teacher needs epochs)
    assert main([*search, "--data", f"folder:{tmp_path / 'digits'}", "--teacher-epochs", "10"]) == 0
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "runs" / "folder"), "-o", str(bundle)]) == 0
    description = yaml.safe_load((bundle / "student.yaml").read_text())
    assert description["class_names"] == ["one", "two", "zero"]  # sorted folder names
    val = tmp_path / "digits" / "val"
    accuracy, images = _accuracy_outside_autokd(
        bundle / "student.onnx", bundle / "student.yaml", val
    )
    assert images == 36
    assert accuracy == pytest.approx(description["metrics"]["accuracy"], abs=1.5 / images)

    trained = tmp_path / "trained"
    assert main(["train", str(bundle), "--epochs", "2", "-o", str(trained), "--quiet"]) == 0
    result = json.loads((trained / "result.json").read_text())
    assert set(result["files"].values()) == {"student.pt", "student.onnx", "student.torchscript.pt"}
    assert max(result["parity"].values()) <= 1e-4
    accuracy, _ = _accuracy_outside_autokd(trained / "student.onnx", bundle / "student.yaml", val)
    assert accuracy == pytest.approx(result["final_val_accuracy"], abs=1.5 / images)
