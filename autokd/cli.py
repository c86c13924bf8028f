"""The `autokd` command: a table of sub-commands; each parses its flags, calls the library
(`autokd.api`), prints what it returned, and returns an exit code.

Bad input raises `AutoKDError` anywhere below; here it becomes one line on stderr and exit code 2.
The defaults shown are the library's (`study.config.RunConfig`, `workflows.config`). Heavy
packages (torch, timm, optuna) are imported inside the handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autokd import __version__
from autokd.errors import AutoKDError, Terminated, printable
from autokd.records.yamlfiles import SPACES_FOLDER, TARGETS_FOLDER, shipped_names
from autokd.study.config import DEFAULT_SPACE, DEFAULT_TARGET
from autokd.study.config import SEARCH_DEFAULTS as SEARCH
from autokd.study.picks import PICKS
from autokd.study.pruners import list_pruners
from autokd.study.samplers import list_samplers
from autokd.workflows.config import DEFAULT_FULL_EPOCHS, DEFAULT_TOP_K


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2) like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**32 - 1, got {text!r}")
    return value


def _workers(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a number of worker processes (1 or more) or auto, got {text!r}"
        )
    return value


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_workers(p: argparse.ArgumentParser, help: str) -> None:  # noqa: A002 - argparse's name
    p.add_argument("--workers", type=_workers, default=SEARCH.workers, metavar="N", help=help)


def _add_execution(p: argparse.ArgumentParser) -> None:
    """--device and --precision: where training runs (independent of the latency target)."""
    p.add_argument(
        "--device",
        default=SEARCH.device,
        help="where students and the teacher train: auto (the GPU where there is one), cpu, "
        "cuda or cuda:N (default auto); the latency target is separate",
    )
    p.add_argument(
        "--precision",
        default=SEARCH.precision,
        choices=("mixed", "fp32"),
        help="mixed: autocast on CUDA (bfloat16 where supported, else float16 with a gradient "
        "scaler); fp32 turns it off. The CPU always trains in float32 (default mixed)",
    )


def _add_storage(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    p.add_argument(
        "--storage",
        metavar="URL",
        required=required,
        help="database of the study: postgresql://user:password@host/db, mysql://..., "
        "sqlite:///path.db (any URL Optuna supports; the password is never printed)"
        + ("" if required else "; default: the run folder's study.db"),
    )


def _add_run_source(p: argparse.ArgumentParser) -> None:
    """A run folder, or a run in a --storage database named by --name."""
    p.add_argument("run", nargs="?", help="run folder, e.g. runs/digits-cpu-20261125-120000")
    _add_storage(p)
    p.add_argument("--name", help="with --storage: the run's name")
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=SEARCH.runs_dir,
        help=f"with --storage: where the run's local folder goes (default {SEARCH.runs_dir})",
    )


def _run_of(args: argparse.Namespace) -> Any:
    """The `autokd.Run` a command names: a run folder, or --storage URL --name NAME."""
    import autokd

    if args.storage is None:
        if args.run is None:
            raise AutoKDError("give a run folder, or --storage URL and --name NAME")
        return autokd.open_run(args.run)
    if args.run is not None or args.name is None:
        raise AutoKDError("with --storage, name the run with --name NAME instead of a folder")
    return autokd.open_run(args.storage, name=args.name, runs_dir=args.runs_dir)


# --------------------------------------------------------------------------------------------
# autokd search


def _add_search(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "search",
        help="search students and distillation settings; write a run and its report",
        description="Sample student architectures and distillation settings, distil each briefly "
        "from the teacher, measure FLOPs and latency on the target, and write the Pareto front.",
    )
    p.add_argument(
        "--budget",
        type=_positive_int,
        default=SEARCH.budget,
        help="trials the study should hold; rerunning a --name continues up to it "
        f"(default {SEARCH.budget})",
    )
    p.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        help=f"hardware target: {', '.join(shipped_names(TARGETS_FOLDER))}, or a YAML path "
        f"(default {DEFAULT_TARGET})",
    )
    p.add_argument(
        "--space",
        default=DEFAULT_SPACE,
        help=f"search space: {', '.join(shipped_names(SPACES_FOLDER))}, or a YAML "
        f"path (default {DEFAULT_SPACE})",
    )
    p.add_argument(
        "--data",
        default=SEARCH.data,
        help="data set: digits, cifar10, cifar100, mnist, fashion-mnist (read from --data-dir), "
        "folder:PATH (a folder of class folders of images) or npz:PATH (x and y arrays); "
        "default digits. Images past $AUTOKD_IN_MEMORY_GB (default 2) of float32 are stored as "
        "8-bit pixels",
    )
    _add_data_preparation(p)
    p.add_argument(
        "--download",
        action="store_true",
        help="download a torchvision data set that --data-dir lacks",
    )
    p.add_argument(
        "--subset",
        type=_positive_int,
        metavar="N",
        help="search on a stratified subset of N training images",
    )
    p.add_argument(
        "--augment-policy",
        default=SEARCH.data_options.augment_policy,
        metavar="NAME",
        help="random views the teacher trains on (and autokd train --augment): auto (the data "
        "set's own: shifts for digits and MNIST, crops and flips for CIFAR; for a folder or npz, "
        "crops and flips for colour images, shifts for grey ones), shift, crop-flip or none "
        f"(default {SEARCH.data_options.augment_policy}; a continued run keeps its own)",
    )
    p.add_argument(
        "--teacher",
        action="append",
        metavar="NAME[:WEIGHT]",
        help=f"any timm model name (default {SEARCH.teacher}); give it several times, or a comma "
        "list, for an ensemble: logits averaged with the weights, features from the first",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--teacher-weights",
        type=Path,
        metavar="PATH",
        help="checkpoint of a teacher trained on this data (skips training it)",
    )
    source.add_argument(
        "--teacher-pretrained",
        action="store_true",
        help="fine-tune the teacher from timm's pretrained weights (needs the "
        "internet once) instead of training it from scratch",
    )
    p.add_argument(
        "--teacher-epochs",
        type=_positive_int,
        default=SEARCH.teacher_epochs,
        help=f"epochs to train the teacher when it is not cached (default {SEARCH.teacher_epochs})",
    )
    p.add_argument(
        "--teacher-max-minutes",
        type=_nonnegative_float,
        default=SEARCH.teacher_max_minutes,
        metavar="M",
        help="refuse a teacher whose training, estimated from timed steps before it starts, "
        f"would take longer (default {SEARCH.teacher_max_minutes:g}; 0: no bound)",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=SEARCH.epochs,
        help=f"training epochs per trial (default {SEARCH.epochs})",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=SEARCH.batch_size,
        help=f"training batch size (default {SEARCH.batch_size})",
    )
    p.add_argument(
        "--name",
        help="run name (default <data>-<target>-<date>-<time>); "
        "an existing run of this name is continued",
    )
    p.add_argument(
        "--runs-dir",
        type=Path,
        default=SEARCH.runs_dir,
        help=f"folder of run folders (default {SEARCH.runs_dir})",
    )
    _add_reports_dir(p, f"folder for the HTML report (default {SEARCH.reports_dir})")
    p.add_argument(
        "--seed",
        type=_seed,
        default=SEARCH.seed,
        help=f"seed of the data split, teacher, sampler and training (default {SEARCH.seed})",
    )
    p.add_argument(
        "--sampler",
        default=SEARCH.sampler,
        help=f"{', '.join(list_samplers())} (default {SEARCH.sampler}; nni-* need the nni extra)",
    )
    p.add_argument(
        "--pruner",
        choices=list_pruners(),
        default=SEARCH.pruner,
        help="mo-asha (default): stop students that cannot reach the front (judged at "
        "rungs --epochs/9, --epochs/3, --epochs: 1, 2, 5 for 5); none: every trial trains "
        "--epochs",
    )
    p.add_argument(
        "--latency",
        choices=("measure", "predict"),
        default=SEARCH.latency,
        help="measure (default): time every student; predict: time the first 10, then only "
        "students that could reach the front, the others keeping the latency predictor's "
        "value (flagged latency_predicted in trials.csv, never on the front)",
    )
    limits = p.add_argument_group(
        "constraints", "a student over a limit is measured, then rejected without training"
    )
    limits.add_argument(
        "--max-latency-ms",
        type=_positive_float,
        metavar="X",
        help="latency on the target at most X ms",
    )
    limits.add_argument("--max-flops", type=_positive_int, metavar="N", help="at most N FLOPs")
    limits.add_argument(
        "--max-params", type=_positive_int, metavar="N", help="at most N parameters"
    )
    _add_workers(
        p,
        "worker processes that run trials at once (default auto: one per physical core on the "
        "CPU, one per GPU on CUDA); each CPU worker trains with one thread",
    )
    _add_execution(p)
    _add_storage(p)
    _add_quiet(p)
    p.set_defaults(handler=_search)


def _add_data_preparation(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the torchvision data sets are (default <cache>/data)",
    )
    p.add_argument(
        "--input-size",
        type=_positive_int,
        metavar="S",
        help="resize images to SxS (default: the data set's own size; digits 16)",
    )


def _search(args: argparse.Namespace) -> int:
    import autokd

    started = time.perf_counter()
    try:
        run = autokd.search(
            data=args.data,
            teacher=args.teacher or SEARCH.teacher,
            space=args.space,
            target=args.target,
            budget=args.budget,
            epochs=args.epochs,
            sampler=args.sampler,
            pruner=args.pruner,
            latency=args.latency,
            workers=args.workers,
            device=args.device,
            precision=args.precision,
            storage=args.storage,
            name=args.name,
            runs_dir=args.runs_dir,
            reports_dir=args.reports_dir,
            seed=args.seed,
            batch_size=args.batch_size,
            teacher_weights=args.teacher_weights,
            teacher_pretrained=args.teacher_pretrained,
            teacher_epochs=args.teacher_epochs,
            teacher_max_minutes=args.teacher_max_minutes,
            data_dir=args.data_dir,
            download=args.download,
            subset=args.subset,
            input_size=args.input_size,
            augment_policy=args.augment_policy,
            max_latency_ms=args.max_latency_ms,
            max_flops=args.max_flops,
            max_params=args.max_params,
            progress=not args.quiet,
        )
    except autokd.SearchInterrupted as stop:
        _say_search(stop.run, started, storage=args.storage)
        print(
            f"autokd: interrupted; run the same command with --name {stop.run.name} to continue",
            file=sys.stderr,
        )
        return 143 if stop.terminated else 130
    _say_search(run, started, storage=args.storage)
    return 0


def _say_search(run: Any, started: float, *, storage: str | None) -> None:
    s = run.summary
    complete = s.trials.get("complete", 0)
    best = f"{s.best_accuracy:.4f}" if s.best_accuracy is not None else "-"
    print(
        f"autokd: {complete} complete trials ({run.trials_run} run now) in "
        f"{_duration(time.perf_counter() - started)}; {s.pareto_size} students on the front; "
        f"best accuracy {best} (teacher {s.teacher.name} {s.teacher.accuracy:.4f})"
    )
    if s.stopped:
        print(
            f"  {s.stopped} students stopped early by {s.pruner} ({s.epochs_saved} epochs, about "
            f"{s.timings.get('stopped_saved_s', 0):.0f} s of training saved); the others "
            f"trained {s.epochs} epochs"
        )
    if s.rejected:
        print(
            f"  {s.rejected} students over the limits were rejected untrained (about "
            f"{s.timings.get('rejected_saved_s', s.timings.get('training_saved_s', 0)):.0f} s of "
            "training saved)"
        )
    if complete == 0 and run.trials_run:
        failed = s.trials.get("fail", 0)
        print(
            f"  no student finished: {s.rejected} over the limits, {s.stopped} stopped early, "
            f"{failed} failed (trials.csv says why); this is not a front: loosen the limits or "
            "fix what failed, then rerun with the same --name",
            file=sys.stderr,
        )
    training = s.training
    print(f"  trained on {training.device} ({training.precision}) by {training.workers_plan}")
    if training.failed_workers:
        print(f"  {training.failed_workers} worker process(es) failed: see their errors above")
    where = "study.db" if not storage else f"study in {_masked(storage)}"
    print(f"  run:    {printable(run.path)}/ (trials.csv, pareto.csv, summary.json, {where})")
    print(f"  report: {printable(run.report_path)}")
    if s.latency_prediction:
        from autokd.study.latency_plan import prediction_text

        print(f"  {prediction_text(s.latency_prediction)}")
    _warn_if_teacher_behind(s)


def _warn_if_teacher_behind(summary: Any) -> None:
    from autokd.teachers.checks import teacher_behind_note

    teacher = summary.teacher
    note = teacher_behind_note(teacher.name, teacher.accuracy, summary.best_accuracy)
    if note:
        print(f"autokd: warning: {note}", file=sys.stderr)


def _masked(url: str) -> str:
    from autokd.records.storage import masked

    return masked(url)


# --------------------------------------------------------------------------------------------
# autokd worker


def _add_worker(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "worker",
        help="join a running search in a shared --storage and run its trials",
        description="Join run NAME in the study database URL, on this machine or another: read "
        "the run's settings from the study, prepare the same data and teacher (checked by their "
        "hashes: from a shared AUTOKD_CACHE_DIR, or prepared again), and run trials until the "
        "run's budget is met. The students' weights go to the run's weights folder recorded in "
        "the study (shared between the machines), or --weights-dir.",
    )
    p.add_argument(
        "--storage",
        metavar="URL",
        help="the study database (as given to autokd search --storage); default $AUTOKD_STORAGE",
    )
    p.add_argument("--name", required=True, help="the run's name (its study in the storage)")
    _add_execution(p)
    p.add_argument(
        "--weights-dir",
        type=Path,
        metavar="DIR",
        help="where this machine sees the run's weights folder, if not at the recorded path",
    )
    # What a search passes to the workers it starts (`study.workers.start_local_workers`)
    p.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=_positive_int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--plugins", default="", help=argparse.SUPPRESS)
    _add_quiet(p)
    p.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace) -> int:
    from autokd.runtime.plugins import load_plugins
    from autokd.runtime.settings import STORAGE_VARIABLE, Settings
    from autokd.study.workers import stop_with_parent

    stop_with_parent(args.parent)  # a worker a search started never outlives it, even a killed one
    storage = args.storage or Settings.from_environment().storage
    if not storage:
        raise AutoKDError(f"give --storage URL (or set {STORAGE_VARIABLE})")
    load_plugins(args.plugins.split(","), source="the search that started this worker")
    import autokd

    ran = autokd.worker(
        storage=storage,
        name=args.name,
        device=args.device,
        weights_dir=args.weights_dir,
        threads=args.threads,
        index=args.worker_index,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(f"autokd: worker ran {ran} trial(s) of run {args.name}; its budget is met")
    return 0


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# --------------------------------------------------------------------------------------------
# autokd targets, autokd measure


def _add_targets(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "targets",
        help="list the hardware targets and whether this machine can measure on them",
        description="List the shipped hardware targets with a line on each, and whether this "
        "machine can measure on it.",
    )
    p.set_defaults(handler=_targets)


def _targets(args: argparse.Namespace) -> int:
    import autokd

    targets = autokd.list_targets()
    width = max(len(target.name) for target in targets)
    for target in targets:
        state = "usable" if target.usable else "not usable here: " + target.why_not.split(";")[0]
        print(f"{target.name:<{width}} {target.description}  [{state}]")
    print("A YAML file of your own works wherever a name does: see hardware/README.md")
    return 0


def _add_measure(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "measure",
        help="check that latencies on a target repeat: two passes in fresh processes",
        description="Sample N architectures from a search space, time them on the target, time "
        "them again in a fresh process (no cache), and print the share within +-10%% and the "
        "Spearman rank correlation between the two passes.",
    )
    p.add_argument("--target", default="cpu", help="hardware target name or YAML (default cpu)")
    p.add_argument("--space", default="cnn", help="search space name or YAML (default cnn)")
    p.add_argument("--data", default="digits", help="data set whose shape the students take")
    _add_data_preparation(p)
    p.add_argument("-n", type=_positive_int, default=20, help="architectures (default 20)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the sampled architectures")
    p.add_argument("-o", "--output", type=Path, help="also write the numbers to this JSON file")
    p.set_defaults(handler=_measure)


def _measure(args: argparse.Namespace) -> int:
    import autokd
    from autokd.measure.stability import TOLERANCE
    from autokd.records.cache import write_json

    result = autokd.measure_stability(
        target=args.target,
        space=args.space,
        data=args.data,
        n=args.n,
        seed=args.seed,
        data_dir=args.data_dir,
        input_size=args.input_size,
    )
    print(f"{'architecture':<60} {'first ms':>9} {'second ms':>10} {'change':>8}")
    for arch, a, b in zip(result.architectures, result.first_ms, result.second_ms, strict=True):
        print(f"{arch[:60]:<60} {a:>9.4f} {b:>10.4f} {(b - a) / a:>+8.1%}")
    print(
        f"autokd: target {result.target}: {result.within_tolerance:.0%} of "
        f"{len(result.first_ms)} re-measurements within +-{TOLERANCE:.0%}; Spearman rank "
        f"correlation {_rho(result.spearman)}"
    )
    if result.local_ms is not None:
        print(
            f"  against this machine's same runtime: {result.local_within_tolerance:.0%} within "
            f"+-{TOLERANCE:.0%}; Spearman {_rho(result.local_spearman)} (agent / here: median "
            f"ratio {_median_ratio(result.first_ms, result.local_ms):.2f})"
        )
    if result.predictor is not None:
        error, rho = result.predictor, _rho(result.predictor.spearman)
        print(
            f"  latency predictor (additive per operator) learned from {error.trained_on} of "
            f"them: {error.within:.0%} of the other {error.tested_on} predicted within "
            f"+-{TOLERANCE:.0%}; Spearman {rho}"
        )
    if args.output:
        write_json(args.output, result.to_dict())
    return 0


def _rho(value: float | None) -> str:
    """A rank correlation as `autokd measure` prints it (n/a below three students)."""
    return "n/a" if value is None else f"{value:.3f}"


def _median_ratio(first: list[float], second: list[float]) -> float:
    import statistics

    return statistics.median(a / b for a, b in zip(first, second, strict=True) if b > 0)


# --------------------------------------------------------------------------------------------
# autokd report


def _add_report(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "report",
        help="re-render a run's HTML report from its study",
        description="Re-render the HTML report of a run folder from its study.",
    )
    _add_run_source(p)
    p.add_argument("-o", "--output", type=Path, help="HTML file (default reports/<run name>.html)")
    _add_reports_dir(p, "folder for the report when -o is not given (default reports)")
    p.set_defaults(handler=_report)


def _add_reports_dir(p: argparse.ArgumentParser, help: str) -> None:  # noqa: A002
    p.add_argument("--reports-dir", type=Path, default=SEARCH.reports_dir, help=help)


def _report(args: argparse.Namespace) -> int:
    import autokd

    path = autokd.report(_run_of(args), reports_dir=args.reports_dir, output=args.output)
    print(f"autokd: report written to {printable(path)}")
    return 0


# --------------------------------------------------------------------------------------------
# autokd remeasure


def _add_remeasure(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "remeasure",
        help="time the front's doubtful latencies again, on a quiet machine",
        description="Time again the students of a run's front whose latency was timed while "
        "other programs took the cores (contended), with a wide spread (noisy) or in too few "
        "blocks, with the run's own target and protocol. The new timings are stored in the "
        "study and used by trials.csv, pareto.csv, the report and export. Run it with nothing "
        "else working on the machine.",
    )
    _add_run_source(p)
    p.add_argument(
        "--all", action="store_true", help="time every student of the front again, not only "
        "the doubtful ones",
    )  # fmt: skip
    _add_reports_dir(p, "the run's report is rewritten as <folder>/<run name>.html")
    _add_quiet(p)
    p.set_defaults(handler=_remeasure)


def _remeasure(args: argparse.Namespace) -> int:
    import autokd

    run = _run_of(args)
    result = autokd.remeasure(
        run, every=args.all, reports_dir=args.reports_dir, progress=not args.quiet
    )
    if not result.retimed:
        print(f"autokd: no latency of run {run.name}'s front is doubtful; nothing timed again")
        print("  (--all times every student of the front again)")
        return 0
    print(f"  trial  before ms  doubt        now ms  {'doubt':<10}  architecture")
    for r in result.retimed:
        print(
            f"  {r.trial:>5}  {r.before_ms:>9.4f}  {r.before_doubt or '-':<11}"
            f"{r.latency.median_ms:>8.4f}  {r.doubt or '-':<10}  {r.architecture}"
        )
    print(
        f"autokd: {len(result.retimed)} students of run {run.name} timed again on target "
        f"{result.target}; {result.still_doubtful} still doubtful; the front has "
        f"{len(result.front_after)} students (had {len(result.front_before)})"
    )
    busy = sum(r.doubt == "contended" for r in result.retimed)
    if busy:
        print(f"  {busy} timed while the machine was still busy: stop what else runs, remeasure")
    if result.still_doubtful > busy:
        print(
            f"  {result.still_doubtful - busy} still spread widely or timed in few blocks: "
            "remeasure again, or give the target a longer min_run_time"
        )
    print(f"  report: {printable(Path(args.reports_dir) / f'{run.name}.html')}")
    return 0


# --------------------------------------------------------------------------------------------
# autokd compare


def _add_compare(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "compare",
        help="overlay the fronts of several runs in one report",
        description="Draw the fronts of several runs on the same axes, with each run's "
        "hypervolume against one shared reference point and a table of what differs between "
        "the runs.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (two or more)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("reports/compare.html"),
        help="HTML file (default reports/compare.html)",
    )
    p.add_argument(
        "--allow-mixed-targets",
        action="store_true",
        help="draw runs whose latencies were measured on different targets or "
        "machines (labelled; their latencies are not comparable)",
    )
    p.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    import autokd

    comparison = autokd.compare(
        args.runs, output=args.output, allow_mixed_targets=args.allow_mixed_targets
    )
    for run in comparison.data.runs:
        print(
            f"  {run.name}: hypervolume {run.hypervolume:.4f}, "
            f"{len(run.fronts['latency_ms'])} on the accuracy-latency front"
        )
    if comparison.data.mixed_targets:
        print("  warning: the runs' latencies come from different targets or machines")
    print(f"autokd: comparison written to {printable(comparison.path)}")
    return 0


# --------------------------------------------------------------------------------------------
# autokd export


def _add_export(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "export",
        help="export a student of a run: config, weights, ONNX, TorchScript",
        description="Write a self-describing bundle for one student of a run (student.yaml, "
        "weights, ONNX with a dynamic batch axis, TorchScript), check the ONNX and TorchScript "
        "outputs against PyTorch, and print the command for its full training.",
    )
    _add_run_source(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--trial", type=_seed, metavar="N", help="export trial N")
    which.add_argument(
        "--pick",
        default="knee",
        help=f"which Pareto student: {', '.join(PICKS)} (default knee: on the accuracy-latency "
        "front, the student farthest above the line from the fastest to the most accurate)",
    )
    p.add_argument(
        "--max-latency-ms",
        type=_positive_float,
        metavar="X",
        help="pick only among Pareto students at most X ms slow",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle folder to write")
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    import autokd

    bundle = autokd.export(
        _run_of(args),
        output=args.output,
        trial=args.trial,
        pick=args.pick,
        max_latency_ms=args.max_latency_ms,
        force=args.force,
    )
    metrics, parity = bundle.description.metrics, bundle.description.parity
    deployed = (
        "" if metrics.accuracy_fp32 is None else f" deployed, {metrics.accuracy_fp32:.4f} float32"
    )
    print(
        f"autokd: exported trial {bundle.description.source.trial} to {printable(bundle.path)}/ "
        f"(accuracy "
        f"{metrics.accuracy:.4f}{deployed}, {metrics.latency_ms:.3f} ms, {metrics.flops:,} FLOPs); "
        f"ONNX and TorchScript match PyTorch within {parity['onnx']:.1e} and "
        f"{parity['torchscript']:.1e}"
    )
    if "deployed" in bundle.description.files:
        print(
            f"  deployed model: {printable(bundle.path / bundle.description.files['deployed'])} "
            f"(accuracy "
            f"{metrics.accuracy:.4f} on the validation images, checked again now)"
        )
    bundle_arg = printable(shlex.quote(str(bundle.path)))
    print(f"  full training: autokd train {bundle_arg} --epochs {DEFAULT_FULL_EPOCHS}")
    return 0


# --------------------------------------------------------------------------------------------
# autokd train


def _add_train(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "train",
        help="train an exported student fully, with the search's distillation settings",
        description="Train the bundle's student from scratch with the same engine and "
        "distillation settings as the search (or on labels alone with --no-kd), with a checkpoint "
        "every epoch; writes result.json and the weights.",
    )
    p.add_argument("bundle", help="bundle folder written by autokd export")
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULT_FULL_EPOCHS,
        help=f"training epochs (default {DEFAULT_FULL_EPOCHS})",
    )
    p.add_argument(
        "--no-kd", action="store_true", help="train on labels alone: the baseline of the KD gain"
    )
    _add_augment(p)
    p.add_argument(
        "--all-images",
        action="store_true",
        help="train on every training image when the run searched on a --subset of them "
        "(the same validation images)",
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the initial weights and the batch order (default 0)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        help="output folder (default <bundle>/train-<kd|nokd>[-aug][-all]-e<epochs>-s<seed>)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted training")
    p.add_argument("--force", action="store_true", help="start a non-empty output folder over")
    p.add_argument(
        "--qat",
        action="store_true",
        help="then fine-tune the trained student with fake quantization (NNCF) and the same KD "
        "terms, and quantize it again: result.json gives the deployed accuracy after "
        "post-training quantization and after QAT (a bundle of an INT8 target)",
    )
    p.add_argument(
        "--qat-epochs",
        type=_positive_int,
        metavar="N",
        help="epochs of the quantization-aware fine-tuning (default: a fifth of --epochs, "
        "at least 1)",
    )
    _add_teacher_weights(p)
    _add_execution(p)
    _add_quiet(p)
    p.set_defaults(handler=_train)


def _add_augment(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--augment",
        action="store_true",
        help="train on the random views of the run's --augment-policy (shifts; crops and flips "
        "for CIFAR and colour folders) with the teacher run live on each, instead of the stored "
        "images and cached teacher outputs the search used",
    )


def _add_teacher_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--teacher-weights",
        type=Path,
        metavar="PATH",
        help="the teacher's checkpoint, when autokd's cache no longer has it",
    )


def _train(args: argparse.Namespace) -> int:
    import autokd

    if args.resume and args.force:
        raise AutoKDError("--resume continues a training and --force starts it over: pick one")
    result = autokd.train(
        args.bundle,
        epochs=args.epochs,
        kd=not args.no_kd,
        augment=args.augment,
        all_images=args.all_images,
        seed=args.seed,
        output=args.output,
        resume=args.resume,
        force=args.force,
        teacher_weights=args.teacher_weights,
        device=args.device,
        precision=args.precision,
        progress=not args.quiet,
        qat=args.qat,
        qat_epochs=args.qat_epochs,
    )
    print(
        f"autokd: trained {'with' if result.kd else 'without'} KD for {result.epochs} "
        f"epochs in {_duration(result.seconds)}: final accuracy "
        f"{result.final_val_accuracy:.4f} (best {result.best_val_accuracy:.4f}, search "
        f"{result.search_accuracy:.4f}); {result.latency_ms:.3f} ms on {result.target}"
    )
    if result.qat is not None:
        print(
            f"  deployed on {result.target}: accuracy {result.qat.deployed_accuracy_ptq:.4f} "
            f"quantized after training, {result.qat.deployed_accuracy:.4f} after "
            f"{result.qat.epochs} epoch(s) of quantization-aware fine-tuning"
        )
    elif result.deployed_accuracy is not None:
        print(f"  deployed on {result.target}: accuracy {result.deployed_accuracy:.4f}")
    print(f"  result: {printable(result.output)}/result.json")
    print(f"  files: {', '.join(result.files.values())}")
    return 0


# --------------------------------------------------------------------------------------------
# autokd validate


def _add_validate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "validate",
        help="check the search's ranking and the KD gain by training the best students longer",
        description="Retrain K students of a run's front (spread evenly along it by latency, "
        "from the fastest to the slowest) for E epochs, with and without distillation (same "
        "seed); report the Kendall tau between their search accuracy and their longer-training "
        "accuracy, and each KD gain. Stored in the run and shown in its report.",
    )
    _add_run_source(p)
    p.add_argument(
        "--top-k",
        type=_positive_int,
        default=DEFAULT_TOP_K,
        help=f"Pareto students to retrain, spread along the front (default {DEFAULT_TOP_K})",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULT_FULL_EPOCHS,
        help=f"epochs of each retraining (default {DEFAULT_FULL_EPOCHS})",
    )
    p.add_argument("--seed", type=_seed, default=0, help="seed of every retraining (default 0)")
    _add_teacher_weights(p)
    _add_augment(p)
    _add_execution(p)
    _add_workers(
        p,
        "processes that retrain at once (default auto: one per physical core, each with one "
        "training thread; 1 trains in this process with every core)",
    )
    _add_reports_dir(
        p, "the run's report is rewritten as <folder>/<run name>.html (default reports)"
    )
    _add_quiet(p)
    p.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    import autokd

    run = _run_of(args)
    result = autokd.validate(
        run,
        top_k=args.top_k,
        epochs=args.epochs,
        seed=args.seed,
        teacher_weights=args.teacher_weights,
        augment=args.augment,
        device=args.device,
        precision=args.precision,
        workers=args.workers,
        reports_dir=args.reports_dir,
        progress=not args.quiet,
    )
    print(
        f"autokd: {result.students_validated} students, {result.epochs} epochs "
        f"(search: {result.search_epochs})"
    )
    print("  trial  search acc  KD acc  no-KD acc  KD gain")
    for s in result.students:
        print(
            f"  {s.trial:>5}  {s.search_accuracy:>10.4f}  {s.kd_accuracy:.4f}  "
            f"{s.no_kd_accuracy:>9.4f}  {s.kd_gain:+.4f}"
        )
    tau = result.kendall_tau
    tau_text = "undefined (fewer than two students, or all tied)" if tau is None else f"{tau:.3f}"
    print(
        f"  Kendall tau (search vs longer training): {tau_text}; mean KD gain "
        f"{result.mean_kd_gain:+.4f}"
    )
    report = Path(args.reports_dir) / f"{run.name}.html"
    print(f"  stored in {printable(run.path)}/validation.json; report: {printable(report)}")
    return 0


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# autokd agent


def _add_agent(commands: argparse._SubParsersAction) -> None:
    from autokd.measure.agent.limits import (
        MAX_BODY_BYTES,
        MEASURE_TIMEOUT_SECONDS,
        QUEUE_WAIT_SECONDS,
    )

    p = commands.add_parser(
        "agent",
        help="serve latency measurements on this device to searches elsewhere",
        description="Time the students a search on another machine sends (ONNX files, which "
        "run no Python code) with autokd's protocol on this device's runtimes, and answer with "
        "the measurement and this device's fingerprint. Every request but GET /health needs "
        'the token (Authorization: Bearer TOKEN). Needs no PyTorch: see the README, "Latency '
        'on another device".',
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 "
                   "for every interface)")  # fmt: skip
    p.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free)")
    p.add_argument("--token-file", required=True, metavar="PATH",
                   help="file whose first line is the token (at least 16 characters)")  # fmt: skip
    p.add_argument("--max-model-mb", type=_positive_float, default=MAX_BODY_BYTES / 2**20,
                   help=f"largest model accepted (default {MAX_BODY_BYTES >> 20} MiB)")  # fmt: skip
    p.add_argument("--queue-wait", type=_positive_float, default=QUEUE_WAIT_SECONDS,
                   metavar="S", help="seconds a request waits for the measurement before it "
                   f"(default {QUEUE_WAIT_SECONDS:g}); then 503")  # fmt: skip
    p.add_argument("--measure-timeout", type=_positive_float, default=MEASURE_TIMEOUT_SECONDS,
                   metavar="S", help="seconds one measurement may take, loading included "
                   f"(default {MEASURE_TIMEOUT_SECONDS:g}); then 504")  # fmt: skip
    p.set_defaults(handler=_agent)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}")
    return value


def _agent(args: argparse.Namespace) -> int:
    from autokd.measure.agent.server import AgentApp, offered_runtimes, read_token, serve

    app = AgentApp(
        read_token(args.token_file),
        max_body_bytes=int(args.max_model_mb * 2**20),
        queue_wait_s=args.queue_wait,
        measure_timeout_s=args.measure_timeout,
    )

    def ready(port: int) -> None:
        print(f"autokd agent: listening on http://{args.host}:{port} (runtimes: "
              f"{offered_runtimes()}); Ctrl-C stops it", file=sys.stderr, flush=True)  # fmt: skip

    serve(app, args.host, args.port, ready=ready)
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_search,
    _add_worker,
    _add_agent,
    _add_report,
    _add_remeasure,
    _add_compare,
    _add_targets,
    _add_measure,
    _add_export,
    _add_train,
    _add_validate,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="autokd",
        description="Search the best small student to distil from a teacher, with the trade-off "
        "between accuracy, FLOPs and latency measured on your hardware.",
    )
    parser.add_argument("--version", action="version", version=f"autokd {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(commands)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _say_error(line: str) -> None:
    """One line on stderr, whatever it holds: a control character or an undecodable byte of a
    file name is shown escaped, never breaks the line or raises UnicodeEncodeError."""
    line = printable(line)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    print(line.encode(encoding, "backslashreplace").decode(encoding), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_lost_interrupts(previous_hook)
    try:
        from autokd.runtime.plugins import load_plugins
        from autokd.runtime.settings import Settings

        # the user's terms and families, before any command reads a space or a record
        load_plugins(Settings.from_environment().plugins)
        return args.handler(args)
    except AutoKDError as err:
        _say_error(f"autokd: error: {err}")
        return 2
    except OSError as err:  # the file system refused: say which file and why, in one line
        where = f" '{err.filename}'" if err.filename else ""
        _say_error(f"autokd: error: cannot write or read{where}: {err.strerror or err}")
        return 1
    except KeyboardInterrupt as stop:
        print("autokd: interrupted", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    finally:
        sys.unraisablehook = previous_hook
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _quiet_lost_interrupts(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """A Ctrl-C or SIGTERM (`Terminated`) that lands in a finalizer is dropped by Python, which
    prints its traceback; the worker loop remembers it and stops at the next trial boundary
    all the same (`study.workers`), so the user sees one line, not a traceback. Anything else:
    `previous`."""

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)

    return hook


if __name__ == "__main__":
    sys.exit(main())
