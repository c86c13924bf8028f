"""`autokd agent` on loopback against the local target of the same runtime.

1. `autokd measure --target remote.yaml -n N`: the agent's own repeatability (two passes in
   fresh processes, both through the agent) and its agreement with this machine's ONNX Runtime
   on the same students (the local pass the command adds for a remote target).
2. `autokd measure` on that local target: this machine's own repeatability, beside it.
3. The overhead per measurement: N students sent to the agent one by one; the request's wall
   time against the seconds the agent spent measuring (the rest is export-free transfer, HTTP
   and the queue), and the whole remote measurement against the local one (both include the
   ONNX export).

Usage: python benchmarks/agent.py [-n 20] [--runtime onnxruntime]
Writes benchmarks/results/agent.json and prints Markdown for the README. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import autokd, save_result


def start_agent(work: Path, token: str) -> tuple[subprocess.Popen, str]:
    (work / "token").write_text(token + "\n")
    agent = subprocess.Popen(
        [sys.executable, "-m", "autokd", "agent", "--port", "0", "--token-file",
         str(work / "token")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    line = agent.stderr.readline()
    if "listening on " not in line:
        sys.exit(f"the agent did not start: {line}")
    return agent, line.split("listening on ")[1].split()[0]


def write_targets(work: Path, url: str, runtime: str) -> tuple[Path, Path]:
    protocol = "threads: 1\nbatch_size: 1\nwarmup: 10\nmin_run_time: 0.3\n"
    remote = work / "remote.yaml"
    remote.write_text(
        f"description: {runtime} on the agent at {url}\nbackend: remote\n"
        f"url: {url}\nruntime: {runtime}\ntoken_env: AUTOKD_AGENT_TOKEN\n{protocol}"
    )
    local = work / "local.yaml"
    local.write_text(f"description: {runtime} here, one thread\nbackend: {runtime}\n{protocol}")
    return remote, local


def overhead(remote: Path, local: Path, n: int) -> list[dict]:
    """Each student timed through the agent and here, with the wall time of each."""
    from autokd.measure.backends.remote import farm
    from autokd.measure.latency import measure_latency
    from autokd.measure.targets import load_target
    from autokd.students import build_student
    from autokd.study.space import load_space, sample_architectures

    remote_target, local_target = load_target(remote), load_target(local)
    answers = []
    agents = farm(remote_target)
    original = agents.measure

    def recorded(model: bytes, fields: dict) -> object:
        answer = original(model, fields)
        answers.append(answer)
        return answer

    agents.measure = recorded  # the answers' timings, as the search gets them
    rows = []
    for config in sample_architectures(load_space("cnn"), (1, 16, 16), 10, n, seed=1):
        model = build_student(config)
        started = time.perf_counter()
        there = measure_latency(model, remote_target, (1, 16, 16))
        remote_wall = time.perf_counter() - started
        started = time.perf_counter()
        here = measure_latency(model, local_target, (1, 16, 16))
        local_wall = time.perf_counter() - started
        answer = answers[-1]
        rows.append({
            "architecture": config.describe(),
            "agent_ms": there.median_ms, "local_ms": here.median_ms,
            "remote_wall_s": remote_wall, "local_wall_s": local_wall,
            "request_s": answer.seconds, "agent_measured_s": answer.measured_s,
            "overhead_s": answer.seconds - answer.measured_s,
        })  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--runtime", default="onnxruntime")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="autokd-agent-"))
    token = secrets.token_urlsafe(32)
    os.environ["AUTOKD_AGENT_TOKEN"] = token
    agent, url = start_agent(work, token)
    try:
        remote, local = write_targets(work, url, args.runtime)
        autokd("measure", "--target", str(remote), "-n", str(args.n), "-o", "remote.json",
               cwd=work)  # fmt: skip
        autokd("measure", "--target", str(local), "-n", str(args.n), "-o", "local.json", cwd=work)
        through_agent = json.loads((work / "remote.json").read_text())
        here = json.loads((work / "local.json").read_text())
        rows = overhead(remote, local, args.n)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    result = {
        "runtime": args.runtime,
        "n": args.n,
        "agent_repeat_within": through_agent["within_tolerance"],
        "agent_repeat_spearman": through_agent["spearman"],
        "agent_vs_local_within": through_agent["local_within_tolerance"],
        "agent_vs_local_spearman": through_agent["local_spearman"],
        "agent_vs_local_median_ratio": statistics.median(
            a / b for a, b in zip(through_agent["first_ms"], through_agent["local_ms"], strict=True)
        ),
        "local_repeat_within": here["within_tolerance"],
        "local_repeat_spearman": here["spearman"],
        "overhead_median_ms": 1e3 * statistics.median(r["overhead_s"] for r in rows),
        "overhead_max_ms": 1e3 * max(r["overhead_s"] for r in rows),
        "request_median_s": statistics.median(r["request_s"] for r in rows),
        "remote_wall_median_s": statistics.median(r["remote_wall_s"] for r in rows),
        "local_wall_median_s": statistics.median(r["local_wall_s"] for r in rows),
        "rows": rows,
    }
    path = save_result("agent", result)
    print(f"wrote {path}")
    print(
        f"| {args.runtime}, 1 thread, {args.n} students | agent twice: "
        f"{result['agent_repeat_within']:.0%} within +-10%, Spearman "
        f"{result['agent_repeat_spearman']:.2f} | agent vs here: "
        f"{result['agent_vs_local_within']:.0%}, Spearman {result['agent_vs_local_spearman']:.2f}, "
        f"median ratio {result['agent_vs_local_median_ratio']:.2f} | here twice: "
        f"{result['local_repeat_within']:.0%}, Spearman {result['local_repeat_spearman']:.2f} | "
        f"overhead {result['overhead_median_ms']:.1f} ms median (max "
        f"{result['overhead_max_ms']:.1f}); a measurement {result['remote_wall_median_s']:.2f} s "
        f"through the agent, {result['local_wall_median_s']:.2f} s here |"
    )


if __name__ == "__main__":
    main()
