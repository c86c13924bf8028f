"""The search's side of `autokd agent`: one agent, or a farm of identical ones, over HTTP.

`AgentFarm.check` runs before the teacher trains: every agent must answer `/health`, accept the
token on `/info`, offer the target's runtime, and (several) report the same fingerprint; each
failure is one line naming the agent. `AgentFarm.measure` sends a model to the next agent in
turn; an agent that does not answer (refused, reset, timed out, busy) is set aside for
`RETRY_AFTER_SECONDS` and the next one is tried, so a farm loses no trial to one dead device,
and an agent that comes back is used again; when every agent is set aside a trial first waits
for the first one due (at most the target's `timeout`), so a short outage does not fail trial
after trial. A model the agent cannot measure (its answer 422) fails the trial with the agent's
reason; so does a farm with no agent left. Requests follow no redirect and use no proxy (either
would carry the token elsewhere), and an answer of another shape is refused, never cached.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from autokd.errors import AutoKDError, TrialFailed

RETRY_AFTER_SECONDS = 30.0  # an agent that failed to answer is tried again after this
CHECK_TIMEOUT_SECONDS = 10.0  # `/health` and `/info` before the search
FINGERPRINT_KEYS = ("cpu", "cores", "machine", "system")  # a farm's agents must agree on these


TIMING_FIELDS = {"median_s": float, "iqr_s": float, "blocks": int, "calls_per_block": int,
                 "attempts": int, "noisy": bool, "contended": bool}  # fmt: skip


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """An agent answers itself: a redirect (which urllib would follow with the token, to any
    host) is refused."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxy (a proxy would see the token of an http:// agent) and no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


class AgentUnreachable(Exception):
    """No answer from the agent (connection refused or reset, timed out, busy, 5xx)."""


@dataclass(frozen=True)
class AgentAnswer:
    timing: dict[str, Any]
    fingerprint: dict[str, Any]
    url: str
    seconds: float  # the request's wall time: transfer, queue and measurement
    measured_s: float  # of which the agent spent measuring (loading the model included)


class AgentClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self._token = token

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health", timeout=CHECK_TIMEOUT_SECONDS, auth=False)

    def info(self) -> dict[str, Any]:
        return self._request("GET", "/info", timeout=CHECK_TIMEOUT_SECONDS)

    def measure(self, model: bytes, fields: dict[str, Any], *, timeout: float) -> AgentAnswer:
        started = time.perf_counter()
        query = urllib.parse.urlencode(fields)
        answer = self._request("POST", f"/measure?{query}", body=model, timeout=timeout)
        _check_answer(answer, self.url)
        wall = time.perf_counter() - started
        measured = float(answer.get("measured_s", 0.0))
        return AgentAnswer(answer["timing"], answer["fingerprint"], self.url, wall, measured)

    def _request(
        self, method: str, path: str, *, timeout: float, body: bytes | None = None,
        auth: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers=headers)  # fmt: skip
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as err:
            reason = _error_text(err)
            if err.code == 401:
                raise AutoKDError(f"agent {self.url} refused the token ({reason})") from None
            if err.code == 503 or err.code >= 500 and err.code != 504:
                raise AgentUnreachable(f"agent {self.url} is busy or failing ({reason})") from None
            raise RemoteRefused(err.code, f"agent {self.url}: {reason}") from None
        except (OSError, ValueError, http.client.HTTPException) as err:  # (URLError, timeouts)
            why = getattr(err, "reason", None) or err or type(err).__name__
            raise AgentUnreachable(f"agent {self.url} does not answer ({why})") from None
        if not isinstance(answer, dict):
            raise AgentUnreachable(f"agent {self.url} answered something else than an agent")
        return answer


