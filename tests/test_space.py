import re

import optuna
import pytest

from autokd.errors import ConfigError
from autokd.records.params import ARCHITECTURE, DISTILLATION
from autokd.study.space import load_space, param_declarations, sample_candidate
from tests.helpers import write_space


def test_a_fixed_trial_becomes_exactly_that_candidate(digits):
    space = load_space("cnn")
    params = {"stages": 2, "stem_width": 16, "s1_stride": 2, "temperature": 4.0, "alpha": 0.7,
              "lr": 0.01}  # fmt: skip
    for stage, width in ((1, 24), (2, 48)):
        params.update(
            {
                f"s{stage}_depth": stage,
                f"s{stage}_width": width,
                f"s{stage}_kernel": 3,
                f"s{stage}_dilation": 2,
                f"s{stage}_feature_weight": 0.5,
            }
        )
    candidate = sample_candidate(optuna.trial.FixedTrial(params), space, digits)
    student = candidate.student
    assert student.stem_width == 16 and len(student.stages) == 2
    assert [(s.depth, s.width, s.stride) for s in student.stages] == [(1, 24, 2), (2, 48, 2)]
    assert (student.in_channels, student.num_classes, student.input_size) == (1, 10, 16)
    assert candidate.kd.temperature == 4.0 and candidate.kd.alpha == 0.7
    assert candidate.kd.feature_weights == (0.5, 0.5)
    assert (candidate.kd.logit_loss, candidate.kd.feature_loss) == ("kd", "fitnets")
    assert candidate.lr == 0.01


@pytest.mark.parametrize("name", ["cnn", "cnn-menu", "mobile"])
def test_sampled_parameters_are_declared_with_their_kind(digits, name):
    space = load_space(name)
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=1), directions=["maximize", "minimize"]
    )
    declared = param_declarations(space)
    for _ in range(30):
        trial = study.ask()
        sample_candidate(trial, space, digits)
        assert set(trial.params) <= set(declared)
    assert declared["alpha"]["kind"] == DISTILLATION and declared["stages"]["kind"] == ARCHITECTURE


def _menu_trial(params):
    base = {"stages": 2, "stem_width": 8, "s1_stride": 1, "lr": 0.01, "temperature": 4.0,
            "alpha": 0.9}  # fmt: skip
    for stage in (1, 2):
        base.update({f"s{stage}_depth": 1, f"s{stage}_width": 16, f"s{stage}_kernel": 3,
                     f"s{stage}_dilation": 1})  # fmt: skip
    return optuna.trial.FixedTrial({**base, **params})


def test_a_terms_settings_are_sampled_only_when_it_is_chosen(digits):
    space = load_space("cnn-menu")
    chosen = {"logit_loss": "dkd", "dkd_beta": 4.0, "standardize": True, "feature_loss": "none",
              "temperature_schedule": "cosine", "temperature_end": 1.0}  # fmt: skip
    kd = sample_candidate(_menu_trial(chosen), space, digits).kd
    assert (kd.logit_loss, kd.standardize, kd.feature_loss) == ("dkd", True, "none")
    assert kd.settings == (("dkd_beta", 4.0),) and kd.feature_weights == (0.0, 0.0)
    assert (kd.temperature_schedule, kd.temperature_end) == ("cosine", 1.0)
    plain = {"logit_loss": "kd", "standardize": False, "feature_loss": "rkd", "rkd_angle": 1.0,
             "temperature_schedule": "constant", "s1_feature_weight": 0.5,
             "s2_feature_weight": 2.0}  # fmt: skip
    kd = sample_candidate(_menu_trial(plain), space, digits).kd
    assert kd.settings == (("rkd_angle", 1.0),) and kd.temperature_end is None
    assert kd.feature_weights == (0.5, 2.0)
    # FixedTrial raises on a name it was not given: nothing else was asked for
    study = optuna.create_study(directions=["maximize", "minimize"])
    for _ in range(20):
        trial = study.ask()
        kd = sample_candidate(trial, space, digits).kd
        settings = {k for k in trial.params if k.startswith(("dkd_", "dist_", "rkd_"))}
        assert settings == {k for k, _ in kd.settings}
        assert ("s1_feature_weight" in trial.params) == (kd.feature_loss != "none")


@pytest.mark.parametrize(
    ("distill", "message"),
    [
        ("logit_loss: kdd", "unknown logit loss 'kdd' (did you mean 'kd'?); valid: dist, dkd, kd"),
        ("feature_loss: {choices: [none, fitnet]}", "did you mean 'fitnets'?"),
        ("temperature_schedule: cosine", "'distill.temperature_end' is missing"),
        ("dkd: {gamma: 2}", "unknown key 'distill.dkd.gamma'"),
        ("dkd: {beta: 100}", "key 'distill.dkd.beta' must be a number in [1, 16], got 100"),
        ("standardize: maybe", "standardize value"),
    ],
)
def test_a_wrong_loss_menu_is_one_clear_error(tmp_path, distill, message):
    path = write_space(tmp_path, extra_distill=distill)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_space(path)


def test_a_space_may_narrow_a_terms_own_range(tmp_path, digits):
    extra = "logit_loss: dkd\ndkd: {beta: {low: 4, high: 5}}"
    space = load_space(write_space(tmp_path, extra_distill=extra))
    study = optuna.create_study(directions=["maximize", "minimize"])
    for _ in range(10):
        kd = sample_candidate(study.ask(), space, digits).kd
        assert 4 <= kd.setting("dkd_beta") <= 5
