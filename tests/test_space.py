import optuna

from autokd.config import load_space
from autokd.space import param_names, sample_candidate


def test_a_fixed_trial_becomes_exactly_that_candidate(digits):
    space = load_space("cnn")
    params = {"stages": 2, "stem_width": 16, "temperature": 4.0, "alpha": 0.7, "lr": 0.01}
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
    assert [(s.depth, s.width, s.stride) for s in student.stages] == [(1, 24, 1), (2, 48, 2)]
    assert (student.in_channels, student.num_classes, student.input_size) == (1, 10, 16)
    assert candidate.kd.temperature == 4.0 and candidate.kd.alpha == 0.7
    assert candidate.kd.feature_weights == (0.5, 0.5)
    assert candidate.lr == 0.01


def test_sampled_parameter_names_are_the_documented_ones(digits):
    space = load_space("cnn")
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=1), directions=["maximize", "minimize"]
    )
    names = set(param_names(space.max_stages))
    for _ in range(20):
        trial = study.ask()
        sample_candidate(trial, space, digits)
        assert set(trial.params) <= names
