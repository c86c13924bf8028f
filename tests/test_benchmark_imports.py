"""The benchmark scripts still name what autokd has: they run rarely (minutes to an hour, alone),
so a renamed function would otherwise be found only when someone needs a figure."""

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))
# `from autokd.x import a, b` or `import (...)`, in code and in the scripts handed to `python -c`
IMPORT = re.compile(r"from (autokd[\w.]*) import (?:\(([^)]*)\)|([\w ,]+))")


def named_imports(path: Path) -> list[tuple[str, str]]:
    found = []
    for module, grouped, inline in IMPORT.findall(path.read_text()):
        found += [(module, n.strip()) for n in (grouped or inline).split(",") if n.strip()]
    return found


def test_the_pattern_reads_every_form_the_scripts_use(tmp_path):
    path = tmp_path / "script.py"
    path.write_text("from autokd.a import b, c  # noqa\nfrom autokd.d import (\n    e,\n    f,\n)\n"
                    '"from autokd.g import h\\n"')  # fmt: skip
    assert named_imports(path) == [("autokd.a", "b"), ("autokd.a", "c"), ("autokd.d", "e"),
                                   ("autokd.d", "f"), ("autokd.g", "h")]  # fmt: skip


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_every_name_a_benchmark_imports_from_autokd_exists(script):
    for module, name in named_imports(script):
        found = hasattr(importlib.import_module(module), name) or importlib.util.find_spec(
            f"{module}.{name}"
        )
        assert found, f"{script.name}: {module}.{name}"
