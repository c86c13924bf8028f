"""Process-wide state that autokd changes while it works, and puts back: a library call (the
API's `autokd.study()` and friends) leaves the calling process as it found it.

What autokd changes on purpose: PyTorch's intra-op thread count (every training process fixes
it, `runtime.cores`), Optuna's log verbosity (its per-trial INFO lines would bury the progress
bar), the SIGINT and SIGTERM handlers (a worker defers them around storage calls), and the level
of one torch logger (a CUDA_HOME notice). PyTorch's inter-op thread count can be set once per
process only, before any parallel work; autokd sets it to 1 when it can and cannot undo it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

_QUIETED_LOGGERS = ("torch.utils.cpp_extension",)


@contextlib.contextmanager
def optuna_quiet() -> Iterator[None]:
    """Optuna at WARNING for the block (its INFO line per trial), as it was afterwards."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


@contextlib.contextmanager
def process_state_kept() -> Iterator[None]:
    """Everything this module's docstring lists, restored when the block ends, however."""
    import torch

    threads = torch.get_num_threads()
    levels = {name: logging.getLogger(name).level for name in _QUIETED_LOGGERS}
    on_main_thread = threading.current_thread() is threading.main_thread()
    handlers = (
        {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)} if on_main_thread else {}
    )
    try:
        with optuna_quiet():
            yield
    finally:
        torch.set_num_threads(threads)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for number, handler in handlers.items():
            if handler is not None and signal.getsignal(number) is not handler:
                signal.signal(number, handler)
