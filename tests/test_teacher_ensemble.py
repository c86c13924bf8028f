"""Several teachers as one, a vision transformer teaching CNN students, and a teacher without
feature maps (the search keeps the logit terms)."""

from __future__ import annotations

import json

import pytest
import torch

from autokd.cli import main
from autokd.errors import AutoKDError
from autokd.records.folder import RunFolder, load_study
from autokd.teachers import prepare_teacher
from autokd.teachers.ensemble import parse_teacher_spec
from autokd.teachers.outputs import TeacherOutputs, feature_indices, run_teacher
from autokd.teachers.timm import transformer_patch_size
from tests.helpers import write_space

FAST = ["--teacher-epochs", "2", "--epochs", "1", "--workers", "1", "--pruner", "none", "--quiet"]


def _search(tmp_path, name, *args):
    runs, reports = str(tmp_path / "runs"), str(tmp_path / "reports")
    return main(["search", "--name", name, "--runs-dir", runs, "--reports-dir", reports, *FAST,
                 *args])  # fmt: skip


def test_a_teacher_list_parses_names_and_weights():
    assert parse_teacher_spec("resnet18") == [("resnet18", 1.0)]
    assert parse_teacher_spec("resnet18, resnet34:0.5") == [("resnet18", 1.0), ("resnet34", 0.5)]
    for bad in ("resnet18,", "resnet18:-1", "resnet18:x", ":2", "a:nan"):
        with pytest.raises(AutoKDError, match="optional positive weight after a colon"):
            parse_teacher_spec(bad)


@pytest.mark.parametrize(("side", "patch"), [(224, 16), (32, 4), (28, 4), (16, 2), (8, 1), (9, 1)])
def test_a_transformer_gets_patches_that_suit_the_image(side, patch):
    assert transformer_patch_size(side) == patch


@pytest.mark.slow
def test_an_ensemble_averages_logits_and_takes_features_from_the_first(settings, digits):
    ensemble = prepare_teacher(
        "test_resnet,test_vit:0.5", digits, epochs=1, progress=False, settings=settings
    )
    resnet, vit = (m.model for m in ensemble.members)
    assert [m.name for m in ensemble.members] == ["test_resnet", "test_vit"]
    # each member trained and cached on its own: preparing one alone finds it in the cache
    assert (
        prepare_teacher("test_vit", digits, epochs=1, progress=False, settings=settings).source
        == "cache"
    )
    x = digits.val_x[:4]
    logits, features = run_teacher(ensemble.model, x)
    expected = (2 * resnet(x) + vit(x)) / 3
    assert torch.allclose(logits, expected, atol=1e-5)
    _, resnet_features = run_teacher(resnet, x)
    assert [f.shape for f in features] == [f.shape for f in resnet_features]
    assert ensemble.summary()["members"][1]["name"] == "test_vit"
    assert 0.0 <= ensemble.accuracy <= 1.0


def test_a_vision_transformer_gives_token_grids_as_feature_levels(settings, digits):
    vit = prepare_teacher("test_vit", digits, epochs=1, progress=False, settings=settings).model
    assert vit.patch_embed.patch_size == (2, 2)  # 16 x 16 digits: 8 x 8 tokens
    _, features = run_teacher(vit, digits.val_x[:2])
    indices = feature_indices(vit)
    assert len(features) == (len(vit.blocks) if indices is None else len(indices))
    assert all(f.shape[-2:] == (8, 8) for f in features)


@pytest.mark.slow
def test_a_vit_and_an_ensemble_teach_cnn_students_end_to_end(tmp_path):
    space = write_space(tmp_path, extra_distill="feature_loss: {choices: [fitnets, at]}")
    assert _search(tmp_path, "vit", "--teacher", "test_vit", "--space", str(space),
                   "--budget", "3") == 0  # fmt: skip
    summary = json.loads((tmp_path / "runs/vit/summary.json").read_text())
    assert summary["teacher"]["name"] == "test_vit"
    assert _search(tmp_path, "pair", "--teacher", "test_resnet", "--teacher", "test_vit:0.5",
                   "--space", str(space), "--budget", "2") == 0  # fmt: skip
    run = tmp_path / "runs" / "pair"
    teacher = json.loads((run / "summary.json").read_text())["teacher"]
    assert teacher["name"] == "test_resnet,test_vit:0.5" and len(teacher["members"]) == 2
    bundle = tmp_path / "bundle"
    assert main(["export", str(run), "--pick", "knee", "-o", str(bundle)]) == 0
    out = tmp_path / "trained"
    assert main(["train", str(bundle), "--epochs", "1", "--quiet", "-o", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["kd"] is True  # the ensemble, found again


def test_without_teacher_feature_maps_the_search_keeps_the_logit_terms(
    tmp_path, monkeypatch, capsys
):
    import autokd.study.controller

    real = autokd.study.controller.teacher_outputs

    def logits_only(teacher, data, **options):
        outputs, cached = real(teacher, data, **options)
        return TeacherOutputs(outputs.logits, []), cached

    monkeypatch.setattr(autokd.study.controller, "teacher_outputs", logits_only)
    space = write_space(tmp_path, extra_distill="feature_loss: fitnets")
    assert _search(tmp_path, "nofeat", "--teacher", "test_resnet", "--space", str(space),
                   "--budget", "2") == 0  # fmt: skip
    assert "gives no feature maps" in capsys.readouterr().err
    study = load_study(RunFolder(tmp_path / "runs" / "nofeat"))
    for trial in study.get_trials():
        assert trial.state.name == "COMPLETE"
        assert trial.user_attrs["kd"]["feature_loss"] == "none"
