"""Facts about the machine a run measures on: CPU model, physical cores, library versions."""

from __future__ import annotations

import functools
import os
import platform
import sys
from pathlib import Path
from typing import Any


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@functools.cache
def physical_cores() -> int:
    """Distinct (package, core) pairs in /proc/cpuinfo; the logical count where that is missing."""
    pairs: set[tuple[str, str]] = set()
    package = core = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                package = line.split(":", 1)[1].strip()
            elif line.startswith("core id"):
                core = line.split(":", 1)[1].strip()
                pairs.add((package, core))
    except OSError:
        pass
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(len(pairs), logical or 1) if pairs else (logical or 1)


def environment_info() -> dict[str, Any]:
    """What a run records about where it ran, so its latencies can be read in context."""
    import optuna
    import timm
    import torch

    return {
        "cpu": cpu_model(),
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "optuna": optuna.__version__,
        "training_threads": torch.get_num_threads(),
    }
