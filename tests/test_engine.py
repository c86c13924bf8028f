import dataclasses

import pytest
import torch

from autokd.distill.config import KDConfig, TrainConfig
from autokd.distill.engine import evaluate, fit, warmup_cosine
from autokd.students import build_student
from autokd.students.cnn import StageConfig, StudentConfig
from autokd.teachers.outputs import LiveTeacher


def small_student(digits, stages=2):
    config = StudentConfig(
        "cnn",
        digits.channels,
        digits.classes,
        digits.input_size,
        8,
        tuple(StageConfig(1, 16, 3, 1, 1 if i == 0 else 2) for i in range(stages)),
    )
    return build_student(config)


def test_warmup_then_cosine_to_zero():
    factors = [warmup_cosine(step, 100, 10) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0)
    assert factors[55] == pytest.approx(0.5, abs=0.02)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))
    assert factors[-1] < 0.01


class CountingTeacher:
    """Wraps cached outputs and counts lookups; the teacher model itself must never run."""

    def __init__(self, outputs):
        self.outputs, self.calls = outputs, 0
        self.feature_shapes = outputs.feature_shapes

    def __call__(self, index, x, levels):
        self.calls += 1
        return self.outputs(index, x, levels)


def test_distillation_uses_cached_outputs_and_never_runs_the_teacher(
    digits, tiny_teacher, tiny_outputs, monkeypatch
):
    runs = []  # every pass of the teacher: what a live teacher does on each batch
    real = tiny_teacher.model.forward_intermediates
    monkeypatch.setattr(
        tiny_teacher.model,
        "forward_intermediates",
        lambda *a, **k: runs.append(1) or real(*a, **k),
    )
    signal = CountingTeacher(tiny_outputs)
    kd = KDConfig(temperature=4.0, alpha=0.5, feature_weights=(0.5, 1.0))
    epochs = []
    torch.manual_seed(0)  # the student's initialisation: the accuracy below depends on it
    result = fit(
        small_student(digits),
        digits,
        TrainConfig(epochs=2, lr=0.01),
        kd=kd,
        teacher=signal,
        callbacks=[epochs.append],
    )
    assert runs == []
    batches = len(range(0, len(digits.train_y), 64))
    assert signal.calls == 2 * batches
    # the same count sees a teacher that does run: the live one, once per batch
    live = LiveTeacher(tiny_teacher.model, digits.input_shape)
    fit(small_student(digits), digits, TrainConfig(epochs=1, lr=0.01), kd=kd, teacher=live)
    assert len(runs) == 1 + batches  # (one pass to learn its feature shapes)
    assert [e.epoch for e in epochs] == [1, 2] and result.epochs_run == 2
    assert result.val_accuracy > 0.25  # well above chance (0.1), even from a 1-epoch teacher
    assert result.best_val_accuracy >= result.val_accuracy and not result.diverged


def test_training_is_reproducible_for_a_seed(digits, tiny_outputs):
    kd = KDConfig(temperature=2.0, alpha=0.3, feature_weights=(0.0, 1.0))
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # the student's initialisation
        model = small_student(digits)
        fit(model, digits, TrainConfig(epochs=1, lr=0.01, seed=7), kd=kd, teacher=tiny_outputs)
        runs.append(model(digits.val_x[:4]).detach())
    assert torch.allclose(runs[0], runs[1])


def test_label_only_training_needs_no_teacher(digits):
    result = fit(small_student(digits), digits, TrainConfig(epochs=1, lr=0.01))
    assert result.epochs_run == 1 and 0.0 <= result.val_accuracy <= 1.0


def test_a_diverging_run_stops_and_says_so(digits, tiny_outputs):
    bad = dataclasses.replace(TrainConfig(epochs=3, lr=0.01), grad_clip=float("inf"))
    kd = KDConfig(temperature=float("nan"), alpha=1.0, feature_weights=(0.0, 0.0))
    result = fit(small_student(digits), digits, bad, kd=kd, teacher=tiny_outputs)
    assert result.diverged and result.epochs_run == 1


def test_kd_settings_without_a_teacher_are_an_error(digits):
    with pytest.raises(ValueError, match="without a teacher"):
        fit(
            small_student(digits),
            digits,
            TrainConfig(epochs=1, lr=0.01),
            kd=KDConfig(1.0, 0.5, (0.0, 0.0)),
        )


