"""Bad input through the real command line: one line, exit code 2, nothing written."""

import pytest
import torch

from autokd.cli import main
from tests.helpers import TINY_SEARCH, autokd, snapshot, tiny_search


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli")
    assert main(tiny_search(work, "kept", 2)) == 0
    return work


def run_main(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.err


BAD_SEARCHES = [
    (["--target", "cpx"], "unknown target 'cpx' (did you mean 'cpu'?); valid: cpu, cpu-1t"),
    (["--space", "cnm"], "unknown search space 'cnm' (did you mean 'cnn'?)"),
    (
        ["--data", "digts"],
        "unknown data set 'digts' (did you mean 'digits'?); valid: cifar10, "
        "cifar100, digits, fashion-mnist, folder:PATH, mnist, npz:PATH",
    ),
    (
        ["--data", "folder:/no/such/dir"],
        "--data folder:/no/such/dir: '/no/such/dir' does not exist",
    ),
    (
        ["--sampler", "tp"],
        "unknown sampler 'tp' (did you mean 'tpe'?); valid: nni-evolution, nni-random, nni-tpe, "
        "nsga2, random, tpe",
    ),
    (["--teacher", "resnet81"], "unknown teacher 'resnet81' (did you mean 'resnet18'?)"),
    (["--teacher-weights", "missing.pt"], "teacher weights file 'missing.pt' does not exist"),
    (["--space", "missing.yaml"], "search space file 'missing.yaml' does not exist"),
    (["--target", "./nothere.yaml"], "target file './nothere.yaml' does not exist"),
    (["--name", "../escape"], "run name '../escape' must start with a letter or digit"),
    (["--epochs", "2"], "run 'kept' was started with epochs=1, this command asks for 2"),
    (["--runs-dir", __file__], f"--runs-dir '{__file__}' is a file, not a folder"),
    (["--device", "tpu"], "--device 'tpu' is not a device; give auto, cpu, cuda or cuda:N"),
    (
        ["--storage", "postgresql://u:secret@127.0.0.1:1/x"],
        "--storage postgresql://u:***@127.0.0.1:1/x: cannot open the database",
    ),
    (["--storage", "not a url"], "--storage: not a database URL"),
]
if not torch.cuda.is_available():
    BAD_SEARCHES.append((["--device", "cuda"], "--device cuda: this machine has no GPU"))


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "message"), BAD_SEARCHES)
def test_bad_search_input_is_one_line_and_exit_2(existing_run, capsys, extra, message):
    work = existing_run
    before = snapshot(work)
    # the later flag wins in argparse, so the bad value replaces the good one
    code, err = run_main(capsys, *tiny_search(work, "kept", 3), *extra)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("autokd: error: ")
    assert message in err
    assert "secret" not in err
    assert snapshot(work) == before


def test_malformed_space_yaml_is_one_line(existing_run, capsys, tmp_path):
    space = tmp_path / "broken.yaml"
    space.write_text("student: {stages: [1, 2\n")
    code, err = run_main(capsys, "search", "--space", str(space), "--runs-dir", str(tmp_path))
    assert code == 2 and f"{space}: not valid YAML at line" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--budget", "0"], "argument --budget: must be a positive integer, got '0'"),
        (["search", "--seed", "-1"], "argument --seed: must be an integer from 0 to 2**32 - 1"),
        (["search", "--epochs", "x"], "argument --epochs: must be a positive integer, got 'x'"),
        (["search", "--sampler"], "argument --sampler: expected one argument"),
        (["search", "--workers", "0"], "argument --workers: must be a number of worker processes"),
        (["search", "--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
        (["worker", "--name", "x"], "give --storage URL (or set AUTOKD_STORAGE)"),
        (["report", "--storage", "sqlite:///x.db"], "with --storage, name the run with --name"),
        (["serch"], "invalid choice: 'serch'"),
        (["report", "no/such/run"], "run folder 'no/such/run' does not exist"),
    ],
)
def test_usage_errors_through_the_console_entry_point(args, message, tmp_path):
    result = autokd(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, err = run_main(capsys, "report", str(tmp_path))
    assert code == 2 and "is not an autokd run folder" in err


def test_a_foreign_folder_is_not_taken_over(tmp_path, capsys):
    foreign = tmp_path / "runs" / "mine"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("keep me")
    code, err = run_main(
        capsys, "search", "--name", "mine", "--runs-dir", str(tmp_path / "runs"), *TINY_SEARCH
    )
    assert code == 2 and "exists and is not an autokd run" in err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_help_lists_the_commands_and_search_flags():
    assert autokd("--help").stdout.count("search") >= 1
    help_text = autokd("search", "--help").stdout
    for flag in (
        "--budget",
        "--target",
        "--space",
        "--data",
        "--teacher",
        "--teacher-weights",
        "--epochs",
        "--name",
        "--runs-dir",
        "--seed",
        "--sampler",
    ):
        assert flag in help_text


def test_continuing_with_a_changed_target_file_is_refused(tmp_path, capsys):
    target = tmp_path / "box.yaml"
    target.write_text("threads: 1\nmin_run_time: 0.02\n")
    args = [*tiny_search(tmp_path, "box", 1), "--target", str(target)]
    assert main(args) == 0
    capsys.readouterr()
    before = snapshot(tmp_path / "runs")
    target.write_text("threads: 2\nmin_run_time: 0.02\n")
    code, err = run_main(capsys, *tiny_search(tmp_path, "box", 2), "--target", str(target))
    assert code == 2 and "was started with target_digest=" in err
    assert snapshot(tmp_path / "runs") == before


@pytest.mark.slow
def test_fixed_settings_in_a_space_reach_the_report(tmp_path, capsys):
    from autokd.records.yamlfiles import shipped_dir

    text = (shipped_dir("search_spaces") / "cnn.yaml").read_text()
    for old, new in (
        ("lr: {low: 0.002, high: 0.02, log: true}", "lr: 0.01"),
        ("temperature: {low: 1.0, high: 8.0}", "temperature: 3.0"),
        ("alpha: {low: 0.0, high: 1.0}", "alpha: 0.5"),
    ):
        assert old in text
        text = text.replace(old, new)
    space = tmp_path / "fixed.yaml"
    space.write_text(text)
    assert main([*tiny_search(tmp_path, "fixed", 2), "--space", str(space)]) == 0
    trials = (tmp_path / "runs" / "fixed" / "trials.csv").read_text().splitlines()[0].split(",")
    assert "lr" not in trials and "temperature" not in trials  # fixed values are not sampled
    html = (tmp_path / "reports" / "fixed.html").read_text()
    assert "T 3.00, alpha 0.50" in html and "lr 0.01" in html


def test_an_unknown_augment_policy_is_one_line_and_exit_2(tmp_path, capsys):
    code, err = run_main(capsys, *tiny_search(tmp_path, "views", 1), "--augment-policy", "flip")
    assert code == 2 and err.count("\n") == 1
    valid = "valid: auto, crop-flip, none, shift"
    assert f"unknown augment policy 'flip' (did you mean 'crop-flip'?); {valid}" in err
    assert not (tmp_path / "runs").exists()  # refused before anything is written


def test_the_search_help_lists_every_augment_policy(capsys, monkeypatch):
    from autokd.data.augment import list_augment_policies

    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside the names
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    help_text = capsys.readouterr().out
    assert "--augment-policy NAME" in help_text and "(default auto;" in help_text
    for name in list_augment_policies():
        assert f" {name}" in help_text
