"""The loss of one batch, summed from the terms a trial's `KDConfig` names:

    (1 - alpha) * cross_entropy(student, labels)
    + alpha * c_logit * logit_term(student, teacher, labels, T)        (T from the schedule)
    + sum over distilled stages s of  w_s * c_feature * feature_term(student_s, teacher_s)

A weight means the same whichever term a trial chooses: it is in units of the *reference* term
of its kind, KD for the logits and FitNets for the features (the terms autokd began with, so a
space that uses only those trains exactly as before: c = 1). Any other term is calibrated: over
the first CALIBRATION_BATCHES training batches the reference is computed beside it (without
gradients; FitNets through its own untrained adapters, as a FitNets trial starts), and
c = (the reference's mean magnitude) / (the term's mean magnitude) on the same batches; c then
stays fixed for the rest of training and is saved with a checkpoint. Which terms exist is
`autokd.distill.terms`'s business; this module only sums them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autokd.distill.config import KDConfig
from autokd.distill.features import FeatureDistiller
from autokd.distill.losses import standardize_logits
from autokd.distill.terms import (
    FEATURES,
    LOGITS,
    NO_FEATURE_TERM,
    get_term,
    temperature_at,
    term_settings,
)

CALIBRATION_BATCHES = 10
REFERENCE = {LOGITS: "kd", FEATURES: "fitnets"}


class _Calibration(nn.Module):
    """Sums of a term's and its reference's magnitudes over the first batches, kept as Python
    floats (no device sync per batch) and saved in the state dict as extra state."""

    def __init__(self) -> None:
        super().__init__()
        self.reference, self.term, self.batches = 0.0, 0.0, 0

    @property
    def open(self) -> bool:
        return self.batches < CALIBRATION_BATCHES

    def add(self, reference: torch.Tensor, term: torch.Tensor) -> None:
        self.reference += abs(float(reference.detach()))
        self.term += abs(float(term.detach()))
        self.batches += 1

    @property
    def factor(self) -> float:
        return self.reference / self.term if self.term > 0 else 1.0

    def get_extra_state(self) -> dict[str, float]:
        return {"reference": self.reference, "term": self.term, "batches": self.batches}

    def set_extra_state(self, state: dict[str, float]) -> None:
        self.reference, self.term = float(state["reference"]), float(state["term"])
        self.batches = int(state["batches"])


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
        self.logit_calibration = None
        if kd.logit_loss != REFERENCE[LOGITS] or kd.standardize:
            self.logit_calibration = _Calibration()
        self.features: FeatureDistiller | None = None
        self.feature_reference: FeatureDistiller | None = None
        self.feature_calibration = None
        if kd.feature_loss != NO_FEATURE_TERM and any(w > 0 for w in kd.feature_weights):
            term = get_term(FEATURES, kd.feature_loss)
            self.features = FeatureDistiller(
                student_channels, teacher_shapes, kd.feature_weights, term,
                term_settings(term, chosen),
            )  # fmt: skip
            if term.name != REFERENCE[FEATURES]:
                self.feature_reference = FeatureDistiller(
                    student_channels, teacher_shapes, kd.feature_weights, REFERENCE[FEATURES]
                ).requires_grad_(False)
                self.feature_calibration = _Calibration()

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
            temperature = self.temperature(progress)
            student, teacher = logits, teacher_logits
            if self.kd.standardize:
                student, teacher = standardize_logits(student), standardize_logits(teacher)
            soft = self.logit_term.loss(
                student, teacher, labels, temperature, **self.logit_settings
            )
            calibration = self.logit_calibration
            if calibration is not None:
                if self.training and calibration.open:
                    with torch.no_grad():
                        reference = get_term(LOGITS, REFERENCE[LOGITS]).loss(
                            logits, teacher_logits, labels, temperature
                        )
                    calibration.add(reference, soft)
                soft = calibration.factor * soft
            loss = alpha * soft + (1.0 - alpha) * hard
        if self.features is not None:
            distilled = self.features(features, teacher_features)
            calibration = self.feature_calibration
            if calibration is not None:
                if self.training and calibration.open:
                    with torch.no_grad():
                        reference = self.feature_reference(features, teacher_features)
                    calibration.add(reference, distilled)
                distilled = calibration.factor * distilled
            loss = loss + distilled
        return loss
