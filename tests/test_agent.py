"""`autokd agent`: its endpoints, token, limits and faults (in process, through Werkzeug's test
client), and fuzzed requests and models that it answers with an error, never a crash."""

from __future__ import annotations

import json
import threading
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from werkzeug.test import Client

from autokd.errors import AutoKDError
from autokd.measure.agent.measurer import Measurer
from autokd.measure.agent.server import AgentApp, read_token
from autokd.measure.onnx import onnx_bytes

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TINY = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                     nn.Flatten(), nn.Linear(4, 10))  # fmt: skip
FIELDS = "runtime=onnxruntime&shape=1,1,8,8&threads=1&warmup=2&min_run_time=0.05"


@pytest.fixture(scope="module")
def model() -> bytes:
    return onnx_bytes(TINY, torch.randn(1, 1, 8, 8))


@pytest.fixture(scope="module")
def measurer():
    shared = Measurer()  # one child process for the module: started once, as the agent keeps it
    yield shared
    shared.close()


@pytest.fixture
def app(measurer):
    lines: list[str] = []
    agent = AgentApp(TOKEN, measurer=measurer, say=lines.append)
    agent.lines = lines
    return agent


def _json(response) -> dict:
    return json.loads(response.get_data())


def test_health_needs_no_token_and_says_nothing_but_its_state_and_version(app):
    response = Client(app).get("/health")
    assert response.status_code == 200 and set(_json(response)) == {"status", "autokd"}


@pytest.mark.parametrize("header", [{}, {"Authorization": "Bearer wrong"},
                                    {"Authorization": f"Basic {TOKEN}"}])  # fmt: skip
def test_a_missing_or_wrong_token_is_refused_and_counted_never_printed(app, model, header):
    client = Client(app)
    assert client.get("/info", headers=header).status_code == 401
    assert client.post(f"/measure?{FIELDS}", data=model, headers=header).status_code == 401
    assert app.refused == 2 and len(app.lines) == 2 and "(2 so far)" in app.lines[-1]
    assert not any(TOKEN in line or "wrong" in line.split("token")[0] for line in app.lines)


def test_info_gives_the_devices_fingerprint(app):
    found = _json(Client(app).get("/info", headers=AUTH))["fingerprint"]
    assert {"cpu", "cores", "machine", "system", "runtimes"} <= set(found)
    assert "onnxruntime" in found["runtimes"]


def test_a_model_is_measured_with_the_protocol(app, model):
    response = Client(app).post(f"/measure?{FIELDS}", data=model, headers=AUTH)
    assert response.status_code == 200, response.get_data()
    timing = _json(response)["timing"]
    assert timing["median_s"] > 0 and timing["blocks"] >= 1 and timing["calls_per_block"] >= 1
    assert set(timing) == {"median_s", "iqr_s", "blocks", "calls_per_block", "attempts",
                           "noisy", "contended"}  # fmt: skip
    assert "onnxruntime 1x1x8x8, 1 thread(s)" in app.lines[-1]


def test_an_oversized_model_is_refused_before_it_is_read(measurer):
    app = AgentApp(TOKEN, measurer=measurer, max_body_bytes=1000, say=lambda line: None)
    response = Client(app).post(f"/measure?{FIELDS}", data=b"x" * 1001, headers=AUTH)
    assert response.status_code == 413 and "at most 1,000" in _json(response)["error"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("runtime=tensorrt&shape=1,1,8,8&threads=1&warmup=1&min_run_time=0.05", "not offered"),
        ("runtime=onnxruntime&shape=1,1,8&threads=1&warmup=1&min_run_time=0.05", "4 positive"),
        ("runtime=onnxruntime&shape=a,b&threads=1&warmup=1&min_run_time=0.05", "whole numbers"),
        ("runtime=onnxruntime&shape=9999,9999,99,99&threads=1&warmup=1&min_run_time=0.05",
         "elements in all"),
        ("runtime=onnxruntime&shape=1,1,8,8&threads=0&warmup=1&min_run_time=0.05", "threads"),
        ("runtime=onnxruntime&shape=1,1,8,8&threads=1&warmup=1&min_run_time=100", "min_run_time"),
        ("runtime=onnxruntime&shape=1,1,8,8&threads=1&min_run_time=0.05", "warmup"),
    ],
)  # fmt: skip
def test_malformed_fields_are_refused_with_the_rule(app, model, query, message):
    response = Client(app).post(f"/measure?{query}", data=model, headers=AUTH)
    assert response.status_code == 400 and message in _json(response)["error"]


