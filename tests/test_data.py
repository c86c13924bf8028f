import pytest
import torch

from autokd.data import iterate_batches, list_datasets, load_data
from autokd.errors import UnknownNameError


def test_digits_bundle_carries_shapes_and_a_stratified_split(digits):
    assert "digits" in list_datasets()
    assert (digits.channels, digits.classes, digits.input_size) == (1, 10, 16)
    assert digits.train_x.shape == (1437, 1, 16, 16) and digits.val_x.shape == (360, 1, 16, 16)
    assert digits.train_y.dtype == torch.int64
    train_share = torch.bincount(digits.train_y) / len(digits.train_y)
    val_share = torch.bincount(digits.val_y) / len(digits.val_y)
    assert torch.allclose(train_share, val_share, atol=0.01)  # stratified
    # normalised with training statistics
    assert digits.train_x.pixels.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert digits.train_x.pixels.std().item() == pytest.approx(1.0, abs=1e-3)


def test_the_split_is_fixed_by_the_seed(digits):
    again = load_data("digits", seed=0)
    assert torch.equal(again.val_y, digits.val_y) and again.key == digits.key
    other = load_data("digits", seed=1)
    assert not torch.equal(other.val_y, digits.val_y) and other.key != digits.key


def test_input_size_override_resizes_and_changes_the_key(digits):
    bigger = load_data("digits", input_size=32)
    assert bigger.train_x.shape[-2:] == (32, 32) and bigger.key != digits.key


def test_unknown_data_set_names_the_valid_ones():
    with pytest.raises(UnknownNameError, match="unknown data set 'digit' .*did you mean 'digits'"):
        load_data("digit")


def test_batches_cover_every_index_once():
    batches = iterate_batches(10, 4, generator=torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    assert torch.cat(iterate_batches(5, 2)).tolist() == [0, 1, 2, 3, 4]


def test_a_last_batch_of_one_joins_the_previous_one():
    assert [len(b) for b in iterate_batches(9, 4)] == [4, 5]
    assert [len(b) for b in iterate_batches(1, 4)] == [1]


def test_random_shift_moves_whole_images_by_at_most_pad_pixels():
    from autokd.data import random_shift

    x = torch.zeros(50, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0  # a centred 2x2 blob
    shifted = random_shift(x, torch.Generator().manual_seed(0), pad=2)
    assert shifted.shape == x.shape and torch.equal(
        shifted.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3))
    )
    rows = shifted.sum(dim=(1, 3)).argmax(dim=1)  # first row of the blob, per image
    assert set(rows.tolist()) <= {1, 2, 3, 4, 5} and len(set(rows.tolist())) > 1


def test_digits_come_with_an_augmentation(digits):
    assert digits.augment is not None


def test_crop_and_flip_keeps_shapes_and_mirrors_about_half():
    from autokd.data.augment import crop_and_flip

    x = torch.zeros(400, 3, 16, 16)
    x[..., :, :8] = 1.0  # left half bright
    views = crop_and_flip(x, torch.Generator().manual_seed(0))
    assert views.shape == x.shape
    mirrored = (views[..., :, 12:].mean(dim=(1, 2, 3)) > 0.5).float().mean()
    assert 0.35 < mirrored < 0.65


def test_the_crop_flip_policy_mirrors_some_images_and_shift_none():
    from autokd.data.augment import POLICIES

    x = torch.zeros(64, 3, 16, 16)
    x[..., 6:10, 0:3] = 1.0  # a bar on the left edge: left and right tell flipped views apart
    generator = torch.Generator().manual_seed(0)
    flipped = POLICIES["crop-flip"](x, generator)[..., :, 8:].sum(dim=(1, 2, 3)) > 0
    assert 0 < flipped.sum() < len(x)  # some mirrored, some not
    shifted = POLICIES["shift"](x, generator)[..., :, 8:].sum(dim=(1, 2, 3)) > 0
    assert not shifted.any()  # shifts move the bar by two pixels at most: never to the right
    assert POLICIES["none"] is None


def test_named_data_sets_keep_their_own_views_and_keys(digits):
    from autokd.data.augment import crop_and_flip, list_augment_policies, random_shift

    assert list_augment_policies()[0] == "auto"  # the default first
    assert digits.augment is random_shift and digits.augment_policy == "shift"
    flipped = load_data("digits", augment_policy="crop-flip")
    assert flipped.augment is crop_and_flip and flipped.key != digits.key
    assert load_data("digits", augment_policy="shift").key == digits.key  # its own, by name


def test_an_unknown_augment_policy_lists_the_valid_ones():
    message = "unknown augment policy 'flip' .*; valid: auto, crop-flip, none, shift$"
    with pytest.raises(UnknownNameError, match=message):
        load_data("digits", augment_policy="flip")


def test_a_run_from_before_policies_prepares_its_data_with_its_views(settings):
    from pathlib import Path

    from autokd.data import load_identified_data
    from autokd.records.folder import RunFolder

    identity = RunFolder(Path(__file__).parent / "data" / "run-before-plugins").data_identity()
    assert identity.augment_policy is None  # its summary has no such field
    data = load_identified_data(identity, settings=settings)  # its key checked: the same
    assert data.augment_policy == "shift" and data.key == identity.key