def test_evaluate_counts_correct_predictions():
    model = torch.nn.Identity()
    x = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert evaluate(model, x, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


@pytest.mark.slow
def test_a_last_batch_of_one_image_trains_with_feature_distillation(digits, tiny_outputs):
    assert len(digits.train_y) % 4 == 1  # 1,437 images: batches of 4 leave one over
    kd = KDConfig(temperature=2.0, alpha=0.5, feature_weights=(1.0, 1.0))
    result = fit(
        small_student(digits),
        digits,
        TrainConfig(epochs=1, lr=0.01, batch_size=4),
        kd=kd,
        teacher=tiny_outputs,
    )
    assert result.epochs_run == 1 and not result.diverged


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_at_the_next_epoch_and_ends_the_same(
    digits, tiny_outputs, tmp_path
):
    kd = KDConfig(temperature=2.0, alpha=0.5, feature_weights=(0.0, 1.0))
    schedule = TrainConfig(epochs=3, lr=0.01, seed=3)

    def fresh():
        torch.manual_seed(0)
        return small_student(digits)

    straight = fresh()
    expected = fit(straight, digits, schedule, kd=kd, teacher=tiny_outputs)

    def stop_after_first(report):
        if report.epoch == 1:
            raise Interrupt

    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):
        fit(
            fresh(),
            digits,
            schedule,
            kd=kd,
            teacher=tiny_outputs,
            checkpoint=checkpoint,
            callbacks=[stop_after_first],
        )
    resumed_epochs = []
    resumed_model = fresh()
    record = [lambda report: resumed_epochs.append(report.epoch)]
    result = fit(
        resumed_model,
        digits,
        schedule,
        kd=kd,
        teacher=tiny_outputs,
        checkpoint=checkpoint,
        callbacks=record,
    )
    assert resumed_epochs == [2, 3]
    assert result.epochs_run == 3
    assert [h.val_accuracy for h in result.history] == [h.val_accuracy for h in expected.history]
    for a, b in zip(
        resumed_model.state_dict().values(), straight.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_a_checkpoint_of_other_settings_is_refused(digits, tiny_outputs, tmp_path):
    from autokd.errors import AutoKDError

    checkpoint = tmp_path / "checkpoint.pt"
    fit(small_student(digits), digits, TrainConfig(epochs=1, lr=0.01), checkpoint=checkpoint)
    with pytest.raises(AutoKDError, match="other training settings"):
        fit(small_student(digits), digits, TrainConfig(epochs=2, lr=0.01), checkpoint=checkpoint)


def test_augmented_distillation_needs_a_live_teacher(digits, tiny_teacher, tiny_outputs):
    from autokd.teachers.outputs import LiveTeacher

    schedule = TrainConfig(epochs=1, lr=0.01, augment=True)
    kd = KDConfig(temperature=2.0, alpha=0.5, feature_weights=(0.0, 1.0))
    with pytest.raises(ValueError, match="needs a live teacher"):
        fit(small_student(digits), digits, schedule, kd=kd, teacher=tiny_outputs)
    live = LiveTeacher(tiny_teacher.model, digits.input_shape)
    result = fit(small_student(digits), digits, schedule, kd=kd, teacher=live)
    assert result.epochs_run == 1 and not result.diverged


def test_the_teacher_trains_on_augmented_views(digits, monkeypatch, tmp_path):
    import dataclasses as dc

    from autokd.runtime.settings import Settings
    from autokd.teachers import prepare_teacher

    fresh = Settings(cache_dir=tmp_path)  # a fresh cache: really train
    calls = []

    def counting_shift(x, generator):
        calls.append(len(x))
        return x

    data = dc.replace(digits, augment=counting_shift)
    prepare_teacher("test_resnet", data, epochs=1, progress=False, settings=fresh)
    assert sum(calls) == len(digits.train_y)  # every training image, once per epoch


def test_a_training_gives_back_the_threads_the_watch_dropped(digits, monkeypatch):
    """A thread dropped because other programs kept it waiting lasts as long as the training it
    happened in: the next trial, measurement or retraining in the process starts afresh."""
    from autokd.runtime.cores import ThreadWatch

    class Dropping(ThreadWatch):
        def check(self):
            torch.set_num_threads(1)

    monkeypatch.setattr("autokd.distill.engine.ThreadWatch", Dropping)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = fit(small_student(digits), digits, TrainConfig(epochs=1, lr=0.01))
        assert result.history[-1].threads == 1  # what the epoch ran on, for the progress bar
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