def test_a_malformed_model_is_an_error_and_the_agent_goes_on(app, model):
    client = Client(app)
    broken = client.post(f"/measure?{FIELDS}", data=b"not an onnx file", headers=AUTH)
    assert broken.status_code == 422 and "cannot measure this model" in _json(broken)["error"]
    wrong_shape = client.post(f"/measure?{FIELDS.replace('1,1,8,8', '1,3,8,8')}", data=model,
                              headers=AUTH)  # fmt: skip
    assert wrong_shape.status_code == 422
    assert client.post(f"/measure?{FIELDS}", data=model, headers=AUTH).status_code == 200


def test_a_measurement_past_its_bound_is_stopped_and_the_next_one_runs(measurer, model,
                                                                        monkeypatch):  # fmt: skip
    from autokd.measure.agent import server

    monkeypatch.setattr(server, "protocol_seconds", lambda job: 0.0)  # the bound: 0.5 s in all
    app = AgentApp(TOKEN, measurer=Measurer(), measure_timeout_s=0.5, say=lambda line: None)
    slow = FIELDS.replace("min_run_time=0.05", "min_run_time=5")
    try:
        response = Client(app).post(f"/measure?{slow}", data=model, headers=AUTH)
        assert response.status_code == 504 and "longer than 0.5 s" in _json(response)["error"]
        app.measure_timeout_s = 60
        assert Client(app).post(f"/measure?{FIELDS}", data=model, headers=AUTH).status_code == 200
    finally:
        app.measurer.close()


def test_one_measurement_at_a_time_and_a_bounded_wait_for_the_others(measurer, model):
    app = AgentApp(TOKEN, measurer=measurer, queue_wait_s=0.2, say=lambda line: None)
    slow = FIELDS.replace("min_run_time=0.05", "min_run_time=1.5")
    codes = []
    first = threading.Thread(
        target=lambda: codes.append(
            Client(app).post(f"/measure?{slow}", data=model, headers=AUTH).status_code
        )
    )
    first.start()
    time.sleep(0.5)  # the first holds the measurement
    second = Client(app).post(f"/measure?{FIELDS}", data=model, headers=AUTH)
    first.join()
    assert second.status_code == 503 and "busy" in _json(second)["error"]
    assert codes == [200]


def test_unknown_paths_and_methods_are_refused(app):
    client = Client(app)
    assert client.get("/measure", headers=AUTH).status_code == 405
    assert client.get("/admin", headers=AUTH).status_code == 404


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    query=st.dictionaries(
        st.sampled_from(["runtime", "shape", "threads", "warmup", "min_run_time", "hint", "x"]),
        st.text(max_size=12),
        max_size=7,
    ),
    body=st.binary(max_size=200),
)
def test_any_request_is_answered_never_a_crash(app, query, body):
    response = Client(app).post("/measure", query_string=query, data=body, headers=AUTH)
    assert response.status_code in (400, 411, 413, 422, 504), response.get_data()
    assert "error" in _json(response)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=8))  # fmt: skip
def test_a_damaged_model_is_answered_never_a_crash(app, model, flips):
    damaged = bytearray(model)
    for position, value in flips:
        damaged[position % len(damaged)] = value
    response = Client(app).post(f"/measure?{FIELDS}", data=bytes(damaged), headers=AUTH)
    assert response.status_code in (200, 422), response.get_data()


@pytest.mark.parametrize(
    ("text", "message"), [("short\n", "at least 16"), (None, "cannot be read")]
)
def test_a_token_file_that_is_short_or_missing_is_one_line(tmp_path, text, message):
    path = tmp_path / "token"
    if text is not None:
        path.write_text(text)
    with pytest.raises(AutoKDError, match=message):
        read_token(str(path))
    path.write_text(TOKEN + "\n")
    assert read_token(str(path)) == TOKEN
