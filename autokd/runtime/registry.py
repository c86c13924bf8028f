"""A table of named plug-ins of one kind (student families, KD terms, latency backends,
pruners, samplers, data sets): every `register_*` is one of these.

Registering notes the module that defines the entry (`plugins.remember_registration`), so a
search's worker processes import it too; looking up an unknown name is one `UnknownNameError`
line that lists the valid names and the closest one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from autokd.errors import UnknownNameError
from autokd.runtime.plugins import forget_registration, remember_registration

T = TypeVar("T")


class Registry(Generic[T]):
    """`kind` names the entries in messages ("student family 'x'"); `sort` lists the names
    sorted, else in the order they were registered (the first one is then the default)."""

    def __init__(self, kind: str, *, sort: bool = True) -> None:
        self.kind, self.sort = kind, sort
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, defined_by: Callable[..., Any] | type) -> T:
        """Register `entry` as `name` (again: it replaces the earlier one); `defined_by` is the
        function or class whose module a worker process must import to have it."""
        self._entries[name] = entry
        remember_registration(self.kind, name, defined_by)
        return entry

    def remove(self, name: str) -> None:
        """Take a registration back (a test's, a notebook's); an unknown name is no error."""
        self._entries.pop(name, None)
        forget_registration(self.kind, name)

    def names(self) -> list[str]:
        return sorted(self._entries) if self.sort else list(self._entries)

    def get(self, name: str, *, also_valid: Iterable[str] = ()) -> T:
        """The entry registered as `name`; `also_valid` are names the caller accepts besides
        the registered ones (listed in the error)."""
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, [*self.names(), *also_valid])
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries
