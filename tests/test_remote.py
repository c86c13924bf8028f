"""A search timed by `autokd agent` in another process, as on another device: a remote target's
checks before anything trains, the agent's measurements in trials.csv, an agent killed
mid-search, and the agent without PyTorch."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from autokd.cli import main
from tests.helpers import tiny_search

TOKEN = "a-test-token-of-32-characters-xx"
TOKEN_ENV = "AUTOKD_TEST_AGENT_TOKEN"
# The agent with PyTorch and OpenVINO hidden: a board that has ONNX Runtime only.
WITHOUT_TORCH = (
    "import sys; sys.modules['torch'] = None; sys.modules['openvino'] = None; "
    "from autokd.cli import main; sys.exit(main(sys.argv[1:]))"
)


class Agent:
    def __init__(self, tmp_path: Path, *extra: str, bare: bool = False) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        start = [sys.executable, "-c", WITHOUT_TORCH] if bare else [sys.executable, "-m", "autokd"]
        self.process = subprocess.Popen(
            [*start, "agent", "--port", "0", "--token-file", str(token_file), *extra],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stderr.readline()  # "autokd agent: listening on http://...:PORT ..."
        assert "listening on http://127.0.0.1:" in line, line
        self.url = line.split("listening on ")[1].split()[0]
        self.banner = line
        self.lines: list[str] = []  # what it says after, read as it comes
        threading.Thread(target=lambda: self.lines.extend(self.process.stderr), daemon=True).start()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def agent(tmp_path):
    started = Agent(tmp_path)
    yield started
    started.stop()


def remote_target(folder: Path, url: str, runtime: str = "onnxruntime", **extra: object) -> str:
    lines = [f"description: {runtime} on the agent at {url}", "backend: remote", f"url: {url}",
             f"runtime: {runtime}", f"token_env: {TOKEN_ENV}", "threads: 1", "min_run_time: 0.05",
             *(f"{key}: {value}" for key, value in extra.items())]  # fmt: skip
    path = folder / "remote.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.slow
def test_a_search_on_a_remote_target_records_the_agents_measurements(agent, tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    target = remote_target(tmp_path, agent.url)
    assert main([*tiny_search(tmp_path, "remote", 2), "--target", target]) == 0
    with (tmp_path / "runs" / "remote" / "trials.csv").open() as table:
        rows = list(csv.DictReader(table))
    assert [row["latency_device"] for row in rows] == [f"agent {agent.url}"] * 2
    assert all(float(row["latency_ms"]) > 0 for row in rows)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong token", "refused the token"),
        ("unreachable", "does not answer"),
        ("no token set", "the agent's token is not set: export AUTOKD_TEST_AGENT_TOKEN"),
    ],
)
def test_a_remote_target_that_cannot_measure_stops_before_anything_trains(
    agent, tmp_path, capsys, monkeypatch, case, message
):
    url = "http://127.0.0.1:9" if case == "unreachable" else agent.url  # port 9: nothing there
    if case != "no token set":
        monkeypatch.setenv(TOKEN_ENV, "wrong-token" if case == "wrong token" else TOKEN)
    else:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
    code = main([*tiny_search(tmp_path, "refused", 2), "--target", remote_target(tmp_path, url)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert TOKEN not in err
    assert not (tmp_path / "runs" / "refused").exists()


@pytest.mark.slow
def test_the_agent_runs_without_pytorch_and_a_runtime_it_lacks_is_one_line(
    tmp_path, capsys, monkeypatch
):
    bare = Agent(tmp_path, bare=True)
    try:
        assert "runtimes: onnxruntime" in bare.banner and "openvino" not in bare.banner
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        lacking = remote_target(tmp_path, bare.url, runtime="openvino")
        code = main([*tiny_search(tmp_path, "lacking", 1), "--target", lacking])
        err = capsys.readouterr().err
        assert code == 2 and f"agent {bare.url} offers no openvino (it has onnxruntime)" in err
        assert (
            main([*tiny_search(tmp_path, "bare", 1), "--target", remote_target(tmp_path, bare.url)])
            == 0
        )
    finally:
        bare.stop()


def test_an_oversized_upload_is_refused(tmp_path):
    small = Agent(tmp_path, "--max-model-mb", "0.01")
    try:
        request = urllib.request.Request(
            f"{small.url}/measure?runtime=onnxruntime", data=b"x" * 20_000, method="POST",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 413
    finally:
        small.stop()


@pytest.mark.slow
def test_an_agent_killed_mid_search_fails_the_trials_and_the_search_ends(agent, tmp_path):
    target = remote_target(tmp_path, agent.url, timeout=2)  # each trial waits 2 s for it
    env = {**os.environ, TOKEN_ENV: TOKEN}
    search = subprocess.Popen(
        [sys.executable, "-m", "autokd", *tiny_search(tmp_path, "killed", 10), "--target", target],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not any("measured]" in line for line in agent.lines) and time.monotonic() < deadline:
        time.sleep(0.2)  # until the agent measured a student
    agent.process.kill()
    out, err = search.communicate(timeout=300)  # never a hang
    assert search.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert "trials failed, the last one: no agent measured the student" in last, err
    assert "does not answer" in last and "Traceback" not in err


def test_a_farm_goes_on_with_the_agents_left_and_uses_one_that_comes_back(tmp_path, monkeypatch):
    import torch

    from autokd.measure import remote
    from autokd.measure.onnx import onnx_bytes
    from autokd.measure.remote import AgentFarm

    model = onnx_bytes(torch.nn.Conv2d(1, 2, 3), torch.randn(1, 1, 8, 8))
    fields = {"runtime": "onnxruntime", "shape": "1,1,8,8", "threads": 1, "warmup": 1,
              "min_run_time": 0.02}  # fmt: skip
    first, second = Agent(tmp_path / "a"), Agent(tmp_path / "b")
    try:
        farm = AgentFarm((first.url, second.url), TOKEN, timeout=30)
        assert farm.check("onnxruntime")["runtimes"]["onnxruntime"]  # identical: one fingerprint
        assert {farm.measure(model, fields).url for _ in range(2)} == {first.url, second.url}
        monkeypatch.setattr(remote, "RETRY_AFTER_SECONDS", 0.0)  # a dead agent is asked again
        first.process.kill()
        first.process.wait()
        assert [farm.measure(model, fields).url for _ in range(3)] == [second.url] * 3
        back = Agent(tmp_path / "a", "--port", first.url.rsplit(":", 1)[1])
        try:
            assert first.url in {farm.measure(model, fields).url for _ in range(2)}
        finally:
            back.stop()
    finally:
        first.stop()
        second.stop()


@pytest.mark.slow
def test_measure_on_a_remote_target_prints_its_agreement_with_this_machine(
    agent, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    target = remote_target(tmp_path, agent.url)
    assert main(["measure", "--target", target, "-n", "3", "-o", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "autokd: target remote: " in out and "against this machine's same runtime: " in out
    saved = json.loads((tmp_path / "m.json").read_text())
    assert len(saved["local_ms"]) == 3 and 0 <= saved["local_within_tolerance"] <= 1


def test_a_hung_agent_fails_the_measurement_after_the_targets_timeout(agent):
    import torch

    from autokd.errors import TrialFailed
    from autokd.measure.onnx import onnx_bytes
    from autokd.measure.remote import AgentFarm

    model = onnx_bytes(torch.nn.Conv2d(1, 2, 3), torch.randn(1, 1, 8, 8))
    fields = {"runtime": "onnxruntime", "shape": "1,1,8,8", "threads": 1, "warmup": 1,
              "min_run_time": 0.02}  # fmt: skip
    farm = AgentFarm((agent.url,), TOKEN, timeout=2)
    agent.process.send_signal(signal.SIGSTOP)  # alive, and answering nothing
    try:
        started = time.monotonic()
        with pytest.raises(TrialFailed, match="does not answer .*timed out"):
            farm.measure(model, fields)
        assert time.monotonic() - started < 10
    finally:
        agent.process.send_signal(signal.SIGCONT)


class _FakeAgent:
    """An HTTP server that answers every request with `status` and `body`, and counts them."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        import http.server

        fake = self
        self.requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                fake.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_the_client_follows_no_redirect_with_the_token():
    from autokd.errors import AutoKDError
    from autokd.measure.remote import AgentFarm

    elsewhere = _FakeAgent(200, b'{"status": "ok"}')
    redirecting = _FakeAgent(302, b"", {"Location": f"{elsewhere.url}/health"})
    try:
        with pytest.raises(AutoKDError, match="is it an autokd agent"):
            AgentFarm((redirecting.url,), TOKEN, timeout=5).check("onnxruntime")
        assert elsewhere.requests == []  # the token never went to the other host
    finally:
        redirecting.close()
        elsewhere.close()


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"timing": {"median_s": "fast"}, "fingerprint": {}}', b"not json",
     b'{"timing": {"median_s": -1, "iqr_s": 0, "blocks": 5, "calls_per_block": 1, '
     b'"attempts": 1, "noisy": false, "contended": false}, "fingerprint": {}}'],
    ids=["a list", "wrong types", "not json", "negative"],
)  # fmt: skip
def test_a_malformed_answer_fails_the_measurement_and_is_never_used(body, monkeypatch):
    from autokd.errors import TrialFailed
    from autokd.measure import remote
    from autokd.measure.remote import AgentFarm

    monkeypatch.setattr(remote, "RETRY_AFTER_SECONDS", 0.0)
    fake = _FakeAgent(200, body)
    try:
        with pytest.raises(TrialFailed, match="no agent measured the student"):
            AgentFarm((fake.url,), TOKEN, timeout=5).measure(b"model", {"runtime": "x"})
    finally:
        fake.close()
