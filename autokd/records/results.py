"""What `autokd validate` stores in a run (`validation.json`), as a type the report reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autokd.records.codec import Codable


@dataclass(frozen=True)
class ValidatedStudent:
    """One student of the front, trained longer with and without distillation (same seed)."""

    trial: int
    architecture: str
    latency_ms: float
    search_accuracy: float
    kd_accuracy: float
    no_kd_accuracy: float
    kd_gain: float  # kd_accuracy - no_kd_accuracy


@dataclass(frozen=True)
class ValidationResult(Codable):
    """Does the search's brief training rank students as longer training does (Kendall tau),
    and does distillation help (the mean KD gain)?"""

    top_k: int
    epochs: int
    students: tuple[ValidatedStudent, ...]
    kendall_tau: float | None  # None: fewer than two students, or all tied
    mean_kd_gain: float
    students_validated: int = 0  # len(students), kept in the file for its readers
    search_epochs: int | None = None
    seed: int = 0
    augment: bool = False
    seconds: float = 0.0
    workers: int = 1
    training: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
