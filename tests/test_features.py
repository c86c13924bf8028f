import pytest
import torch

from autokd.distill.features import (
    FeatureAdapter,
    FeatureDistiller,
    align_spatial,
    teacher_level_for_stage,
)


@pytest.mark.parametrize(
    ("num_stages", "num_levels", "expected"),
    [
        (4, 5, [1, 2, 3, 4]),
        (2, 5, [2, 4]),
        (3, 5, [1, 3, 4]),
        (1, 5, [4]),
        (6, 3, [0, 0, 1, 1, 2, 2]),
    ],
)
def test_student_stages_map_onto_teacher_levels_by_relative_depth(num_stages, num_levels, expected):
    got = [teacher_level_for_stage(s, num_stages, num_levels) for s in range(num_stages)]
    assert got == expected


@pytest.mark.parametrize(("size", "target"), [(8, (4, 4)), (2, (4, 4)), (4, (4, 4)), (5, (1, 1))])
def test_align_spatial_pools_down_and_upsamples(size, target):
    x = torch.randn(2, 3, size, size)
    assert align_spatial(x, target).shape == (2, 3, *target)


def test_align_spatial_pools_by_averaging():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    pooled = align_spatial(x, (2, 2))
    assert pooled[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 4)


def test_adapter_maps_channels_and_space():
    adapter = FeatureAdapter(16, 64)
    assert adapter(torch.randn(2, 16, 8, 8), (4, 4)).shape == (2, 64, 4, 4)


def test_distiller_skips_zero_weights_and_trains_its_adapters():
    teacher_shapes = [(64, 8, 8), (64, 4, 4), (128, 2, 2), (256, 1, 1), (512, 1, 1)]
    distiller = FeatureDistiller([16, 32, 48], teacher_shapes, (0.0, 0.5, 2.0))
    assert distiller.stages == [1, 2] and distiller.levels == [3, 4]
    assert len(distiller.adapters) == 2
    student = [
        torch.randn(2, 16, 16, 16),
        torch.randn(2, 32, 8, 8, requires_grad=True),
        torch.randn(2, 48, 4, 4),
    ]
    teacher = [torch.randn(2, 256, 1, 1), torch.randn(2, 512, 1, 1)]
    loss = distiller(student, teacher)
    loss.backward()
    assert loss.item() > 0
    assert all(p.grad is not None for p in distiller.parameters())
    assert student[1].grad is not None


def test_distiller_with_all_weights_zero_has_no_terms():
    distiller = FeatureDistiller([8, 8], [(4, 2, 2)], (0.0, 0.0))
    assert distiller.stages == [] and len(distiller.adapters) == 0


def test_distiller_needs_one_weight_per_stage():
    with pytest.raises(ValueError, match="one feature weight per student stage"):
        FeatureDistiller([8, 8], [(4, 2, 2)], (1.0,))
