"""autokd as a library: `autokd.search()` and the functions after it, called in one process."""

from __future__ import annotations

import inspect
import re
import signal

import optuna
import pytest
import torch

import autokd
from autokd.errors import AutoKDError
from tests.conftest import TINY_TEACHER

TINY = {"teacher": TINY_TEACHER, "teacher_epochs": 1, "epochs": 1, "pruner": "none"}


def _state() -> tuple:
    """What a library call must leave as it found it."""
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    return torch.get_num_threads(), optuna.logging.get_verbosity(), handlers


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("api")
    optuna.logging.set_verbosity(optuna.logging.INFO)  # a user's setting, left alone
    torch.set_num_threads(2 if torch.get_num_threads() != 2 else 1)
    before = _state()
    found = autokd.search(
        budget=3,
        workers=1,
        progress=False,
        name="api",
        runs_dir=work / "runs",
        reports_dir=work / "reports",
        **TINY,
    )
    return found, before, _state(), work


@pytest.mark.slow
def test_search_returns_the_run_and_leaves_the_process_as_it_was(run):
    found, before, after, work = run
    assert after == before
    assert isinstance(found, autokd.Run) and found.path == work / "runs" / "api"
    assert {"accuracy", "latency_ms", "flops", "params", "is_pareto"} <= set(found.front.columns)
    assert len(found.trials) == 3 and found.front["is_pareto"].all()
    assert list(found.front["latency_ms"]) == sorted(found.front["latency_ms"])  # fastest first
    assert isinstance(found.study, optuna.Study) and len(found.study.trials) == 3
    assert found.summary.trials == {"complete": 3} and found.trials_run == 3
    assert found.report_path == work / "reports" / "api.html" and found.report_path.is_file()


def test_an_opened_run_is_the_same_run(run):
    found, *_ = run
    opened = autokd.open_run(found.path)
    assert opened.name == "api" and opened.front.equals(found.front)
    assert opened.summary == found.summary and opened.validation is None


def test_a_run_gives_its_students_back_as_modules(run, digits):
    found, *_ = run
    best = int(found.front.iloc[0]["number"])
    model = found.student(best)
    assert model(digits.val_x[:4]).shape == (4, 10) and not model.training
    dominated = found.trials[~found.trials["is_pareto"]]
    if len(dominated):  # only students on the front keep their weights
        with pytest.raises(AutoKDError, match="were not kept"):
            found.student(int(dominated.iloc[0]["number"]))
    with pytest.raises(AutoKDError, match="does not exist"):
        found.student(99)


@pytest.mark.slow
def test_export_train_and_load_student_in_the_same_process(run, digits):
    found, _, _, work = run
    bundle = autokd.export(found, pick="knee", output=work / "knee")
    assert bundle.path == work / "knee" and bundle.description.parity["onnx"] < 1e-4
    result = autokd.train(bundle, epochs=1, progress=False)
    assert result.epochs == 1 and 0 <= result.final_val_accuracy <= 1 and result.kd
    assert (work / "knee" / "train-kd-e1-s0" / "result.json").is_file()
    shipped = autokd.load_student(bundle, weights=f"{result.output}/student.pt")
    pixels = digits.val_x[:4] * digits.val_x.std + digits.val_x.mean  # back to [0, 1]
    with torch.no_grad():
        assert torch.allclose(shipped(pixels), shipped.student(digits.val_x[:4]), atol=1e-4)
        larger = torch.nn.functional.interpolate(pixels, size=(32, 32), mode="bilinear")
        assert shipped(larger).shape == (4, 10)  # any size: resized as the data was
    with pytest.raises(AutoKDError, match=r"images of shape \(N, 1, H, W\)"):
        shipped(torch.zeros(1, 3, 16, 16))


