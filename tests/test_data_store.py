"""Large data sets: 8-bit pixels past the in-memory limit, batches made by DataLoader workers."""

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from autokd.cli import main
from autokd.data import iterate_batches, load_data
from autokd.data.augment import random_shift
from autokd.data.batches import TrainingBatches
from autokd.distill.config import TrainConfig
from autokd.distill.engine import fit
from autokd.errors import AutoKDError
from autokd.runtime.settings import Settings
from tests.helpers import tiny_search
from tests.test_engine import Interrupt, small_student


@pytest.fixture(scope="module")
def compact_digits():
    # 105 kB: digits' float32 images are 1.8 MB
    settings = Settings.from_environment({"AUTOKD_IN_MEMORY_GB": "0.0001"})
    return load_data("digits", seed=0, settings=settings)


def test_past_the_limit_images_are_stored_as_8_bit_pixels(digits, compact_digits):
    assert not digits.train_x.compact and compact_digits.train_x.compact
    assert compact_digits.train_x.pixels.dtype == torch.uint8
    assert compact_digits.train_x.pixels.nbytes * 4 == digits.train_x.pixels.nbytes
    assert compact_digits.key != digits.key  # rounded pixels are other tensors
    assert compact_digits.summary()["storage"].startswith("8-bit pixels, training batches made")


def test_8_bit_batches_are_the_in_memory_ones_up_to_rounding(digits, compact_digits):
    index = torch.tensor([5, 0, 900, 17])
    # rounding moves a pixel by at most half a step of 1/255 (0.006 once normalised), and the
    # statistics of the rounded pixels move a little too
    tolerance = 1.5 * 0.5 / 255 / digits.train_x.std.min().item()
    assert torch.allclose(compact_digits.train_x[index], digits.train_x[index], atol=tolerance)
    assert torch.allclose(compact_digits.val_x[:8], digits.val_x[:8], atol=tolerance)
    assert torch.allclose(compact_digits.train_x.mean, digits.train_x.mean, atol=1e-3)
    assert torch.equal(compact_digits.train_y, digits.train_y)


@pytest.mark.parametrize("workers", ["1", "0"])
def test_workers_deliver_every_batch_in_order_with_repeatable_views(
    compact_digits, digits, workers, monkeypatch
):
    chosen = Settings.from_environment({"AUTOKD_LOADER_WORKERS": workers}).loader_workers
    order = iterate_batches(len(compact_digits.train_y), 256, generator=torch.Generator())
    batches = TrainingBatches(
        compact_digits.train_x, compact_digits.train_y, random_shift, workers=chosen
    )
    assert batches.workers == int(workers)

    def epoch(seed):
        return list(batches.epoch(order, torch.Generator().manual_seed(seed)))

    first, again, other = epoch(1), epoch(1), epoch(2)  # the same workers serve every epoch
    assert all(torch.equal(batch[0], index) for batch, index in zip(first, order, strict=True))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(first, other, strict=True))
    assert all(torch.equal(batch[2], compact_digits.train_y[batch[0]]) for batch in first)
    in_memory = TrainingBatches(digits.train_x, digits.train_y, None, workers=chosen)
    assert in_memory.workers == 0  # sliced in the training process


