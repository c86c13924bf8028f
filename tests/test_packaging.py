"""The shipped YAML files resolve by name from an installed wheel, not only from the checkout."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_ships_the_yaml_files_and_resolves_them_by_name(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("autokd-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for spec in (ROOT / "search_spaces").glob("*.yaml"):
        assert f"autokd/search_spaces/{spec.name}" in names
    for target in (ROOT / "hardware").glob("*.yaml"):
        assert f"autokd/hardware_targets/{target.name}" in names
    assert "autokd/py.typed" in names
    modules = {str(f.relative_to(ROOT)) for f in (ROOT / "autokd").rglob("*.py")}
    assert modules <= set(names), sorted(modules - set(names))  # every package listed

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import autokd, autokd.study.space as c, autokd.measure.targets as t;"
        "print(autokd.__file__); print(c.load_space('cnn').source);"
        "print(t.load_target('cpu').source)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": ""},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    package, space, target = result.stdout.split()
    for path in (package, space, target):
        assert path.startswith(str(site)), path