class RemoteRefused(Exception):
    """The agent answered, and refused: the request or the model (its reason inside)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _check_answer(answer: dict[str, Any], url: str) -> None:
    """A measurement answer of the agent's shape and types, or AgentUnreachable: nothing
    malformed reaches a trial or the cache."""
    timing = answer.get("timing")
    fingerprint = answer.get("fingerprint")
    ok = (
        isinstance(timing, dict)
        and isinstance(fingerprint, dict)
        and all(
            type(timing.get(key)) is kind or (kind is float and type(timing.get(key)) is int)
            for key, kind in TIMING_FIELDS.items()
        )
    )
    if not ok or not (math.isfinite(timing["median_s"]) and timing["median_s"] > 0):
        raise AgentUnreachable(f"agent {url} answered a malformed measurement")


def _error_text(err: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(err.read()).get("error", err.reason))
    except (ValueError, OSError, AttributeError):
        return f"HTTP {err.code} {err.reason}"


class AgentFarm:
    """Identical agents measuring in turn (see the module doc)."""

    def __init__(self, urls: tuple[str, ...], token: str, *, timeout: float) -> None:
        self.agents = [AgentClient(url, token) for url in urls]
        self.timeout = timeout
        self._next = 0
        self._set_aside: dict[str, tuple[float, str]] = {}  # url -> (tried again at, why)
        self._lock = threading.Lock()

    def check(self, runtime: str) -> dict[str, Any]:
        """Every agent answers, takes the token and offers `runtime`; their fingerprint."""
        prints = []
        for agent in self.agents:
            try:
                agent.health()
                info = agent.info()
            except AgentUnreachable as err:
                raise AutoKDError(f"{err}; start it with `autokd agent` on the device") from None
            except RemoteRefused as err:
                raise AutoKDError(f"{err} (is it an autokd agent?)") from None
            fingerprint = info.get("fingerprint")
            offered = fingerprint.get("runtimes") if isinstance(fingerprint, dict) else None
            if not isinstance(offered, dict):
                raise AutoKDError(f"agent {agent.url} gave no fingerprint (is it an autokd agent?)")
            if runtime not in offered:
                raise AutoKDError(
                    f"agent {agent.url} offers no {runtime} (it has "
                    f"{', '.join(offered) or 'none'}); install it there or choose another runtime"
                )
            prints.append((agent.url, fingerprint))
        first_url, first = prints[0]
        for url, other in prints[1:]:
            differ = [k for k in FINGERPRINT_KEYS if other.get(k) != first.get(k)]
            differ += (
                []
                if other["runtimes"].get(runtime) == first["runtimes"][runtime]
                else [f"{runtime} version"]
            )
            if differ:
                raise AutoKDError(
                    f"agents {first_url} and {url} are not identical devices ({', '.join(differ)} "
                    "differ); a farm's latencies must come from one kind of device"
                )
        return first

    def measure(self, model: bytes, fields: dict[str, Any]) -> AgentAnswer:
        """The model measured by the next agent that answers; TrialFailed when none does or
        the agent refuses the model."""
        reasons = []
        if not self._in_turn(advance=False):  # every agent failed moments ago: wait for one
            time.sleep(max(0.0, min(self.timeout, self._next_due() - time.monotonic())))
        for agent in self._in_turn():
            try:
                return agent.measure(model, fields, timeout=self.timeout)
            except AgentUnreachable as err:
                with self._lock:
                    self._set_aside[agent.url] = (time.monotonic() + RETRY_AFTER_SECONDS, str(err))
                reasons.append(str(err))
            except RemoteRefused as err:
                raise TrialFailed(str(err)) from None
        if not reasons:  # every agent failed moments ago: what they said then
            with self._lock:
                reasons = [why for _, why in self._set_aside.values()]
            reasons[-1] += f" (each is tried again {RETRY_AFTER_SECONDS:g} s after it failed)"
        raise TrialFailed(f"no agent measured the student: {'; '.join(reasons)}")

    def _next_due(self) -> float:
        with self._lock:
            return min((due for due, _ in self._set_aside.values()), default=time.monotonic())

    def _in_turn(self, *, advance: bool = True) -> list[AgentClient]:
        """The agents from the next in turn, those set aside (and not yet due) left out."""
        with self._lock:
            start, now = self._next, time.monotonic()
            if advance:
                self._next = (self._next + 1) % len(self.agents)
            order = self.agents[start:] + self.agents[:start]
            return [a for a in order if self._set_aside.get(a.url, (0.0, ""))[0] <= now]
