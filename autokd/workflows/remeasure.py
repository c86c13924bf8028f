"""`autokd remeasure`: time the front's doubtful latencies again, on a quieter machine.

A latency timed while other programs took the cores (`contended`), with a wide spread (`noisy`)
or in too few blocks is recorded as such and never cached (`measure.latency`). This times those
students of the front again with the run's own target and protocol, stores each new timing in
the study (`REMEASURED_ATTR`: Optuna keeps a finished trial's values as they were, so every
table autokd builds reads the new timing over the first), caches the trusted ones for later
runs, and rewrites trials.csv, pareto.csv and summary.json. A student that stays doubtful keeps
its new timing and its flag: the machine was still busy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from autokd.measure.latency import LatencyMeasurement
from autokd.measure.metrics import MetricsCache
from autokd.measure.targets import Target, load_target, parse_target
from autokd.records import attrs as names
from autokd.records.cache import write_json
from autokd.records.codec import to_mapping
from autokd.records.folder import RunFolder, load_study, read_worker_record
from autokd.runtime.settings import Settings
from autokd.study.controller import yaml_from_record
from autokd.study.tables import latency_doubt, trials_frame, write_tables
from autokd.study.trial import TrialRecord


@dataclass(frozen=True)
class Retimed:
    trial: int
    architecture: str
    before_ms: float  # the latency the tables read before this re-timing
    before_doubt: str  # why it was doubtful ("" when it was not)
    latency: LatencyMeasurement
    doubt: str  # why the new one is ("" when it is trusted)


@dataclass(frozen=True)
class RemeasureResult:
    target: str
    retimed: list[Retimed]
    still_doubtful: int  # of the retimed, those whose new timing is doubtful too
    front_before: list[int]
    front_after: list[int]


def remeasure_run(
    folder: RunFolder, *, every: bool = False, settings: Settings, progress: bool = True
) -> RemeasureResult:
    """Time the doubtful latencies of the run's front again (`every`: the whole front)."""
    study = load_study(folder)
    target = _run_target(folder, study, settings)
    frame = trials_frame(study)
    front = frame[frame["is_pareto"]].sort_values("latency_ms")
    chosen = front if every else front[front["latency_doubt"] != ""]
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    metrics = MetricsCache(settings)
    retimed = []
    from tqdm.auto import tqdm

    rows = tqdm(
        list(chosen.itertuples(index=False)), desc="re-timing", unit="student",
        disable=not progress,
    )  # fmt: skip
    for row in rows:
        config = TrialRecord.from_attrs(trials[row.number].user_attrs).student
        latency = metrics.retime(config, target)
        doubt = latency_doubt(_attrs_of(latency))
        retimed.append(
            Retimed(int(row.number), row.architecture, row.latency_ms, row.latency_doubt,
                    latency, doubt)
        )  # fmt: skip
    if retimed:
        _store(study, retimed)
    after = trials_frame(study)
    _rewrite_outputs(folder, study, after)
    return RemeasureResult(
        target=target.name,
        retimed=retimed,
        still_doubtful=sum(bool(r.doubt) for r in retimed),
        front_before=front["number"].astype(int).tolist(),
        front_after=after[after["is_pareto"]].sort_values("latency_ms")["number"].tolist(),
    )


def _run_target(folder: RunFolder, study: Any, settings: Settings) -> Target:
    """The target the run timed on: its file as the study recorded it, or (a run from before
    the record) as its summary describes it."""
    stored = study.user_attrs.get(names.RUN_ATTR)
    if stored is not None:
        record = read_worker_record(stored, f"run '{folder.name}'")
        return load_target(yaml_from_record(record.target, settings.cache_dir))
    recorded = folder.read_summary().target
    return parse_target(Path(recorded.name), recorded.name, to_mapping(recorded))


def _store(study: Any, retimed: list[Retimed]) -> None:
    """The new timings over the first ones, in the study (one attribute for the whole run)."""
    stored = dict(study.user_attrs.get(names.REMEASURED_ATTR, {}))
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in retimed:
        first = stored.get(str(r.trial), {}).get("first_latency_ms", r.before_ms)
        stored[str(r.trial)] = {
            **_attrs_of(r.latency),
            names.LATENCY_REMEASURED_ATTR: when,
            "first_latency_ms": first,  # as the search timed it, however often timed again
        }
    study.set_user_attr(names.REMEASURED_ATTR, stored)


def _attrs_of(latency: LatencyMeasurement) -> dict[str, Any]:
    return {
        names.LATENCY_ATTR: latency.median_ms,
        names.LATENCY_IQR_ATTR: latency.iqr_ms,
        names.LATENCY_NOISY_ATTR: latency.noisy,
        names.LATENCY_CONTENDED_ATTR: latency.contended,
        names.LATENCY_BLOCKS_ATTR: latency.blocks,
        names.LATENCY_ATTEMPTS_ATTR: latency.attempts,
        names.LATENCY_DEVICE_ATTR: latency.device,
    }


def _rewrite_outputs(folder: RunFolder, study: Any, frame: Any) -> None:
    """trials.csv, pareto.csv and the summary's front, as the new timings make them."""
    front = write_tables(folder, frame)
    if not folder.summary_json.is_file():
        return
    summary = folder.read_summary()
    summary = dataclasses.replace(
        summary,
        pareto_size=int(len(front)),
        updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    write_json(folder.summary_json, summary.to_dict())
    if folder.storage:
        study.set_user_attr(names.SUMMARY_ATTR, summary.to_dict())