@pytest.mark.parametrize("workers", ["0", "1"])
def test_training_on_8_bit_data_learns_and_resumes_exactly(compact_digits, tmp_path, workers):
    compact_digits = dataclasses.replace(compact_digits, loader_workers=int(workers))
    recipe = TrainConfig(epochs=2, lr=0.01, seed=3, augment=True)

    def fresh():
        torch.manual_seed(0)
        return small_student(compact_digits)

    straight = fresh()
    result = fit(straight, compact_digits, recipe)
    assert result.val_accuracy > 0.3 and result.data_seconds > 0

    checkpoint = tmp_path / "checkpoint.pt"
    resumed = fresh()
    with pytest.raises(Interrupt):
        fit(resumed, compact_digits, recipe, checkpoint=checkpoint, callbacks=[stop_after_first])
    resumed = fresh()
    fit(resumed, compact_digits, recipe, checkpoint=checkpoint)
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def stop_after_first(report):
    if report.epoch == 1:
        raise Interrupt


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AUTOKD_IN_MEMORY_GB", "lots", "AUTOKD_IN_MEMORY_GB='lots' is not a size in GiB"),
        ("AUTOKD_IN_MEMORY_GB", "nan", "AUTOKD_IN_MEMORY_GB='nan' is not a size in GiB"),
        ("AUTOKD_IN_MEMORY_GB", "1e400", "AUTOKD_IN_MEMORY_GB='1e400' is not a size in GiB"),
        ("AUTOKD_LOADER_WORKERS", "-1", "AUTOKD_LOADER_WORKERS='-1' is not a number of workers"),
        ("AUTOKD_LOADER_WORKERS", "\u00b2", "AUTOKD_LOADER_WORKERS='\u00b2' is not a number"),
    ],
)
def test_a_bad_data_setting_is_one_clear_error(
    variable, value, message, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(AutoKDError, match=re.escape(message)):
        Settings.from_environment()
    assert main(tiny_search(tmp_path, "refused", budget=1)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs" / "refused").exists()


@pytest.mark.slow
def test_a_search_on_data_past_the_limit_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOKD_IN_MEMORY_GB", "0.0001")
    monkeypatch.setenv("AUTOKD_LOADER_WORKERS", "1")
    assert main(tiny_search(tmp_path, "compact", budget=2)) == 0
    summary = json.loads((tmp_path / "runs" / "compact" / "summary.json").read_text())
    assert (
        summary["data"]["storage"]
        == "8-bit pixels, training batches made by 1 DataLoader worker(s)"
    )
    assert summary["trials"]["complete"] == 2


@pytest.mark.parametrize(
    "pixels",
    [
        lambda d: d * 255 / 16,  # floats 0-255
        lambda d: (d * 4000).astype(np.uint16),  # 16-bit counts
        lambda d: d / 8 - 1,  # [-1, 1]
    ],
    ids=["0-255", "uint16", "minus-one-to-one"],
)
def test_npz_values_of_any_range_keep_their_detail_in_8_bits(pixels, tmp_path, monkeypatch):
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(tmp_path / "d.npz", x=pixels(digits.images), y=digits.target)
    in_memory = load_data(f"npz:{tmp_path / 'd.npz'}")
    monkeypatch.setenv("AUTOKD_IN_MEMORY_GB", "0")
    compact = load_data(f"npz:{tmp_path / 'd.npz'}", settings=Settings.from_environment())
    assert compact.train_x.compact and len(compact.train_x.pixels.unique()) == 17  # 0..16
    assert torch.allclose(compact.train_x[:50], in_memory.train_x[:50], atol=0.01)


@pytest.mark.slow
def test_a_run_keeps_its_storage_whatever_the_limit_is_later(tmp_path, monkeypatch, capsys):
    assert main(tiny_search(tmp_path, "kept", budget=1)) == 0
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "runs" / "kept"), "-o", str(bundle)]) == 0
    monkeypatch.setenv("AUTOKD_IN_MEMORY_GB", "0")  # would store new data sets as 8-bit
    assert main(["train", str(bundle), "--epochs", "1", "--quiet"]) == 0
    assert main([*tiny_search(tmp_path, "kept", budget=2)]) == 0  # continued, same data key
    summary = json.loads((tmp_path / "runs" / "kept" / "summary.json").read_text())
    assert summary["data"]["compact"] is False and summary["trials"]["complete"] == 2


@pytest.mark.slow
def test_train_refuses_before_touching_the_output(tmp_path, monkeypatch, capsys):
    assert main(tiny_search(tmp_path, "r", budget=1)) == 0
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "runs" / "r"), "-o", str(bundle)]) == 0
    out = tmp_path / "trained"
    assert main(["train", str(bundle), "--epochs", "1", "-o", str(out), "--quiet"]) == 0
    kept = sorted(p.name for p in out.iterdir())
    capsys.readouterr()
    code = main(["train", str(bundle), "--epochs", "1", "-o", str(out), "--all-images", "--force"])
    assert code == 2 and "already (it had no --subset)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == kept
    missing = str(tmp_path / "no-teacher.pt")
    code = main(["train", str(bundle), "-o", str(out), "--teacher-weights", missing, "--force"])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == kept
