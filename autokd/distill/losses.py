"""Distillation loss terms as plain functions of tensors.

The total loss of one batch is

    alpha * kd_loss(student, teacher, T) + (1 - alpha) * cross_entropy(student, labels)
    + sum over stages s of  w_s * feature_loss(adapter_s(student_s), teacher_s)

so `alpha` weights the soft-target term and `1 - alpha` the hard labels (Hinton et al., 2015).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(teacher || student) of the softmaxes at temperature T, times T^2, averaged over the batch.

    The T^2 factor keeps the soft term's gradients on the scale of the cross-entropy's as T grows.
    """
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    kl = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def soft_hard_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    *,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """alpha * KD + (1 - alpha) * CE; plain cross-entropy without teacher logits."""
    hard = F.cross_entropy(student_logits, labels)
    if teacher_logits is None or alpha == 0.0:
        return hard
    soft = kd_loss(student_logits, teacher_logits, temperature)
    return alpha * soft + (1.0 - alpha) * hard


def feature_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor) -> torch.Tensor:
    """Mean squared error between an adapted student feature map and the teacher's (FitNets)."""
    return F.mse_loss(student_feature, teacher_feature)
