"""Student families, registered by name as timm registers models.

A family is one `StudentFamily` object: its config type (which alone rebuilds a student exactly),
the `student:` keys of a space file and their rules, its sampling, its builder, a one-line
description and the legend of its architecture column. `family: NAME` in a space file picks it;
nothing outside the family's own module knows its shape.

Every student module has `forward(x) -> logits`, `forward_with_features(x) -> (logits, [one map
per stage])` and `feature_channels`: the stage outputs are the taps feature terms distil.
"""

from __future__ import annotations

from autokd.students import cnn, mobile
from autokd.students.registry import (
    FamilySpace,
    StudentFamily,
    StudentSpec,
    build_student,
    count_params,
    get_family,
    list_families,
    register_family,
    student_from_dict,
)

__all__ = [
    "FamilySpace",
    "StudentFamily",
    "StudentSpec",
    "build_student",
    "count_params",
    "get_family",
    "list_families",
    "register_family",
    "student_from_dict",
]

register_family(cnn.FAMILY)
register_family(mobile.FAMILY)
