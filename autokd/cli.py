"""The `autokd` command: a table of sub-commands; each parses, acts, and returns an exit code.

Bad input raises `AutoKDError` anywhere below; here it becomes one line on stderr and exit code 2.
Heavy packages (torch, timm, optuna) are imported inside the handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from autokd import __version__
from autokd.config import DEFAULT_TEACHER, DEFAULT_TEACHER_EPOCHS, SAMPLERS, shipped_names
from autokd.errors import AutoKDError

DEFAULT_BUDGET = 50
DEFAULT_EPOCHS = 5


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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**32 - 1, got {text!r}")
    return value


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
        default=DEFAULT_BUDGET,
        help="trials the study should hold; rerunning a --name continues up to it "
        f"(default {DEFAULT_BUDGET})",
    )
    p.add_argument(
        "--target",
        default="cpu",
        help=f"hardware target: {', '.join(shipped_names('hardware'))}, or a YAML path "
        "(default cpu)",
    )
    p.add_argument(
        "--space",
        default="cnn",
        help=f"search space: {', '.join(shipped_names('search_spaces'))}, or a YAML "
        "path (default cnn)",
    )
    p.add_argument("--data", default="digits", help="data set (default digits)")
    p.add_argument(
        "--teacher",
        default=DEFAULT_TEACHER,
        help=f"any timm model name (default {DEFAULT_TEACHER})",
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
        default=DEFAULT_TEACHER_EPOCHS,
        help="epochs to train the teacher when it is not cached "
        f"(default {DEFAULT_TEACHER_EPOCHS})",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=DEFAULT_EPOCHS,
        help=f"training epochs per trial (default {DEFAULT_EPOCHS})",
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=64, help="training batch size (default 64)"
    )
    p.add_argument(
        "--name",
        help="run name (default <data>-<target>-<date>-<time>); "
        "an existing run of this name is continued",
    )
    p.add_argument(
        "--runs-dir", type=Path, default=Path("runs"), help="folder of run folders (default runs)"
    )
    p.add_argument(
        "--reports-dir",
        type=Path,
        default=Path("reports"),
        help="folder for the HTML report (default reports)",
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the data split, teacher, sampler and training (default 0)",
    )
    p.add_argument("--sampler", default="tpe", help=f"{', '.join(SAMPLERS)} (default tpe)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    from autokd import search
    from autokd.config import RunConfig, check_choice, load_space, load_target
    from autokd.data import get_dataset
    from autokd.records import check_run_name

    space = load_space(args.space)
    target = load_target(args.target)
    sampler = check_choice("sampler", args.sampler, SAMPLERS)
    get_dataset(args.data)
    name = check_run_name(args.name or _new_run_name(args.runs_dir, f"{args.data}-{target.name}"))
    config = RunConfig(
        name=name,
        runs_dir=args.runs_dir,
        reports_dir=args.reports_dir,
        budget=args.budget,
        space=space,
        target=target,
        data=args.data,
        teacher=args.teacher,
        teacher_weights=args.teacher_weights,
        teacher_pretrained=args.teacher_pretrained,
        teacher_epochs=args.teacher_epochs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        sampler=sampler,
    )
    started = time.perf_counter()
    outcome = search.run(config, progress=not args.quiet)
    s = outcome.summary
    teacher = s["teacher"]
    complete = s["trials"].get("complete", 0)
    best = f"{s['best_accuracy']:.4f}" if s["best_accuracy"] is not None else "-"
    print(
        f"autokd: {complete} complete trials ({outcome.trials_run} run now) in "
        f"{_duration(time.perf_counter() - started)}; {s['pareto_size']} students on the front; "
        f"best accuracy {best} (teacher {teacher['name']} {teacher['accuracy']:.4f})"
    )
    print(f"  run:    {outcome.folder.path}/ (trials.csv, pareto.csv, summary.json, study.db)")
    print(f"  report: {outcome.report_path}")
    if outcome.interrupted:
        print(
            f"autokd: interrupted; run the same command with --name {name} to continue",
            file=sys.stderr,
        )
        return 130
    return 0


def _new_run_name(runs_dir: Path, prefix: str) -> str:
    """`<prefix>-<date>-<time>`, with `-2`, `-3`, ... when a run started in the same second."""
    name = f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    candidate, n = name, 1
    while (runs_dir / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# --------------------------------------------------------------------------------------------
# autokd report


def _add_report(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "report",
        help="re-render a run's HTML report from its study",
        description="Re-render the HTML report of a run folder from its study.",
    )
    p.add_argument("run", help="run folder, e.g. runs/digits-cpu-20261125-120000")
    p.add_argument("-o", "--output", type=Path, help="HTML file (default reports/<run name>.html)")
    p.add_argument(
        "--reports-dir",
        type=Path,
        default=Path("reports"),
        help="folder for the report when -o is not given (default reports)",
    )
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from autokd.records import find_run
    from autokd.report import write_run_report

    folder = find_run(args.run)
    path = write_run_report(folder, reports_dir=args.reports_dir, output=args.output)
    print(f"autokd: report written to {path}")
    return 0


# --------------------------------------------------------------------------------------------

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_search, _add_report]


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except AutoKDError as err:
        print(f"autokd: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the file system refused: say which file and why, in one line
        where = f" '{err.filename}'" if err.filename else ""
        print(f"autokd: error: cannot write or read{where}: {err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("autokd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
