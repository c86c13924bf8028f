"""Studies in a shared database: URLs and passwords, and a search joined by `autokd worker`s."""

import os
import subprocess
import sys
import time

import optuna
import pytest

from autokd.errors import AutoKDError
from autokd.records.attrs import RUN_ATTR, WORKER_ATTR
from autokd.records.storage import masked, open_storage, scrub, with_driver
from tests.helpers import TINY_SEARCH, autokd, tiny_search, wait_for_complete_trials


def test_passwords_are_masked_and_scrubbed():
    url = "postgresql://user:s3cret@db.example:5432/runs"
    assert masked(url) == "postgresql://user:***@db.example:5432/runs"
    assert scrub("password authentication failed for s3cret", url) == (
        "password authentication failed for ***"
    )
    assert "s3cret" in with_driver(url) and with_driver(url).startswith("postgresql+psycopg://")
    assert masked("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_a_malformed_or_unreachable_url_is_one_line_without_the_password():
    with pytest.raises(AutoKDError, match="not a database URL"):
        open_storage("nonsense")
    with pytest.raises(AutoKDError) as caught:
        open_storage("postgresql://u:topsecret@127.0.0.1:1/x")
    message = str(caught.value)
    assert "cannot open the database" in message and "topsecret" not in message
    assert "\n" not in message


@pytest.mark.slow
def test_a_search_with_local_workers_runs_the_budget_exactly(tmp_path):
    result = autokd(*tiny_search(tmp_path, "two", 5), "--workers", "2")
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(
        study_name=None, storage=f"sqlite:///{tmp_path / 'runs' / 'two' / 'study.db'}"
    )
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 5
    assert "by 2 worker(s) (--workers), 1 training thread(s) each" in result.stdout
    assert (tmp_path / "reports" / "two.html").is_file()


def _worker(url, name, cwd):
    env = {**os.environ, "AUTOKD_STORAGE": url}
    return subprocess.Popen(
        [sys.executable, "-m", "autokd", "worker", "--name", name],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_search_and_two_workers_share_a_postgresql_study(postgres_url, tmp_path):
    """The issue's acceptance: one search and two `autokd worker`s, exactly the budget, no trial
    trained twice, a report, and an export from the storage."""
    name, budget = "shared", 12
    search = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autokd",
            "search",
            "--storage",
            postgres_url,
            "--name",
            name,
            "--budget",
            str(budget),
            *TINY_SEARCH,
            "--epochs",
            "2",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while True:  # the workers join once the search has recorded its settings in the study
        assert search.poll() is None, search.stderr.read()
        assert time.time() < deadline
        try:
            study = optuna.load_study(study_name=name, storage=postgres_url)
            if RUN_ATTR in study.user_attrs:
                break
        except KeyError:
            pass
        time.sleep(0.5)
    workers = [_worker(postgres_url, name, tmp_path) for _ in range(2)]
    out, err = search.communicate(timeout=600)
    assert search.returncode == 0, err
    password = postgres_url.split(":")[2].split("@")[0]
    assert password not in out + err
    worker_runs = []
    for worker in workers:
        w_out, w_err = worker.communicate(timeout=600)
        assert worker.returncode == 0, w_err
        assert password not in w_out + w_err
        worker_runs.append((worker.pid, int(w_out.split("worker ran ")[1].split()[0])))

    study = optuna.load_study(study_name=name, storage=postgres_url)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == budget
    by_worker = {}
    for trial in complete:
        owner = trial.user_attrs[WORKER_ATTR]
        by_worker[owner] = by_worker.get(owner, 0) + 1
    for pid, ran in worker_runs:  # what each worker says it trained is what the study holds
        assert sum(n for owner, n in by_worker.items() if owner.endswith(f":{pid}")) == ran
    assert sum(ran for _, ran in worker_runs) >= 1  # the workers did take part
    assert (tmp_path / "reports" / f"{name}.html").is_file()

    # readers work from the storage, on a machine without the run folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    report = autokd("report", "--storage", postgres_url, "--name", name, cwd=elsewhere)
    assert report.returncode == 0, report.stderr
    assert (elsewhere / "reports" / f"{name}.html").is_file()
    export = autokd(
        "export",
        "--storage",
        postgres_url,
        "--name",
        name,
        "--pick",
        "knee",
        "-o",
        "best",
        cwd=elsewhere,
    )
    assert export.returncode == 0, export.stderr
    assert (elsewhere / "best" / "student.onnx").is_file()
    for output in (report, export):
        assert password not in output.stdout + output.stderr


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_writes_the_tables_and_the_same_command_continues(tmp_path):
    import signal

    # the later --budget wins (argparse): 60 to interrupt, then just one more to continue
    args = [*tiny_search(tmp_path, "stopped", 60), "--workers", "2", "--epochs", "2"]
    search = subprocess.Popen(
        [sys.executable, "-m", "autokd", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = tmp_path / "runs" / "stopped" / "study.db"
    wait_for_complete_trials(search, db, 2)  # interrupt once trials are landing
    search.send_signal(signal.SIGINT)
    out, err = search.communicate(timeout=120)
    assert search.returncode == 130, err
    assert "Traceback" not in err and "run the same command with --name stopped" in err
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states  # every worker stopped and told
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    assert complete < 60
    rows = (tmp_path / "runs" / "stopped" / "trials.csv").read_text().splitlines()[1:]
    assert sum(",COMPLETE," in row for row in rows) == complete
    again = autokd(*args, "--budget", str(complete + 1))
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{db}")
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == complete + 1
