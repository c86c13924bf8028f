"""Reading autokd's YAML files: a shipped name or the user's path, strict YAML, known keys.

Every YAML file is checked completely when it is loaded: a wrong type, an out-of-range value or an
unknown key raises `ConfigError` naming the file and the dotted key, so a typo never surfaces later
as a `KeyError` in the middle of a search.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from autokd.errors import ConfigError, UnknownNameError, unknown_name_message

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # autokd/
SPACES_FOLDER = "search_spaces"
TARGETS_FOLDER = "hardware"
# Inside a wheel the shipped YAML folders live in the package under these names (pyproject.toml).
_WHEEL_FOLDER = {SPACES_FOLDER: "search_spaces", TARGETS_FOLDER: "hardware_targets"}


# --------------------------------------------------------------------------------------------
# Shipped YAML files: a name resolves to the shipped file, a path to the user's own file.


def shipped_dir(folder: str) -> Path:
    """The folder holding autokd's own YAML files, in a wheel or in a source checkout."""
    for candidate in (PACKAGE_DIR / _WHEEL_FOLDER[folder], PACKAGE_DIR.parent / folder):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"autokd's shipped '{folder}' folder is missing from the installation")


def shipped_names(folder: str) -> list[str]:
    return sorted(p.stem for p in shipped_dir(folder).glob("*.yaml"))


def resolve_yaml(folder: str, name_or_path: str | Path, *, kind: str) -> Path:
    """Turn `cpu` into the shipped `hardware/cpu.yaml`; a path (with / or .yaml) stays a path."""
    text = str(name_or_path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in a file name (surrogate escapes)
        shown = ascii(text)[1:-1]
        raise ConfigError(f"{kind} file name '{shown}' is not valid UTF-8; rename it") from None
    if isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"{kind} file '{text}' does not exist")
        return path
    path = shipped_dir(folder) / f"{text}.yaml"
    if not path.is_file():
        raise UnknownNameError(
            kind, text, shipped_names(folder), hint=", or a path to a .yaml file"
        )
    return path


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML
    keeps the last value, and the user's first one would be dropped without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float)):
                continue  # an unhashable key: PyYAML's own error follows
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


MAX_YAML_BYTES = 1 << 20  # a space or target file is a few hundred bytes
MAX_YAML_DEPTH = 32  # nested mappings and lists (autokd's own files: 4)
MAX_YAML_NODES = 100_000  # values once every alias is expanded ("billion laughs")


def check_yaml_bounds(path: Path, text: str) -> None:
    """Refuse a YAML text nested too deep or growing too large through aliases, from its event
    stream (no recursion, nothing built): each node's size counts the nodes its aliases stand
    for, so a few lines that expand to billions are refused in milliseconds."""
    anchored: dict[str, int] = {}  # anchor -> the expanded size of its node
    open_nodes: list[list[Any]] = []  # [anchor, size so far] of each open mapping or list
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([event.anchor, 1])
            if len(open_nodes) > MAX_YAML_DEPTH:
                raise ConfigError(f"{path}: nested deeper than {MAX_YAML_DEPTH} levels")
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, anchored.get(event.anchor, 1)
        else:
            continue
        if anchor is not None:
            anchored[anchor] = size
        if open_nodes:
            open_nodes[-1][1] += size
            grown = open_nodes[-1][1]
        else:
            total += size
            grown = total
        if grown > MAX_YAML_NODES:
            raise ConfigError(
                f"{path}: expands to more than {MAX_YAML_NODES:,} values (aliases repeated "
                "inside aliases?); autokd's files need no aliases"
            )


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES >> 20} MiB; is it YAML?")
        text = path.read_text(encoding="utf-8")
        check_yaml_bounds(path, text)
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text (is it a YAML file?)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a mapping of keys to values at the top level")
    return data


def description_of(path: Path, raw: dict[str, Any]) -> str:
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{path}: key 'description' must be text, got {description!r}")
    return description


def check_keys(path: Path, prefix: str, mapping: Mapping[str, Any], allowed: list[str]) -> None:
    for key in mapping:
        if key not in allowed:
            message = unknown_name_message("key", f"{prefix}{key}", [prefix + a for a in allowed])
            raise ConfigError(f"{path}: {message}")


def file_digest(path: Path) -> str:
    """A short hash of a file's bytes: its identity for runs that must not change under them."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def stable_hash(value: Any) -> str:
    """A short hash of a JSON-able value that is the same in every process and on every machine."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