@pytest.mark.slow
def test_validate_compare_and_report(run, tmp_path):
    found, _, _, work = run
    result = autokd.validate(found, top_k=1, epochs=1, workers=1, progress=False,
                             reports_dir=work / "reports")  # fmt: skip
    assert result.students_validated == 1 and found.validation == result
    assert autokd.report(found, output=tmp_path / "again.html").is_file()
    other = autokd.search(budget=1, workers=1, progress=False, name="other",
                          runs_dir=work / "runs", reports_dir=work / "reports", **TINY)  # fmt: skip
    comparison = autokd.compare([found, other.path], output=tmp_path / "compare.html")
    assert comparison.path.is_file() and [r.name for r in comparison.data.runs] == ["api", "other"]


@pytest.mark.slow
def test_the_trial_plugs_into_a_study_of_ones_own(tmp_path):
    objective = autokd.objective(progress=False, weights_dir=tmp_path, **TINY)
    study = optuna.create_study(directions=objective.directions)
    before = torch.get_num_threads()
    study.optimize(objective, n_trials=2)
    assert torch.get_num_threads() == before
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert {"architecture", "student", "kd", "latency_ms"} <= set(study.trials[0].user_attrs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial-0.pt", "trial-1.pt"]


def test_bad_input_raises_one_autokd_error(tmp_path):
    with pytest.raises(AutoKDError, match="unknown search space 'cnm'"):
        autokd.search(space="cnm", runs_dir=tmp_path)
    with pytest.raises(AutoKDError, match="budget must be a positive integer"):
        autokd.search(budget=0, runs_dir=tmp_path)
    with pytest.raises(AutoKDError, match="sampler must be a name"):
        autokd.search(sampler=object(), runs_dir=tmp_path)
    sampler = optuna.samplers.RandomSampler(seed=0)
    with pytest.raises(AutoKDError, match="--workers 2: an Optuna sampler object samples in"):
        autokd.search(sampler=sampler, workers=2, runs_dir=tmp_path, **TINY)
    assert not (tmp_path / "runs").exists() and list(tmp_path.iterdir()) == []


def test_a_plugin_registered_in_main_keeps_the_search_in_one_process(tmp_path):
    from autokd.distill import losses, terms
    from autokd.runtime import plugins

    def loss(student, teacher, temperature):
        return losses.kd_loss(student, teacher, temperature)

    loss.__module__ = "__main__"  # as a notebook cell or a script run directly defines it
    terms.register_term(terms.LogitTerm("kd_main", "kd, from __main__", loss))
    try:
        with pytest.raises(AutoKDError, match="logit loss 'kd_main' is registered in __main__"):
            autokd.search(workers=2, runs_dir=tmp_path, **TINY)
        assert plugins.plugin_modules() == ([], ["logit loss 'kd_main'"])
    finally:
        terms.TERMS[terms.LOGITS].remove("kd_main")
    assert plugins.plugin_modules() == ([], [])


PUBLIC = [
    autokd.search,
    autokd.open_run,
    autokd.export,
    autokd.train,
    autokd.validate,
    autokd.report,
    autokd.compare,
    autokd.objective,
    autokd.load_student,
    autokd.worker,
    autokd.measure_stability,
]


@pytest.mark.parametrize("function", PUBLIC, ids=lambda f: f.__name__)
def test_every_argument_is_documented(function):
    doc = inspect.getdoc(function) or ""
    for name in inspect.signature(function).parameters:
        assert re.search(rf"`{name}`|\b{name}:", doc), f"{function.__name__}: {name}"


@pytest.mark.parametrize("name", sorted(set(autokd.__all__) - {"__version__"}))
def test_every_public_name_resolves(name):
    assert getattr(autokd, name) is not None


def test_the_command_line_defaults_are_the_librarys():
    from autokd.cli import build_parser

    search = build_parser().parse_args(["search"])
    signature = inspect.signature(autokd.search).parameters
    shared = ["budget", "epochs", "sampler", "pruner", "workers", "device", "seed", "space"]
    shared += ["target", "data", "batch_size", "teacher_epochs", "runs_dir", "reports_dir"]
    for name in shared:
        assert getattr(search, name) == signature[name].default, name
    train = build_parser().parse_args(["train", "bundle"])
    assert train.epochs == inspect.signature(autokd.train).parameters["epochs"].default
