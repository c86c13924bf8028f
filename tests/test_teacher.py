import pytest
import torch

from autokd.errors import AutoKDError, UnknownNameError
from autokd.teachers import check_teacher_name, prepare_teacher
from autokd.teachers.outputs import LiveTeacher, teacher_outputs
from autokd.teachers.timm import create_teacher
from tests.conftest import TINY_TEACHER


def test_teacher_is_created_for_the_datas_channels_and_classes(digits):
    model = create_teacher(TINY_TEACHER, digits)
    assert model(digits.val_x[:2]).shape == (2, 10)


def test_unknown_teacher_suggests_the_closest_timm_name():
    with pytest.raises(UnknownNameError, match="did you mean 'resnet18'"):
        check_teacher_name("resnet81")


def test_trained_teacher_is_cached_and_reused(settings, digits, tiny_teacher):
    assert tiny_teacher.source in {"trained", "cache"}
    assert tiny_teacher.path.is_file() and 0.0 <= tiny_teacher.accuracy <= 1.0
    again = prepare_teacher(
        TINY_TEACHER, digits, epochs=1, seed=0, progress=False, settings=settings
    )
    assert again.source == "cache" and again.digest == tiny_teacher.digest
    assert again.accuracy == tiny_teacher.accuracy


def test_a_checkpoint_file_is_loaded(settings, digits, tiny_teacher, tmp_path):
    path = tmp_path / "teacher.pt"
    torch.save({"model": tiny_teacher.model.state_dict()}, path)  # a common wrapped layout
    loaded = prepare_teacher(TINY_TEACHER, digits, weights=path, progress=False, settings=settings)
    assert loaded.source == "file" and loaded.digest == tiny_teacher.digest


def test_a_checkpoint_for_other_classes_or_channels_is_refused_clearly(settings, digits, tmp_path):
    import timm

    other_classes = timm.create_model(TINY_TEACHER, in_chans=1, num_classes=7)
    torch.save(other_classes.state_dict(), tmp_path / "classes.pt")
    with pytest.raises(AutoKDError, match="has 7 classes but data 'digits' has 10"):
        prepare_teacher(
            TINY_TEACHER, digits, weights=tmp_path / "classes.pt", progress=False, settings=settings
        )
    other_channels = timm.create_model(TINY_TEACHER, in_chans=3, num_classes=10)
    torch.save(other_channels.state_dict(), tmp_path / "channels.pt")
    with pytest.raises(AutoKDError, match="takes 3 input channels but data 'digits' has 1"):
        prepare_teacher(
            TINY_TEACHER,
            digits,
            weights=tmp_path / "channels.pt",
            progress=False,
            settings=settings,
        )


def test_a_checkpoint_of_another_model_or_not_a_checkpoint_is_refused(settings, digits, tmp_path):
    import timm

    torch.save(
        timm.create_model("resnet10t", in_chans=1, num_classes=10).state_dict(),
        tmp_path / "other.pt",
    )
    with pytest.raises(AutoKDError, match="does not fit timm model"):
        prepare_teacher(
            TINY_TEACHER, digits, weights=tmp_path / "other.pt", progress=False, settings=settings
        )
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(AutoKDError, match="is not a readable PyTorch checkpoint"):
        prepare_teacher(
            TINY_TEACHER, digits, weights=tmp_path / "junk.pt", progress=False, settings=settings
        )


def test_a_whole_pickled_model_is_refused_in_one_line_asking_for_a_state_dict(
    settings, digits, tmp_path
):
    import argparse

    model = create_teacher(TINY_TEACHER, digits)
    torch.save(model, tmp_path / "whole.pt")  # torch.save(model): refused by weights_only
    torch.save(model, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save({"state_dict": model.state_dict(), "args": argparse.Namespace()}, tmp_path / "a.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    expected = {
        "whole.pt": "holds a whole pickled model, not a state_dict",
        "legacy.pt": "holds a whole pickled model, not a state_dict",
        "a.pt": "pickles Python objects besides tensors (argparse.Namespace)",
        "junk.pt": "is not a readable PyTorch checkpoint (Unsupported operand 110)",
    }
    for file, reason in expected.items():
        with pytest.raises(AutoKDError) as refused:
            prepare_teacher(
                TINY_TEACHER, digits, weights=tmp_path / file, progress=False, settings=settings
            )
        message = str(refused.value)
        assert f"'{tmp_path / file}' {reason}" in message
        assert f"save `model.state_dict()` of the timm model '{TINY_TEACHER}'" in message
        assert "\n" not in message and "\x1b" not in message and "weights_only" not in message


def test_offline_pretrained_download_says_what_to_do(digits, monkeypatch):
    import timm

    class LocalEntryNotFoundError(Exception):
        pass

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("offline")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(AutoKDError, match="--teacher-weights PATH"):
        create_teacher("resnet18", digits, pretrained=True)


def test_cached_outputs_equal_a_live_teacher_and_load_from_disk(
    settings, digits, tiny_teacher, tiny_outputs
):
    live = LiveTeacher(tiny_teacher.model, digits.input_shape)
    assert live.feature_shapes == tiny_outputs.feature_shapes
    index = torch.tensor([5, 0, 100])
    levels = list(range(len(tiny_outputs.features)))
    cached_logits, cached_features = tiny_outputs(index, digits.train_x[index], levels)
    live_logits, live_features = live(index, digits.train_x[index], levels)
    assert torch.allclose(cached_logits, live_logits, atol=1e-5)
    for cached, fresh in zip(cached_features, live_features, strict=True):
        assert torch.allclose(cached, fresh, atol=1e-5)
    again, hit = teacher_outputs(tiny_teacher, digits, settings=settings)
    assert hit and torch.equal(again.logits, tiny_outputs.logits)


def test_teacher_outputs_cover_the_training_split(digits, tiny_outputs):
    assert tiny_outputs.logits.shape == (len(digits.train_y), digits.classes)
    assert all(f.shape[0] == len(digits.train_y) and f.ndim == 4 for f in tiny_outputs.features)
