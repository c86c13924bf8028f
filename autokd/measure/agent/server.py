"""The agent's HTTP service: Werkzeug parses and answers requests, Waitress serves them.

Endpoints:

- `GET /health`: no token; `{"status": "ok", "autokd": VERSION}` and nothing else.
- `GET /info`: the device's fingerprint (CPU model, cores, machine, runtimes and versions).
- `POST /measure?runtime=R&shape=1,3,32,32&threads=T&warmup=W&min_run_time=S[&hint=H]`: the
  body is the model file (ONNX); the answer `{"timing": {...}, "fingerprint": {...},
  "queued_s": Q, "measured_s": M}`, the timing in seconds per call as the protocol keeps it
  (`measure.protocol.Timing`), Q and M the seconds the request waited and was measured.

Every request but `/health` carries the token as `Authorization: Bearer TOKEN`, compared in
constant time; a wrong or missing one is refused with 401 and counted on stderr (the token is
never printed or logged). A body over `max_body_bytes` is refused with 413 (Waitress holds at
most that per connection, in memory, and `CONNECTIONS` connections);
malformed parameters with 400; a model the runtime cannot load or run with 422; one that
overruns the time bound with 504 (its process killed). One measurement runs at a time (timing
needs the cores alone): the others wait at most `queue_wait_s`, then get 503 and retry
elsewhere. Nothing is written to disk.
"""

from __future__ import annotations

import hmac
import json
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from autokd.errors import AutoKDError
from autokd.measure.agent.limits import (
    CONNECTIONS,
    IDLE_SECONDS,
    MAX_BODY_BYTES,
    MAX_SHAPE_ELEMENTS,
    MEASURE_TIMEOUT_SECONDS,
    MIN_TOKEN_CHARS,
    PROTOCOL_BOUNDS,
    QUEUE_WAIT_SECONDS,
)
from autokd.measure.agent.measurer import (
    Job,
    MeasurementFailed,
    MeasurementTimedOut,
    Measurer,
    protocol_seconds,
)
from autokd.measure.agent.runtimes import RUNTIMES, installed
from autokd.runtime.environment import cpu_model, physical_cores


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("autokd")
    except PackageNotFoundError:
        return "unknown"


def fingerprint() -> dict[str, Any]:
    """What a latency measured here depends on besides the model and the protocol."""
    return {
        "cpu": cpu_model(),
        "cores": physical_cores(),
        "machine": platform.machine(),
        "system": platform.system(),
        "runtimes": installed(),
    }


class BadRequest(Exception):
    """A request the agent cannot act on; the message says which field and what is allowed."""


@dataclass
class AgentApp:
    """The WSGI application; `measurer` times the models (a child process of its own)."""

    token: str
    measurer: Measurer = field(default_factory=Measurer)
    max_body_bytes: int = MAX_BODY_BYTES
    queue_wait_s: float = QUEUE_WAIT_SECONDS
    measure_timeout_s: float = MEASURE_TIMEOUT_SECONDS
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    refused: int = 0  # requests without the right token, so far
    measured: int = 0
    _turn: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))
    _count_lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable:
        request = Request(environ)
        request.max_content_length = self.max_body_bytes
        try:
            response = self._route(request)
        except HTTPException as err:  # werkzeug's own (413 for a body over the limit)
            response = _error(err.code or 400, err.description or err.name)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        routes = {"/health": ("GET", self._health), "/info": ("GET", self._info),
                  "/measure": ("POST", self._measure)}  # fmt: skip
        if request.path not in routes:
            return _error(404, f"no endpoint {request.path}; there are {', '.join(routes)}")
        method, handler = routes[request.path]
        if request.method != method:
            return _error(405, f"{request.path} takes {method}")
        if handler != self._health and not self._authorised(request):
            return _error(401, "missing or wrong token (Authorization: Bearer TOKEN)")
        return handler(request)

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        ok = scheme == "Bearer" and hmac.compare_digest(token.encode(), self.token.encode())
        if not ok:
            with self._count_lock:
                self.refused += 1
                refused = self.refused
            self.say(f"autokd agent: refused a request from {request.remote_addr} without the "
                     f"right token ({refused} so far)")  # fmt: skip
        return ok

    def _health(self, request: Request) -> Response:
        return _json(200, {"status": "ok", "autokd": version()})

    def _info(self, request: Request) -> Response:
        return _json(200, {"fingerprint": fingerprint(), "autokd": version()})

    def _measure(self, request: Request) -> Response:
        length = request.content_length
        if length is None:
            return _error(411, "give the model file as the body, with its Content-Length")
        if length > self.max_body_bytes:
            raise RequestEntityTooLarge(
                f"the model is {length:,} bytes; this agent takes at most {self.max_body_bytes:,}"
            )
        try:
            job = parse_job(request.args, request.get_data(cache=False))
        except BadRequest as err:
            return _error(400, str(err))
        arrived = time.perf_counter()
        if not self._turn.acquire(timeout=self.queue_wait_s):
            return _error(503, f"busy: another measurement ran for over {self.queue_wait_s:g} s")
        started = time.perf_counter()
        try:
            timing = self.measurer.measure(job, self.measure_timeout_s + protocol_seconds(job))
        except MeasurementFailed as err:
            return _error(422, f"cannot measure this model on {job.runtime}: {err}")
        except MeasurementTimedOut as err:
            return _error(504, str(err))
        finally:
            self._turn.release()
        self.measured += 1
        self.say(
            f"autokd agent: {job.runtime} {'x'.join(map(str, job.shape))}, {job.threads} "
            f"thread(s): {timing['median_s'] * 1e3:.4f} ms ({timing['blocks']} blocks"
            f"{', noisy' if timing['noisy'] else ''}) [{self.measured} measured]"
        )
        seconds = {"queued_s": started - arrived, "measured_s": time.perf_counter() - started}
        return _json(200, {"timing": timing, "fingerprint": fingerprint(), **seconds})


