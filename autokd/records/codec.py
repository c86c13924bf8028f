"""Frozen dataclasses to and from the JSON/YAML mappings autokd writes, checked on the way in.

A record that autokd writes (summary.json, an export bundle's student.yaml) is a dataclass whose
fields carry plain types: str, int, float, bool, dict, list, another such dataclass, a tuple of
them, or any of these `| None`. `from_mapping` reads a mapping into one, field by field:

- a key missing from the mapping takes the field's default; without a default it is an error;
- a value of the wrong JSON type is an error naming the key's path (`teacher.accuracy`);
- keys the dataclass does not name are kept in its `extra` field when it has one (so a newer
  writer's keys, or a data set's options, survive a read and a write), and dropped otherwise.

`to_mapping` is the inverse: `extra` is spread back beside the named fields. A dataclass with
its own `from_dict` and `to_dict` (not `Codable`'s) nested in a record is read and written by
them (`distill.config.KDConfig`).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; autokd runs on 3.10

Record = TypeVar("Record")
EXTRA = "extra"


class RecordError(ValueError):
    """A mapping that does not have a record's shape; `key` is the dotted path at fault."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{problem} '{key}'")
        self.key, self.problem = key, problem


class Codable:
    """A record's `from_dict` and `to_dict`, for frozen dataclasses that are read and written."""

    @classmethod
    def from_dict(cls, mapping: Any) -> Self:
        """Raises RecordError naming the key that is missing or of the wrong type."""
        return from_mapping(cls, mapping)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)


def from_mapping(cls: type[Record], mapping: Any, *, path: str = "") -> Record:
    """An instance of dataclass `cls` from `mapping`, every value type-checked (module doc)."""
    if not isinstance(mapping, Mapping):
        raise RecordError(path or cls.__name__, "expected a mapping at")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        key = f"{path}.{field.name}" if path else field.name
        if field.name == EXTRA:
            named = {f.name for f in dataclasses.fields(cls)}
            values[EXTRA] = {k: v for k, v in mapping.items() if k not in named}
        elif field.name in mapping:
            values[field.name] = _value(hints[field.name], mapping[field.name], key)
        elif not _has_default(field):
            raise RecordError(key, "lacks key")
    return cls(**values)


def to_mapping(record: Any) -> dict[str, Any]:
    """The plain dict of `record` (nested records and tuples included), `extra` spread back."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if field.name == EXTRA:
            out.update(value)
        else:
            out[field.name] = plain(value)
    return out


def plain(value: Any) -> Any:
    """`value` as JSON and YAML hold it: records as dicts, tuples as lists, all the way down."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        own = getattr(type(value), "to_dict", None)
        return plain(value.to_dict()) if _own(own, "to_dict") else to_mapping(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _has_default(field: dataclasses.Field[Any]) -> bool:
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )


def _value(kind: Any, value: Any, key: str) -> Any:
    """`value` checked against the annotation `kind`, converted where a record nests."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, value, key)
    if dataclasses.is_dataclass(kind):
        own = getattr(kind, "from_dict", None)
        if not _own(own, "from_dict"):
            return from_mapping(kind, value, path=key)
        if not isinstance(value, Mapping):
            raise RecordError(key, "expected a mapping at")
        try:
            return own(value)
        except (KeyError, TypeError, ValueError) as err:
            raise RecordError(key, f"has a wrong value ({err!r}) for key") from None
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise RecordError(key, "has a wrong value (expected a list) for key")
        return tuple(_value(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    plain = origin or kind
    if plain is Any or _is_a(value, plain):
        return float(value) if plain is float else value
    raise RecordError(key, f"has a wrong value (expected {plain.__name__}) for key")


def _own(method: Any, name: str) -> bool:
    """Whether `method` is a record's own `name`, not Codable's (nor missing)."""
    return method is not None and getattr(method, "__func__", method) is not getattr(
        getattr(Codable, name), "__func__", getattr(Codable, name)
    )


def _is_a(value: Any, kind: type) -> bool:
    if isinstance(value, bool):  # JSON true is no number
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)
