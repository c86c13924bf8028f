"""A teacher's training cost, estimated before it trains and bounded (`autokd.teachers.cost`)."""

import pytest
from torch import nn

from autokd.cli import main
from autokd.errors import AutoKDError
from autokd.runtime.device import Execution
from autokd.teachers import cost as teacher_cost
from autokd.teachers.cost import TeacherCost, check_teacher_cost, estimate_teacher_cost
from tests.conftest import TINY_TEACHER
from tests.helpers import tiny_search


def test_memory_is_four_copies_of_the_weights_and_two_of_a_batchs_outputs(digits):
    side = digits.input_size
    model = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 10), nn.ReLU())
    cost = estimate_teacher_cost(
        model, "linear", digits, epochs=3, batch_size=16, execution=Execution()
    )
    params = side * side * 10 + 10
    outputs = side * side + 10 + 10  # per image: Flatten, Linear, ReLU
    assert cost.memory_bytes == 4 * (4 * params + 2 * outputs * 16)
    assert cost.epoch_seconds > 0 and cost.total_seconds == pytest.approx(3 * cost.epoch_seconds)
    assert cost.timed_batch == 16  # a step this short is timed at the real batch size


def test_a_slow_step_is_timed_on_few_images_and_scaled(digits, monkeypatch):
    timed = []

    def step(model, optimizer, data, images, execution):  # one second per image
        timed.append(images)
        return float(images)

    monkeypatch.setattr(teacher_cost, "_step_seconds", step)
    model = nn.Sequential(nn.Flatten(), nn.Linear(digits.input_size**2, 10))
    cost = estimate_teacher_cost(
        model, "slow", digits, epochs=1, batch_size=64, execution=Execution()
    )
    assert timed == [2]  # 2 s for 2 images is long enough to scale: nothing larger is tried
    steps = -(-len(digits.train_y) // 64)
    assert cost.epoch_seconds == pytest.approx(steps * 64 + len(digits.val_y) / 3)


def _cost(seconds: float, memory: int = 1 << 20) -> TeacherCost:
    return TeacherCost("vit", 10, seconds / 10, memory, "cpu, fp32, 2 threads", 2)


def test_a_teacher_past_the_bound_is_refused_unless_the_bound_is_lifted():
    refused = r"about 2\.0 h \(12 min per epoch x 10 epochs.*past --teacher-max-minutes 60"
    with pytest.raises(AutoKDError, match=refused):
        check_teacher_cost(_cost(7200), max_minutes=60, device="cpu")
    check_teacher_cost(_cost(7200), max_minutes=0, device="cpu")
    check_teacher_cost(_cost(7200), max_minutes=None, device="cpu")
    check_teacher_cost(_cost(3000), max_minutes=60, device="cpu")


def test_a_teacher_that_cannot_fit_in_memory_is_refused_whatever_the_bound():
    with pytest.raises(AutoKDError, match=r"needs about .* GiB of memory to train on cpu"):
        check_teacher_cost(_cost(1, memory=1 << 50), max_minutes=0, device="cpu")


def test_search_says_the_estimate_and_refuses_a_long_teacher_before_it_trains(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("AUTOKD_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached: it trains
    args = [*tiny_search(tmp_path, "long", 1), "--teacher-max-minutes", "0.0001"]
    args.remove("--quiet")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"autokd: teacher {TINY_TEACHER} trains 2 epochs on cpu" in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"autokd: error: teacher {TINY_TEACHER} would train for about")
    assert "--teacher-max-minutes 0.0001" in line
    assert not (tmp_path / "runs" / "long").exists()
    assert not list((tmp_path / "cache").glob("teachers/*.pt"))  # nothing was trained


def test_the_estimate_does_not_change_the_teacher_that_trains(digits, tmp_path, monkeypatch):
    from autokd.runtime.settings import Settings
    from autokd.teachers import timm

    def prepared(cache: str) -> str:
        settings = Settings(cache_dir=tmp_path / cache)
        teacher = timm.prepare_timm_teacher(TINY_TEACHER, digits, epochs=1, progress=False,
                                            settings=settings)  # fmt: skip
        return teacher.digest

    estimated = prepared("with")
    monkeypatch.setattr(timm, "_check_cost", lambda *args, **kwargs: None)
    assert prepared("without") == estimated  # same seed, same weights: the cache key holds