def parse_job(args: Any, model: bytes) -> Job:
    """A measurement request's fields, each checked against its bound."""
    runtime = args.get("runtime", "")
    offered = installed()
    if runtime not in offered:
        known = ", ".join(offered) or "none (install onnxruntime or openvino)"
        raise BadRequest(f"runtime {runtime!r} is not offered here; this agent has {known}")
    if not model:
        raise BadRequest("the body is empty: send the model file")
    try:
        shape = tuple(int(side) for side in args.get("shape", "").split(","))
    except ValueError:
        raise BadRequest("shape must be N,C,H,W in whole numbers, e.g. 1,3,32,32") from None
    elements = 1
    for side in shape:
        elements *= side
    if len(shape) != 4 or min(shape) < 1 or elements > MAX_SHAPE_ELEMENTS:
        raise BadRequest(f"shape must be 4 positive sides of at most {MAX_SHAPE_ELEMENTS:,} "
                         f"elements in all, got {args.get('shape', '')!r}")  # fmt: skip
    values = {key: _bounded(args, key, low, high) for key, (low, high) in PROTOCOL_BOUNDS.items()}
    hint = args.get("hint") or None
    return Job(runtime, model, shape, int(values["threads"]), int(values["warmup"]),
               float(values["min_run_time"]), hint)  # fmt: skip


def _bounded(args: Any, key: str, low: float, high: float) -> float:
    text = args.get(key)
    try:
        value = float(text) if isinstance(low, float) else int(text)
    except (TypeError, ValueError):
        value = None
    if value is None or not low <= value <= high:
        raise BadRequest(f"{key} must be a number in [{low}, {high}], got {text!r}")
    return value


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


def read_token(path: str) -> str:
    """The token from its file (the first line, stripped): at least `MIN_TOKEN_CHARS`."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.readline().strip()
    except (OSError, UnicodeDecodeError) as err:
        raise AutoKDError(f"--token-file '{path}' cannot be read ({err})") from None
    if len(token) < MIN_TOKEN_CHARS:
        raise AutoKDError(
            f"--token-file '{path}': the token must be at least {MIN_TOKEN_CHARS} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE)"
        )
    return token


def serve(app: AgentApp, host: str, port: int, *, ready: Callable[[int], None]) -> None:
    """Serve `app` until interrupted; `ready(port)` once it listens (port 0: any free one)."""
    from waitress.server import create_server

    # Waitress reads a body before the app sees the token: a body is bounded, kept in memory
    # (never spilled to a temporary file), and so are the connections holding one.
    server = create_server(app, host=host, port=port, threads=4, ident="autokd-agent",
                           max_request_body_size=app.max_body_bytes + 1,
                           inbuf_overflow=app.max_body_bytes + 1, connection_limit=CONNECTIONS,
                           channel_timeout=IDLE_SECONDS)  # fmt: skip
    ready(server.effective_port)
    try:
        server.run()
    finally:
        server.close()
        app.measurer.close()


def offered_runtimes() -> str:
    found = installed()
    return ", ".join(f"{name} {found[name]}" for name in RUNTIMES if name in found) or "none"
