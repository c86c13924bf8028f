"""Shared fixtures: one cache folder per test session, the digits data, a tiny trained teacher."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Every test (and every `autokd` subprocess a test starts) uses one cache folder of its own, so
# the tests never read or fill the user's ~/.cache/autokd, and the tiny teacher trains once.
TINY_TEACHER = "test_resnet"  # timm's own test model: 0.4 M parameters, trains in seconds
pytest_plugins = ["tests.pg_cluster"]  # `postgres_url`: a throwaway PostgreSQL cluster


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("autokd-cache")
    os.environ["AUTOKD_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def settings(_isolated_cache: Path):
    """The settings an API call would read here: the session's own cache folder."""
    from autokd.runtime.settings import Settings

    return Settings.from_environment()


@pytest.fixture(scope="session")
def digits(settings):
    from autokd.data import load_data

    return load_data("digits", seed=0, settings=settings)


@pytest.fixture(scope="session")
def tiny_teacher(digits, settings):
    from autokd.teachers import prepare_teacher

    return prepare_teacher(
        TINY_TEACHER, digits, epochs=1, seed=0, progress=False, settings=settings
    )


@pytest.fixture(scope="session")
def tiny_outputs(tiny_teacher, digits, settings):
    from autokd.teachers.outputs import teacher_outputs

    outputs, _ = teacher_outputs(tiny_teacher, digits, settings=settings)
    return outputs


@pytest.fixture
def teacher_on_noise(monkeypatch):
    """For an in-process search on noise images (a test of the data, not of the teacher): no
    teacher beats chance there, which a run refuses (tests/test_teacher_checks.py)."""
    from autokd.study import controller

    monkeypatch.setattr(controller, "check_teacher_beats_chance", lambda *a, **k: None)
