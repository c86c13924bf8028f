"""The one exception family autokd raises for bad input, and its "did you mean" helper.

The CLI turns any `AutoKDError` into one line on stderr and exit code 2; anything else is a bug
and keeps its traceback. `TrialFailed` is not bad input: it ends one trial, never the search.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AutoKDError(Exception):
    """Bad input or an unusable environment, explained in one line for the user."""


class ConfigError(AutoKDError):
    """A YAML file or command-line value breaks a rule; the message names the file and key."""


class TrialFailed(Exception):
    """One trial cannot give a result (its student diverged, or cannot fit in memory): the
    trial is recorded FAIL with this message as its reason, and the search goes on."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or `kill` stopping autokd): handled exactly like Ctrl-C, exit 143."""


class UnknownNameError(AutoKDError):
    """A name that is not in a registry; the message lists the valid names and the closest."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], *, hint: str = "") -> None:
        self.kind, self.name = kind, name
        self.valid = sorted(valid)
        super().__init__(unknown_name_message(kind, name, self.valid, hint=hint))


def unknown_name_message(kind: str, name: str, valid: list[str], *, hint: str = "") -> str:
    """`unknown target 'cpx' (did you mean 'cpu'?); valid: cpu, cpu-1t`; long lists: the closest."""
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.5)
    guess = f" (did you mean '{close[0]}'?)" if close else ""
    if len(valid) <= 20:
        shown = ", ".join(valid)
    else:
        shown = f"{len(valid)} names" + (f", the closest: {', '.join(close)}" if close else "")
    printable = name if name.isprintable() else repr(name)[1:-1]  # a newline stays one line
    return f"unknown {kind} '{printable}'{guess}; valid: {shown}{hint}"


def check_choice(kind: str, value: str, valid: Iterable[str]) -> str:
    """`value` when it is one of `valid`, else `UnknownNameError` listing them."""
    valid = list(valid)
    if value not in valid:
        raise UnknownNameError(kind, value, valid)
    return value


def printable(text: object) -> str:
    """`text` as it may be printed inside one line: a control character (a newline or a
    terminal escape in a file name) shown escaped, as Python writes it (`\\n`, `\\x1b`)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))
