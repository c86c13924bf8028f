import optuna
import pytest
import torch

from autokd.errors import UnknownNameError
from autokd.measure.flops import count_flops
from autokd.measure.latency import measure_latency
from autokd.measure.targets import load_target
from autokd.records.yamlfiles import shipped_names
from autokd.students import build_student, count_params, list_families, student_from_dict
from autokd.students.cnn import StudentConfig
from autokd.study.space import load_space, sample_candidate
from tests.helpers import quick_target


def sampled_configs(space_name, data, n, seed=0):
    space = load_space(space_name)
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=seed), directions=["maximize", "minimize"]
    )
    return [sample_candidate(study.ask(), space, data).student for _ in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("space_name", shipped_names("search_spaces"))
def test_every_sampled_student_runs_counts_and_rebuilds(space_name, digits):
    for config in sampled_configs(space_name, digits, 25):
        assert config.family in list_families()
        model = build_student(config).eval()
        x = digits.val_x[:3]
        logits, features = model.forward_with_features(x)
        assert logits.shape == (3, digits.classes)
        assert len(features) == len(config.stages) == len(model.feature_channels)
        assert [f.shape[1] for f in features] == model.feature_channels
        assert torch.equal(model(x), logits)
        assert count_flops(model, digits.input_shape) > 0
        rebuilt = build_student(student_from_dict(config.to_dict()))
        assert count_params(rebuilt) == count_params(model)
        rebuilt.load_state_dict(model.state_dict())
        assert torch.equal(rebuilt.eval()(x), logits)
        assert student_from_dict(config.to_dict()).arch_hash() == config.arch_hash()


@pytest.mark.slow
@pytest.mark.parametrize("space_name", ["cnn", "mobile"])
@pytest.mark.parametrize("target_name", shipped_names("hardware"))
def test_every_family_is_timed_on_every_target(space_name, target_name, digits):
    """Each family's sampled students are timed on every shipped target (ONNX Runtime through
    the family's ONNX export; `cuda` only where there is a GPU)."""
    if load_target(target_name).device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    target = quick_target(target_name)
    for config in sampled_configs(space_name, digits, 2, seed=5):
        measurement = measure_latency(build_student(config).eval(), target, digits.input_shape)
        assert measurement.median_ms > 0 and measurement.backend == target.backend


def test_stride_schedule_halves_resolution_after_the_first_stage(digits):
    config = sampled_configs("cnn", digits, 1, seed=3)[0]
    _, features = build_student(config).forward_with_features(digits.val_x[:1])
    size = digits.input_size
    for stage, feature in zip(config.stages, features, strict=True):
        size //= stage.stride
        assert feature.shape[-1] == size


def test_different_architectures_have_different_hashes(digits):
    configs = sampled_configs("cnn", digits, 20)
    assert len({c.arch_hash() for c in configs}) == len({c.describe() + str(c) for c in configs})


def test_unknown_family_lists_the_known_ones(digits):
    config = sampled_configs("cnn", digits, 1)[0]
    bad = StudentConfig.from_dict({**config.to_dict(), "family": "cnm"})
    with pytest.raises(UnknownNameError, match="unknown student family 'cnm' .*did you mean 'cnn'"):
        build_student(bad)
