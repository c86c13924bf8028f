"""The loss of one batch, summed from the terms a trial's `KDConfig` names:

    (1 - alpha) * cross_entropy(student, labels)
    + alpha * unit * logit_term(student, teacher, labels, T)           (T from the schedule)
    + sum over distilled stages s of  w_s * unit * feature_term(student_s, teacher_s)

Which terms exist is `autokd.distill.terms`'s business; this module only sums them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autokd.config import KDConfig
from autokd.distill.features import FeatureDistiller
from autokd.distill.losses import standardize_logits
from autokd.distill.terms import (
    FEATURES,
    LOGITS,
    NO_FEATURE_TERM,
    STANDARDIZED_UNIT,
    get_term,
    temperature_at,
    term_settings,
)


class DistillationLoss(nn.Module):
    """One student's distillation objective; holds the feature adapters it trains."""

    def __init__(
        self,
        kd: KDConfig,
        student_channels: list[int],
        teacher_shapes: list[tuple[int, int, int]],
    ) -> None:
        super().__init__()
        self.kd = kd
        chosen = dict(kd.settings)
        self.logit_term = get_term(LOGITS, kd.logit_loss)
        self.logit_settings = term_settings(self.logit_term, chosen)
        self.logit_unit = self.logit_term.unit * (STANDARDIZED_UNIT if kd.standardize else 1.0)
        self.features: FeatureDistiller | None = None
        if kd.feature_loss != NO_FEATURE_TERM and any(w > 0 for w in kd.feature_weights):
            term = get_term(FEATURES, kd.feature_loss)
            self.features = FeatureDistiller(
                student_channels, teacher_shapes, kd.feature_weights, term,
                term_settings(term, chosen),
            )  # fmt: skip

    @property
    def levels(self) -> list[int]:
        """The teacher's feature levels this objective reads (none without a feature term)."""
        return self.features.levels if self.features else []

    def temperature(self, progress: float) -> float:
        kd = self.kd
        return temperature_at(kd.temperature, kd.temperature_end, kd.temperature_schedule, progress)

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        teacher_logits: torch.Tensor,
        *,
        progress: float = 0.0,
        features: list[torch.Tensor] | None = None,
        teacher_features: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        hard = F.cross_entropy(logits, labels)
        alpha = self.kd.alpha
        loss = hard
        if alpha != 0.0:
            student, teacher = logits, teacher_logits
            if self.kd.standardize:
                student, teacher = standardize_logits(student), standardize_logits(teacher)
            soft = self.logit_term.loss(
                student, teacher, labels, self.temperature(progress), **self.logit_settings
            )
            if self.logit_unit != 1.0:
                soft = self.logit_unit * soft
            loss = alpha * soft + (1.0 - alpha) * hard
        if self.features is not None:
            loss = loss + self.features(features, teacher_features)
        return loss
