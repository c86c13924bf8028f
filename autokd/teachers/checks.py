"""Whether a teacher is worth distilling: one no better than a guesser stops the run before any
trial (`check_teacher_beats_chance`), and one its students outgrow earns a warning at the end
(`teacher_behind_note`, shown by the command line and the report alike).

Both judge the teacher by its validation accuracy, the one figure every teacher has (a timm
model or an ensemble: `PreparedTeacher.accuracy`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from autokd.errors import AutoKDError

if TYPE_CHECKING:
    from autokd.teachers.prepared import PreparedTeacher

CHANCE_STANDARD_ERRORS = 2.0  # how far above 1/classes a guesser's luck may carry it
TEACHER_BEHIND_MARGIN = 0.02  # of accuracy: a best student this far above its teacher is a remark


def chance_bound(classes: int, images: int) -> float:
    """The best accuracy a uniform guesser plausibly reaches on `images` validation images:
    chance p = 1/classes plus CHANCE_STANDARD_ERRORS standard errors of its accuracy,
    sqrt(p(1-p)/images). An accuracy at or below it tells nothing the labels did not."""
    p = 1.0 / classes
    return p + CHANCE_STANDARD_ERRORS * math.sqrt(p * (1.0 - p) / images)


def beats_chance(accuracy: float, classes: int, images: int) -> bool:
    return accuracy > chance_bound(classes, images)


def check_teacher_beats_chance(teacher: PreparedTeacher, *, classes: int, images: int) -> None:
    """Refuse a teacher no better than chance on the `images` validation images: its students
    would distil noise, and the search would spend its whole budget on it."""
    if beats_chance(teacher.accuracy, classes, images):
        return
    bound = chance_bound(classes, images)
    raise AutoKDError(
        f"teacher '{teacher.name}' reaches {teacher.accuracy:.4f} validation accuracy, no better "
        f"than chance (1/{classes} = {1 / classes:.4f}; guessing reaches up to {bound:.4f} on "
        f"{images} images): {_chance_causes(teacher.source)}; stopped before any trial"
    )


def _chance_causes(source: str) -> str:
    """What makes a teacher from `source` guess, and what to do about it."""
    if source == "file":
        return (
            "are its weights untrained, or trained on other inputs (ImageNet mean/std, another "
            "input size) or with the classes in another order? pass weights trained on this "
            "data, or leave out --teacher-weights to let autokd train one"
        )
    return (
        "it learned nothing in the epochs it trained; train it longer with --teacher-epochs, "
        "or choose another --teacher"
    )


def teacher_behind_note(
    teacher_name: str, teacher_accuracy: float, best_student_accuracy: float | None
) -> str | None:
    """One sentence when the best student beats its teacher by more than TEACHER_BEHIND_MARGIN
    (the teacher is too weak to teach: its students learned from the labels), else None."""
    if best_student_accuracy is None or not math.isfinite(best_student_accuracy):
        return None
    gap = best_student_accuracy - teacher_accuracy
    if not gap > TEACHER_BEHIND_MARGIN:  # (a NaN teacher accuracy says nothing either)
        return None
    return (
        f"teacher '{teacher_name}' ({teacher_accuracy:.4f}) is {gap:.4f} below its best student "
        f"({best_student_accuracy:.4f}), so the students learned little from it; train it "
        "longer with --teacher-epochs, or give trained weights with --teacher-weights"
    )
