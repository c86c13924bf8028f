"""The teacher a run distils from: one timm model (`timm.py`) or an ensemble of them
(`ensemble.py`), prepared once (trained and cached, or loaded), and its outputs on every
training image computed once and cached (`outputs.py`), so no trial ever runs the teacher.
"""

from __future__ import annotations

from pathlib import Path

from autokd.data import DataBundle
from autokd.errors import AutoKDError
from autokd.records.summary import TeacherIdentity
from autokd.runtime.device import Execution
from autokd.runtime.settings import Settings
from autokd.teachers.ensemble import is_ensemble, parse_teacher_spec, prepare_ensemble
from autokd.teachers.prepared import PreparedTeacher
from autokd.teachers.timm import check_timm_name, prepare_timm_teacher


def check_teacher_name(name: str) -> str:
    """A timm model name, or a list of them (`resnet18,resnet34:0.5`, see `ensemble.py`)."""
    if is_ensemble(name):
        for member, _ in parse_teacher_spec(name):
            check_timm_name(member)
        return name
    return check_timm_name(name)


def prepare_teacher(
    name: str,
    data: DataBundle,
    *,
    weights: Path | None = None,
    epochs: int | None = None,  # of training, when it is neither given nor cached
    seed: int = 0,
    pretrained: bool = False,
    progress: bool = True,
    execution: Execution | None = None,
    max_minutes: float | None = None,
    settings: Settings,
) -> PreparedTeacher:
    """The run's teacher: from `weights`, from the cache (`settings.cache_dir`), or trained now
    (once) and cached, when its estimated training fits `max_minutes` (`cost.py`); a comma
    list of names is an ensemble of such teachers."""
    options = dict(epochs=epochs, seed=seed, pretrained=pretrained, progress=progress,
                   execution=execution, max_minutes=max_minutes, settings=settings)  # fmt: skip
    if is_ensemble(name):
        return prepare_ensemble(name, data, weights=weights, **options)
    return prepare_timm_teacher(name, data, weights=weights, **options)


def load_identified_teacher(
    identity: TeacherIdentity,
    data: DataBundle,
    *,
    weights: Path | None = None,
    progress: bool = True,
    execution: Execution | None = None,
    settings: Settings,
) -> PreparedTeacher:
    """The teacher a run or bundle was made with: from `weights`, its recorded checkpoint, or
    trained again with its recorded settings; refused unless its weights' digest matches."""
    recorded = Path(identity.checkpoint) if identity.checkpoint else None
    checkpoint = weights or (recorded if recorded is not None and recorded.is_file() else None)
    teacher = prepare_teacher(
        identity.name,
        data,
        weights=checkpoint,
        epochs=identity.epochs or 1,
        seed=identity.seed,
        pretrained=identity.pretrained,
        progress=progress,
        execution=execution,
        settings=settings,
    )
    if teacher.digest != identity.weights_digest:
        raise AutoKDError(
            f"the {identity.name} teacher found ({teacher.source}, weights {teacher.digest}) "
            f"is not the one the student was searched with (weights {identity.weights_digest}); "
            "pass --teacher-weights PATH with that teacher's checkpoint"
        )
    return teacher
