"""`autokd measure`: is the latency axis stable on this machine?

N architectures (sampled from a search space by the caller: `study.space`) are timed twice,
each pass in a fresh process and without the latency cache (a cached number would agree with
itself). The two passes are compared: the share of architectures whose second median is within
+-10% of the first, and the Spearman rank correlation between the passes (what a search needs:
the same order of students).

Run as `python -m autokd.measure.stability CONFIGS.json TARGET OUT.json` it is the worker of one
pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from autokd.errors import AutoKDError
from autokd.measure.metrics import latency_input_shape
from autokd.measure.predictor import PredictorError, held_out_error, operator_features
from autokd.measure.targets import Target
from autokd.students import StudentSpec, student_from_dict

TOLERANCE = 0.10  # a re-measurement within +-10% of the first counts as agreeing


@dataclass(frozen=True)
class StabilityResult:
    target: str
    architectures: list[str]
    first_ms: list[float]
    second_ms: list[float]
    within_tolerance: float  # share of architectures whose second median is within +-10%
    spearman: float | None  # rank correlation of the two passes; None for fewer than 3
    # A target measured elsewhere (`remote`): the same students timed on this machine's runtime
    local_ms: list[float] | None = None
    local_within_tolerance: float | None = None  # of the first pass against this machine's
    local_spearman: float | None = None
    # The latency predictor (`measure.predictor`) fitted on the first half of the first pass,
    # judged on the other half: students it did not learn from
    predictor: PredictorError | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_pass(configs: list[StudentSpec], target: str, folder: Path, label: str
              ) -> list[float]:  # fmt: skip
    """Time every config in a new Python process on `target` (its file); returns the medians
    in milliseconds."""
    source = folder / "configs.json"
    source.write_text(json.dumps([c.to_dict() for c in configs]))
    output = folder / f"{label}.json"
    done = subprocess.run(
        [sys.executable, "-m", "autokd.measure.stability", str(source), target, str(output),
         label],
        stdout=subprocess.DEVNULL, stderr=None, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise AutoKDError(f"the {label} measuring process failed (exit {done.returncode})")
    return json.loads(output.read_text())


def check_stability(configs: list[StudentSpec], target: Target) -> StabilityResult:
    """Time `configs` on `target` in two fresh processes and compare the passes; a target
    measured elsewhere is also compared with a pass on this machine's same runtime."""
    from autokd.measure.backends import get_backend

    elsewhere = get_backend(target.backend).elsewhere
    with tempfile.TemporaryDirectory(prefix="autokd-measure-") as folder:
        first = _run_pass(configs, target.source, Path(folder), "first pass")
        second = _run_pass(configs, target.source, Path(folder), "second pass")
        local = None
        if elsewhere is not None:
            twin = Path(folder) / f"{target.name}-here.yaml"
            twin.write_text(yaml.safe_dump(elsewhere.local_twin(target)))
            local = _run_pass(configs, str(twin), Path(folder), "this machine")
    within, rho = agreement(first, second)
    predictor = None
    if len(configs) >= 4:
        features = [operator_features(c, latency_input_shape(c, target), target.batch_size)
                    for c in configs]  # fmt: skip
        predictor = held_out_error(features, first, trained_on=len(configs) // 2)
    local_within, local_rho = agreement(first, local) if local else (None, None)
    return StabilityResult(
        target=target.name,
        architectures=[c.describe() for c in configs],
        first_ms=first,
        second_ms=second,
        within_tolerance=within,
        spearman=rho,
        local_ms=local,
        local_within_tolerance=local_within,
        local_spearman=local_rho,
        predictor=predictor,
    )


def agreement(first: list[float], second: list[float]) -> tuple[float, float | None]:
    """The share of `second` within +-`TOLERANCE` of `first`, and their Spearman rank
    correlation (None for fewer than 3)."""
    from scipy.stats import spearmanr

    agree = [abs(b - a) <= TOLERANCE * a for a, b in zip(first, second, strict=True)]
    rho = float(spearmanr(first, second).statistic) if len(first) >= 3 else None
    return sum(agree) / len(agree), rho


def _worker(configs_path: str, target_ref: str, output_path: str, label: str) -> None:
    from tqdm.auto import tqdm

    from autokd.measure.latency import measure_latency
    from autokd.measure.metrics import latency_input_shape
    from autokd.measure.targets import load_target
    from autokd.students import build_student

    target = load_target(target_ref)
    configs = [student_from_dict(c) for c in json.loads(Path(configs_path).read_text())]
    medians = []
    for config in tqdm(configs, desc=label, unit="architecture"):
        shape = latency_input_shape(config, target)
        medians.append(measure_latency(build_student(config), target, shape).median_ms)
    Path(output_path).write_text(json.dumps(medians))


if __name__ == "__main__":
    _worker(*sys.argv[1:5])
